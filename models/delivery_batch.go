package models

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/internal/group"
	"github.com/standinghq/standing/webhooks"
)

// Delivery claims and attempt records are written in groups (group.go): the concurrent
// attempts of a work process share one UPDATE … RETURNING to claim their deliveries and
// one transaction (a multi-row insert into the delivery log, one commit) to record what
// became of them, while their HTTP requests run concurrently.
const (
	// deliveryWriters is how many claim (and record) batches may be written at once.
	deliveryWriters = 4
	// maxDeliveryBatch bounds the deliveries of one claim or record batch.
	maxDeliveryBatch = 64
)

// deliveryGroups are the store's claim and record groups.
type deliveryGroups struct {
	claims  *group.Group[claimRequest, *DeliveryJob]
	records *group.Group[recordRequest, recordResult]
}

func (s *Store) startDeliveryGroups() {
	s.deliveries = deliveryGroups{
		claims:  group.New(deliveryWriters, maxDeliveryBatch, s.claimDeliveries),
		records: group.New(deliveryWriters, maxDeliveryBatch, s.recordAttempts),
	}
}

func (g deliveryGroups) close() {
	g.claims.Close()
	g.records.Close()
}

// claimRequest asks for one delivery, for hold; firstOnly asks for it only if no attempt
// was made at it yet.
type claimRequest struct {
	id string
	claimKind
}

// claimKind is what requests of one claim statement share.
type claimKind struct {
	hold      time.Duration
	firstOnly bool
}

// ClaimDelivery takes a pending delivery for one attempt, for at most hold: until then
// no other worker attempts it. It returns nil when the delivery is done, deleted, or
// being attempted elsewhere.
func (s *Store) ClaimDelivery(ctx context.Context, id string, hold time.Duration) (*DeliveryJob, error) {
	if !validUUID(id) {
		return nil, nil
	}
	return s.deliveries.claims.Do(ctx, claimRequest{id, claimKind{hold: hold}})
}

// ClaimFirstAttempt is ClaimDelivery for a first attempt: nil also when an attempt was
// made already (by a batch job; the next attempt is its retry job's, at its time).
func (s *Store) ClaimFirstAttempt(ctx context.Context, id string, hold time.Duration) (*DeliveryJob, error) {
	if !validUUID(id) {
		return nil, nil
	}
	return s.deliveries.claims.Do(ctx, claimRequest{id, claimKind{hold: hold, firstOnly: true}})
}

// ClaimFirstAttempts claims, for one attempt each and for at most hold, those of the
// deliveries ids that no attempt was made at yet, in one transaction. The jobs are in the
// order of ids, nil where a delivery is done, deleted, being attempted elsewhere or
// already attempted (its next attempt is its own job's, at its own time).
func (s *Store) ClaimFirstAttempts(ctx context.Context, ids []string, hold time.Duration) ([]*DeliveryJob, error) {
	return s.firstAttempts(ctx, ids, hold, time.Time{})
}

// firstAttempts is ClaimFirstAttempts that takes the deliveries takeDeliveries takes
// without a claim.
func (s *Store) firstAttempts(ctx context.Context, ids []string, hold time.Duration, unclaimedAfter time.Time) ([]*DeliveryJob, error) {
	var reqs []claimRequest
	var at []int // the position in ids of each request
	for i, id := range ids {
		if validUUID(id) {
			reqs, at = append(reqs, claimRequest{id, claimKind{hold: hold, firstOnly: true}}), append(at, i)
		}
	}
	jobs := make([]*DeliveryJob, len(ids))
	if len(reqs) == 0 {
		return jobs, nil
	}
	claimed, err := s.takeDeliveries(ctx, reqs, unclaimedAfter) // in the order of reqs
	if err != nil {
		return nil, err
	}
	for k, job := range claimed {
		jobs[at[k]] = job
	}
	return jobs, nil
}

