package models

import (
	"context"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

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
	claims  *group[claimRequest, *DeliveryJob]
	records *group[recordRequest, recordResult]
}

func (s *Store) startDeliveryGroups() {
	s.deliveries = deliveryGroups{
		claims:  newGroup(deliveryWriters, maxDeliveryBatch, s.claimDeliveries),
		records: newGroup(deliveryWriters, maxDeliveryBatch, s.recordAttempts),
	}
}

func (g deliveryGroups) close() {
	g.claims.close()
	g.records.close()
}

// claimRequest asks for one delivery, for hold.
type claimRequest struct {
	id   string
	hold time.Duration
}

// ClaimDelivery takes a pending delivery for one attempt, for at most hold: until then
// no other worker attempts it. It returns nil when the delivery is done, deleted, or
// being attempted elsewhere.
func (s *Store) ClaimDelivery(ctx context.Context, id string, hold time.Duration) (*DeliveryJob, error) {
	if !validUUID(id) {
		return nil, nil
	}
	return s.deliveries.claims.do(ctx, claimRequest{id: id, hold: hold})
}

// claimDeliveries claims a batch of deliveries in one transaction: one UPDATE …
// RETURNING per hold, then their events and destinations in one read each. A delivery asked for twice goes to the
// first asker.
func (s *Store) claimDeliveries(ctx context.Context, reqs []claimRequest) ([]*DeliveryJob, error) {
	now := s.Now()
	byHold := map[time.Duration][]string{}
	for _, r := range reqs {
		byHold[r.hold] = append(byHold[r.hold], r.id)
	}
	claimed := map[string]*DeliveryJob{}
	// One transaction: a batch that fails after its UPDATE leaves no claim behind, so that
	// its deliveries can be claimed again at once, one by one.
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var eventIDs, destIDs []string
		for hold, ids := range byHold {
			var rows []Delivery
			err := tx.Model(&rows).Clauses(clause.Returning{}).
				Where("id IN ? AND state = ? AND (attempting_until IS NULL OR attempting_until < ?)", ids, DeliveryPending, now).
				Updates(map[string]any{"attempting_until": now.Add(hold), "updated_at": now}).Error
			if err != nil {
				return fmt.Errorf("claim deliveries: %w", err)
			}
			for i := range rows {
				claimed[rows[i].ID] = &DeliveryJob{Delivery: rows[i]}
				eventIDs, destIDs = append(eventIDs, rows[i].EventID), append(destIDs, rows[i].DestinationID)
			}
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
	for id, job := range jobs {
		ev, dest := eventByID[job.Delivery.EventID], destByID[job.Delivery.DestinationID]
		if ev == nil || dest == nil {
			delete(jobs, id) // deleted meanwhile (with its entity, or its destination)
			continue
		}
		job.Event, job.Destination = *ev, *dest
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
	res, err := s.deliveries.records.do(ctx, recordRequest{job: job, result: r, policy: p})
	if err != nil {
		return DeliveryDecision{}, err
	}
	return res.dec, res.err
}

// recordAttempts records a batch of attempts in one transaction, in destination order
// (a failure locks its destination's row, so concurrent batches lock in one order).
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
		var attempts []*DeliveryAttempt
		healthy := map[string]string{} // destinations that took an attempt: their application
		for _, i := range order {
			r := reqs[i]
			r.result.Error = storableText(r.result.Error, 2000)
			dec, next, err := decideAttempt(tx, r)
			out[i] = recordResult{dec: dec, err: err}
			if err != nil || r.result.Outcome == webhooks.Skipped {
				continue
			}
			attempts = append(attempts, attemptRow(r.job, r.result, dec.Attempt, tx.Now()))
			if next.Step == webhooks.StepDelivered {
				healthy[r.job.Delivery.DestinationID] = r.job.Destination.ApplicationID
				continue
			}
			if err := s.keepFailureStreak(tx, r.job, next, r.policy); err != nil {
				return err
			}
		}
		if len(attempts) > 0 {
			if err := tx.CreateInBatches(attempts, insertBatchRows).Error; err != nil {
				return fmt.Errorf("log the attempts: %w", err)
			}
		}
		return endFailureStreaks(tx, healthy)
	})
	return out, err
}

// decideAttempt writes what the policy decides of one attempt (its error already made
// storable) into its delivery, if the attempt still holds its claim (ErrClaimLost
// otherwise: one that took too long to record must not overwrite what a later attempt
// recorded).
func decideAttempt(tx *txn, r recordRequest) (DeliveryDecision, webhooks.Next, error) {
	now := tx.Now()
	d := r.job.Delivery
	dec := DeliveryDecision{Attempt: d.Attempts + 1}
	cycle := d.CreatedAt
	if d.CycleStartedAt != nil {
		cycle = *d.CycleStartedAt
	}
	next := r.policy.Next(webhooks.Attempt{Outcome: r.result.Outcome, Number: dec.Attempt, RetryAfter: r.result.RetryAfter,
		At: now, CycleStarted: cycle, Error: r.result.Error})
	updates := map[string]any{"attempts": dec.Attempt, "attempting_until": nil, "updated_at": now, "last_error": next.Error}
	if r.result.Status != 0 {
		updates["last_status"] = r.result.Status
	}
	switch next.Step {
	case webhooks.StepDelivered:
		dec.State = DeliveryDelivered
		updates["delivered_at"] = now
	case webhooks.StepRetry:
		dec.State, dec.RetryIn = DeliveryPending, next.RetryIn
		updates["next_attempt_at"] = now.Add(next.RetryIn)
	default:
		dec.State = DeliveryFailed
	}
	updates["state"] = dec.State
	q := tx.Model(&Delivery{}).Where("id = ? AND state = ?", d.ID, DeliveryPending)
	if d.AttemptingUntil != nil {
		q = q.Where("attempting_until = ?", *d.AttemptingUntil)
	}
	res := q.Updates(updates)
	if res.Error != nil {
		return dec, next, fmt.Errorf("record the delivery's state: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return dec, next, ErrClaimLost
	}
	return dec, next, nil
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