// TakeFirstAttempts is ClaimFirstAttempts for a batch job whose attempts end within
// within, in a process whose relay offers a delivery again only relayAfter after it was
// enqueued and due (STANDING_RELAY_AFTER; 0: never takes without a claim): a delivery
// that is neither claimed nor attempted, and that no relay can offer before now+within,
// is taken without a claim, which spares writing a version of its row between its
// insert and its record; the others are claimed for hold. A job taken so has no
// AttemptingUntil, and its record writes only while nobody claimed or attempted the
// delivery since (ErrClaimLost otherwise). Nothing else takes a pending delivery that
// was never attempted: a resend refuses pending deliveries, and the relay offers none
// before its time.
func (s *Store) TakeFirstAttempts(ctx context.Context, ids []string, hold, within, relayAfter time.Duration) ([]*DeliveryJob, error) {
	var unclaimedAfter time.Time
	if relayAfter > within {
		unclaimedAfter = s.Now().Add(within - relayAfter)
	}
	return s.firstAttempts(ctx, ids, hold, unclaimedAfter)
}

// claimDeliveries claims a batch of deliveries in one transaction (the claim group's
// write, and a batch job's claim): one UPDATE … RETURNING per kind of request, then
// their events and destinations in one read each. A delivery asked for twice goes to the
// first asker.
func (s *Store) claimDeliveries(ctx context.Context, reqs []claimRequest) ([]*DeliveryJob, error) {
	return s.takeDeliveries(ctx, reqs, time.Time{})
}

// takeDeliveries is claimDeliveries that first takes, without a claim, the deliveries
// of reqs never attempted nor claimed, enqueued and due after unclaimedAfter (none when
// it is zero).
func (s *Store) takeDeliveries(ctx context.Context, reqs []claimRequest, unclaimedAfter time.Time) ([]*DeliveryJob, error) {
	now := s.Now()
	byKind := map[claimKind][]string{}
	for _, r := range reqs {
		byKind[r.claimKind] = append(byKind[r.claimKind], r.id)
	}
	claimed := map[string]*DeliveryJob{}
	// One transaction: a batch that fails after its UPDATE leaves no claim behind, so that
	// its deliveries can be claimed again at once, one by one.
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var eventIDs, destIDs []string
		take := func(rows []Delivery) {
			for i := range rows {
				claimed[rows[i].ID] = &DeliveryJob{Delivery: rows[i]}
				eventIDs, destIDs = append(eventIDs, rows[i].EventID), append(destIDs, rows[i].DestinationID)
			}
		}
		if !unclaimedAfter.IsZero() {
			ids := make([]string, len(reqs))
			for i, r := range reqs {
				ids[i] = r.id
			}
			var rows []Delivery
			err := tx.Where("id IN ? AND state = ? AND attempts = 0 AND attempting_until IS NULL AND enqueued_at > ? AND next_attempt_at > ?",
				ids, DeliveryPending, unclaimedAfter, unclaimedAfter).Find(&rows).Error
			if err != nil {
				return fmt.Errorf("read deliveries: %w", err)
			}
			take(rows)
		}
		for kind, ids := range byKind {
			ids = slices.DeleteFunc(ids, func(id string) bool { return claimed[id] != nil })
			if len(ids) == 0 {
				continue
			}
			var rows []Delivery
			q := tx.Model(&rows).Clauses(clause.Returning{}).
				Where("id IN ? AND state = ? AND (attempting_until IS NULL OR attempting_until < ?)", ids, DeliveryPending, now)
			if kind.firstOnly {
				q = q.Where("attempts = 0")
			}
			err := q.Updates(map[string]any{"attempting_until": now.Add(kind.hold), "updated_at": now}).Error
			if err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
			take(rows)
		}
		if len(claimed) == 0 {
			return nil
		}
		return completeJobs(tx, claimed, eventIDs, destIDs)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*DeliveryJob, len(reqs))
	for i, r := range reqs {
		out[i] = claimed[r.id]
		delete(claimed, r.id)
	}
	return out, nil
}

// completeJobs reads the events and destinations of claimed deliveries.
func completeJobs(db *gorm.DB, jobs map[string]*DeliveryJob, eventIDs, destIDs []string) error {
	var events []OutboxEvent
	if err := db.Where("id IN ?", eventIDs).Find(&events).Error; err != nil {
		return fmt.Errorf("read the events of deliveries: %w", err)
	}
	var dests []Destination
	if err := db.Where("id IN ?", destIDs).Find(&dests).Error; err != nil {
		return fmt.Errorf("read the destinations of deliveries: %w", err)
	}
	eventByID := make(map[string]*OutboxEvent, len(events))
	for i := range events {
		eventByID[events[i].ID] = &events[i]
	}
	destByID := make(map[string]*Destination, len(dests))
	for i := range dests {
		destByID[dests[i].ID] = &dests[i]
	}
	var orphaned []string
	for id, job := range jobs {
		ev, dest := eventByID[job.Delivery.EventID], destByID[job.Delivery.DestinationID]
		if dest == nil {
			// Its destination was deleted, after (or while) the batch that made it read
			// the destinations: no key cascades from a destination (migration 00017), so
			// it goes now, as DeleteDestination's own would have.
			orphaned = append(orphaned, id)
		}
		if ev == nil || dest == nil {
			delete(jobs, id) // deleted meanwhile (with its entity, or its destination)
			continue
		}
		job.Event, job.Destination = *ev, *dest
	}
	if len(orphaned) > 0 {
		if err := db.Where("id IN ?", orphaned).Delete(&Delivery{}).Error; err != nil {
			return fmt.Errorf("delete deliveries of deleted destinations: %w", err)
		}
	}
	return nil
}

// recordRequest is one attempt to record.
type recordRequest struct {
	job    *DeliveryJob
	result AttemptResult
	policy webhooks.Policy
}

// recordResult is what became of one delivery; err is ErrClaimLost when the attempt's
// claim was taken over.
type recordResult struct {
	dec DeliveryDecision
	err error
}

// RecordAttempt records an attempt in the delivery log and, in the same transaction,
// what the delivery policy decides of it (webhooks.Policy.Next: delivered, retried
// later, or failed for good). It keeps the destination's failure streak, and disables a
// destination the policy says to (410, or failing for DisableAfter), announcing it with
// destination.disabled to the application's other destinations. Concurrent attempts'
// records share a transaction.
func (s *Store) RecordAttempt(ctx context.Context, job *DeliveryJob, r AttemptResult, p webhooks.Policy) (DeliveryDecision, error) {
	res, err := s.deliveries.records.Do(ctx, recordRequest{job: job, result: r, policy: p})
	if err != nil {
		return DeliveryDecision{}, err
	}
	return res.dec, res.err
}

// AttemptRecord is one attempt for RecordAttempts: the claimed job and its result.
type AttemptRecord struct {
	Job    *DeliveryJob
	Result AttemptResult
}

// RecordedAttempt is what RecordAttempts made of one attempt: the decision, or Err
// (ErrClaimLost when the attempt's claim was taken over; it was not recorded).
type RecordedAttempt struct {
	Decision DeliveryDecision
	Err      error
}

// RecordAttempts records attempts as RecordAttempt does, all in one transaction, and
// returns what became of each, in order.
func (s *Store) RecordAttempts(ctx context.Context, records []AttemptRecord, p webhooks.Policy) ([]RecordedAttempt, error) {
	reqs := make([]recordRequest, len(records))
	for i, r := range records {
		reqs[i] = recordRequest{job: r.Job, result: r.Result, policy: p}
	}
	results, err := s.recordAttempts(ctx, reqs)
	if err != nil {
		return nil, err
	}
	out := make([]RecordedAttempt, len(results))
	for i, r := range results {
		out[i] = RecordedAttempt{Decision: r.dec, Err: r.err}
	}
	return out, nil
}

// recordAttempts records a batch of attempts in one transaction, in destination order
// (a failure locks its destination's row, so concurrent batches lock in one order): the
// policy decides each attempt, one statement writes every decision into its delivery,
// one multi-row insert logs the attempts, then the destinations' failure streaks are
// kept.
func (s *Store) recordAttempts(ctx context.Context, reqs []recordRequest) ([]recordResult, error) {
	order := make([]int, len(reqs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := reqs[order[a]].job.Delivery, reqs[order[b]].job.Delivery
		return x.DestinationID < y.DestinationID || (x.DestinationID == y.DestinationID && x.ID < y.ID)
	})
	var out []recordResult
	err := s.transaction(ctx, func(tx *txn) error {
		out = make([]recordResult, len(reqs))
		decided := make([]decidedAttempt, 0, len(reqs))
		for _, i := range order {
			r := &reqs[i]
			r.result.Error = storableText(r.result.Error, 2000)
			decided = append(decided, decideAttempt(r, tx.Now()))
		}
		held, err := writeDecisions(tx, decided)
		if err != nil {
			return err
		}
		var attempts []*DeliveryAttempt
		healthy := map[string]string{} // destinations that took an attempt: their application
		for k, i := range order {
			r, d := reqs[i], decided[k]
			out[i] = recordResult{dec: d.dec}
			if !held[k] {
				out[i].err = ErrClaimLost
				continue
			}
			if r.result.Outcome == webhooks.Skipped {
				continue
			}
			attempts = append(attempts, attemptRow(r.job, r.result, d.dec.Attempt, tx.Now()))
			if d.next.Step == webhooks.StepDelivered {
				healthy[r.job.Delivery.DestinationID] = r.job.Destination.ApplicationID
				continue
			}
			if err := s.keepFailureStreak(tx, r.job, d.next, r.policy); err != nil {
				return err
			}
		}
		if err := logAttempts(tx, attempts); err != nil {
			return fmt.Errorf("log the attempts: %w", err)
		}
		return endFailureStreaks(tx, healthy)
	})
	return out, err
}

// logAttempts writes attempts into the delivery log: with COPY on PostgreSQL, a
// multi-row insert on SQLite.
func logAttempts(tx *txn, attempts []*DeliveryAttempt) error {
	switch {
	case len(attempts) == 0:
		return nil
	case tx.canCopy():
		return tx.copyRows("delivery_attempts", attemptColumns, attemptRows(attempts, tx.Now()))
	}
	return tx.CreateInBatches(attempts, insertBatchRows).Error
}

// decidedAttempt is what the policy decided of one attempt, and the delivery's columns
// that record it.
type decidedAttempt struct {
	dec  DeliveryDecision
	next webhooks.Next
	// id and claimedUntil name the delivery and the claim the attempt held.
	id           string
	claimedUntil *time.Time
	// status is the response's status (nil: none); deliveredAt and nextAttemptAt are set
	// when the decision sets them.
	status        *int
	deliveredAt   *time.Time
	nextAttemptAt *time.Time
}

// decideAttempt asks the policy what follows one attempt (its error already made
// storable), at now.
func decideAttempt(r *recordRequest, now time.Time) decidedAttempt {
	d := r.job.Delivery
	out := decidedAttempt{dec: DeliveryDecision{Attempt: d.Attempts + 1}, id: d.ID, claimedUntil: d.AttemptingUntil}
	cycle := d.CreatedAt
	if d.CycleStartedAt != nil {
		cycle = *d.CycleStartedAt
	}
	out.next = r.policy.Next(webhooks.Attempt{Outcome: r.result.Outcome, Number: out.dec.Attempt,
		RetryAfter: r.result.RetryAfter, At: now, CycleStarted: cycle, Error: r.result.Error})
	if r.result.Status != 0 {
		status := r.result.Status
		out.status = &status
	}
	switch out.next.Step {
	case webhooks.StepDelivered:
		out.dec.State = DeliveryDelivered
		out.deliveredAt = &now
	case webhooks.StepRetry:
		out.dec.State, out.dec.RetryIn = DeliveryPending, out.next.RetryIn
		at := now.Add(out.next.RetryIn)
		out.nextAttemptAt = &at
	default:
		out.dec.State = DeliveryFailed
	}
	return out
}

// writeDecisions writes decisions into their deliveries where the attempt still holds
// its claim (an attempt taken without a claim: where nobody claimed or attempted the
// delivery since), and reports, for each, whether it did: one that took too long to
// record must not overwrite what a later attempt recorded (ErrClaimLost), even when both
// are in the batch. On PostgreSQL it is one statement for the batch.
func writeDecisions(tx *txn, decided []decidedAttempt) ([]bool, error) {
	held := make([]bool, len(decided))
	if len(decided) == 0 {
		return held, nil
	}
	if tx.store.dialect != Postgres {
		for i, d := range decided {
			ok, err := writeDecision(tx, d)
			if err != nil {
				return nil, err
			}
			held[i] = ok
		}
		return held, nil
	}
	now := tx.Now()
	var sql strings.Builder
	sql.WriteString(`UPDATE deliveries AS d SET attempts = v.column3, attempting_until = NULL, updated_at = ?,
		state = v.column4, last_error = v.column5, last_status = COALESCE(v.column6, d.last_status),
		delivered_at = COALESCE(v.column7, d.delivered_at), next_attempt_at = COALESCE(v.column8, d.next_attempt_at)
		FROM (VALUES `)
	args := []any{now}
	for i, d := range decided {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString(`(CAST(? AS uuid), CAST(? AS timestamptz), CAST(? AS integer), CAST(? AS text), CAST(? AS text),
			CAST(? AS integer), CAST(? AS timestamptz), CAST(? AS timestamptz))`)
		args = append(args, d.id, d.claimedUntil, d.dec.Attempt, d.dec.State, d.next.Error, d.status, d.deliveredAt, d.nextAttemptAt)
	}
	sql.WriteString(`) AS v WHERE d.id = v.column1 AND d.state = ?
		AND (d.attempting_until = v.column2 OR (v.column2 IS NULL AND d.attempting_until IS NULL AND d.attempts = v.column3 - 1))
		RETURNING d.id, v.column2 AS claimed_until`)
	args = append(args, DeliveryPending)
	var written []struct {
		ID           string
		ClaimedUntil *time.Time
	}
	if err := tx.Raw(sql.String(), args...).Find(&written).Error; err != nil {
		return nil, fmt.Errorf("record the deliveries' states: %w", err)
	}
	for i, d := range decided {
		for _, w := range written {
			if w.ID == d.id && sameClaim(w.ClaimedUntil, d.claimedUntil) {
				held[i] = true
			}
		}
	}
	return held, nil
}

// sameClaim reports whether two claims' ends are the same (both none, or equal).
func sameClaim(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// writeDecision writes one decision, as writeDecisions does, and reports whether the
// attempt still held its claim.
func writeDecision(tx *txn, d decidedAttempt) (bool, error) {
	updates := map[string]any{"attempts": d.dec.Attempt, "attempting_until": nil, "updated_at": tx.Now(),
		"last_error": d.next.Error, "state": d.dec.State}
	if d.status != nil {
		updates["last_status"] = *d.status
	}
	if d.deliveredAt != nil {
		updates["delivered_at"] = *d.deliveredAt
	}
	if d.nextAttemptAt != nil {
		updates["next_attempt_at"] = *d.nextAttemptAt
	}
	q := tx.Model(&Delivery{}).Where("id = ? AND state = ?", d.id, DeliveryPending)
	if d.claimedUntil != nil {
		q = q.Where("attempting_until = ?", *d.claimedUntil)
	} else {
		q = q.Where("attempting_until IS NULL AND attempts = ?", d.dec.Attempt-1)
	}
	res := q.Updates(updates)
	if res.Error != nil {
		return false, fmt.Errorf("record the delivery's state: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// attemptRow is the delivery log's row of an attempt.
func attemptRow(job *DeliveryJob, r AttemptResult, number int, now time.Time) *DeliveryAttempt {
	d := job.Delivery
	attempt := &DeliveryAttempt{
		ID: newID(), DeliveryID: d.ID, DestinationID: d.DestinationID, EventID: d.EventID,
		WebhookType: job.Event.Type, Attempt: number, RequestURL: r.RequestURL,
		RequestHeaders: r.RequestHeaders, ResponseBody: storableText(r.ResponseBody, maxStoredBody),
		ResponseTimeMs: int(r.Duration.Milliseconds()), Error: r.Error, CreatedAt: now,
	}
	if attempt.RequestHeaders == nil {
		attempt.RequestHeaders = map[string]string{} // gorm writes a nil map as "" into a NOT NULL JSON column
	}
	if r.Status != 0 {
		status := r.Status
		attempt.ResponseStatus = &status
	}
	return attempt
}

// endFailureStreaks ends the failure streak of destinations that took an attempt (a
// success ends it). The update locks a destination only when there is a streak to end:
// deliveries to a healthy destination do not queue behind each other's commits on its
// row.
func endFailureStreaks(tx *txn, healthy map[string]string) error {
	ids := make([]string, 0, len(healthy))
	for id := range healthy {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		err := tx.Model(&Destination{}).Where("application_id = ? AND id = ? AND failing_since IS NOT NULL", healthy[id], id).
			Update("failing_since", nil).Error
		if err != nil {
			return fmt.Errorf("end the failure streak of destination %s: %w", id, err)
		}
	}
	return nil
}
