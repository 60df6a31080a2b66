package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// defaultApplyBatch is how many session events one transaction applies at most, unless
// WithApplyBatch says otherwise.
const defaultApplyBatch = 64

// invalidSessionEvent is the error kept on an inbox item that is no session event.
const invalidSessionEvent = "the stored event is not a valid session event"

// ApplySessionEvent applies the session event stored in inbox item id, once, in one
// transaction under the entity's row lock: it creates the entity when its vendor_data is
// unknown, gathers the facts (the entity's status, the session so far, blocklist hits),
// asks rules.DecideSession what the event records and does, and writes that: the event in
// the session's history and, when it is the latest, as the session's status; the
// counters as a recount of the entity's sessions finds them; features, profile and
// timestamps by upstream time; the automatic transition; the outbox events of everything
// that changed.
//
// The same transaction also applies up to WithApplyBatch-1 other pending session events
// that no other transaction holds and that never failed (their own jobs then find them
// applied): under load, many events share one commit and one multi-row insert per table,
// and each session and entity is written once (session_deferred.go).
// The batch locks its entities up front without waiting (an entity another transaction
// holds is left, with all its events, to a later batch; the item's own then waits for
// it alone), reads their sessions and allowlisting in one statement each, and applies
// each entity's events in upstream-time order. When the batch fails, the item is
// applied alone, so that an event the database refuses fails only its own job.
func (s *Store) ApplySessionEvent(ctx context.Context, id string) (SessionOutcome, error) {
	if s.settled.has(id) {
		return SessionAlreadyApplied, nil // a batch of this process applied it
	}
	settled, err := s.inboxSettled(ctx, id)
	if err != nil || settled {
		return SessionAlreadyApplied, err
	}
	// While another transaction holds the item (in its batch), this job applies other
	// pending events rather than wait, then says the item is busy: its job runs again
	// shortly and finds it applied (or applies it, if that batch failed).
	outcome, err := s.applySessionEvents(ctx, id, max(1, s.applyBatch), false)
	switch {
	case err == nil && outcome == sessionItemElsewhere:
		return "", ErrInboxItemBusy
	case err == nil && outcome != sessionEntityElsewhere:
		return outcome, nil
	case err != nil && (errors.Is(err, ErrUnknownJob) || IsUnavailable(err)):
		return "", err
	}
	// The batch failed (any of its items may be why), or another transaction holds the
	// item's entity: this item alone, waiting for its entity, so that an event the
	// database refuses fails only its own job.
	return s.applySessionEvents(ctx, id, 1, true)
}

// What the first pass of ApplySessionEvent reports when it did not apply the item.
const (
	// sessionItemElsewhere: another transaction holds the item.
	sessionItemElsewhere SessionOutcome = ""
	// sessionEntityElsewhere: another transaction holds the item's entity.
	sessionEntityElsewhere SessionOutcome = "entity held elsewhere"
)

// ErrInboxItemBusy means another transaction holds an inbox item (a batch that applies
// it): the item's job runs again shortly, without counting as a failure.
var ErrInboxItemBusy = errors.New("the inbox item is held by another transaction (a batch that applies it)")

// inboxSettled reports whether inbox item id is applied or failed for good: one read
// without a lock, since a settled item never changes. An unknown id is ErrUnknownJob.
func (s *Store) inboxSettled(ctx context.Context, id string) (bool, error) {
	if !validUUID(id) {
		return false, fmt.Errorf("%q: %w", id, ErrUnknownJob)
	}
	var item InboxItem
	err := s.db.WithContext(ctx).Select("state").Where("id = ?", id).Take(&item).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, fmt.Errorf("%s: %w", id, ErrUnknownJob)
	}
	if err != nil {
		return false, err
	}
	return item.State != InboxPending, nil
}

// queuedSession is a session event read from its locked inbox item.
type queuedSession struct {
	item    *InboxItem
	in      SessionEventInput
	facts   rules.DecisionFacts
	eventAt time.Time
}

// applySessionEvents applies inbox item id and up to limit-1 other pending session
// events in one transaction, and returns what applying id did. Unless wait is set, an
// item another transaction holds is left to it: the batch holds only other events, and
// the outcome is empty.
func (s *Store) applySessionEvents(ctx context.Context, id string, limit int, wait bool) (SessionOutcome, error) {
	var outcome SessionOutcome
	var others []string // the items besides id the transaction settles
	err := s.transaction(ctx, func(tx *txn) error {
		own, items, err := claimBatch(tx, tasks.TypeSessionApply, id, limit, wait)
		if err != nil {
			return err
		}
		if own != nil && own.State != InboxPending {
			outcome = SessionAlreadyApplied
			return nil
		}
		queued, invalid := readSessionEvents(items)
		if invalid[id] {
			outcome = SessionInvalid
		}
		if !wait {
			// No event of this pass waits for an entity: the batch's entities are locked
			// up front, skipping those another transaction holds (and with them all their
			// events, the item's own too, which its waiting pass then applies).
			if tx.batch, err = s.prefetchBatch(tx, queued); err != nil {
				return err
			}
		}
		skipped := map[entityRef]bool{}
		var done []*InboxItem
		for _, q := range queued {
			ref := entityRef{q.item.ApplicationID, entityKey{q.in.Kind, q.in.VendorData}}
			if skipped[ref] {
				continue // a later event of an entity held elsewhere waits with the earlier
			}
			var locked *Entity
			if tx.batch != nil {
				held, e, err := s.batchEntity(tx, ref)
				if err != nil {
					return err
				}
				if held {
					skipped[ref] = true
					if q.item == own {
						outcome = sessionEntityElsewhere
					}
					continue
				}
				locked = e
			}
			done = append(done, q.item)
			o, e, err := s.applyQueuedSession(tx, q, locked)
			if err != nil {
				return fmt.Errorf("apply session %s event: %w", q.in.SessionID, err)
			}
			if tx.batch != nil {
				tx.batch.entities[ref] = e // the next event of e starts from what this one wrote
			}
			if q.item == own {
				outcome = o
			}
		}
		others, err = finishBatch(tx, id, items, done, invalid, invalidSessionEvent)
		return err
	})
	if err == nil {
		s.settled.add(others)
	}
	return outcome, err
}

// batchEntity returns the entity of ref that this batch holds, or reports that another
// transaction holds it or is creating it (PostgreSQL; SQLite's one writer holds every
// lock). When there was no live entity of ref and none is being created, it returns nil
// holding the lock of its vendor_data: applying the event creates it.
func (s *Store) batchEntity(tx *txn, ref entityRef) (bool, *Entity, error) {
	r := tx.batch
	if e := r.entities[ref]; e != nil {
		return false, e, nil
	}
	if s.dialect != Postgres || r.vendorLocked[ref] {
		return false, nil, nil
	}
	if r.live[ref] {
		return true, nil, nil // live, and not locked up front: another transaction holds it
	}
	// No live entity: another transaction may be creating it (under its vendor_data
	// lock, which creating it here would wait for).
	free, err := s.tryLockVendorData(tx, ref.appID, ref.Kind, ref.VendorData)
	r.vendorLocked[ref] = free
	return !free, nil, err
}

// readSessionEvents reads the events of locked inbox items, in the order they are
// applied: by application and entity (the byte order lockOrCreateEntities locks in),
// then by upstream time and arrival. It names the items that hold no valid event.
func readSessionEvents(items []*InboxItem) ([]*queuedSession, map[string]bool) {
	var queued []*queuedSession
	invalid := map[string]bool{}
	for _, item := range items {
		q := &queuedSession{item: item}
		err := json.Unmarshal([]byte(item.Payload), &q.in)
		facts, problems := rules.ReadDecision(q.in.Kind, q.in.Decision)
		q.facts = facts
		if err != nil || len(problems) > 0 || !ValidKind(q.in.Kind) || !rules.ValidSessionStatus(q.in.Status) {
			invalid[item.ID] = true
			continue
		}
		q.eventAt = time.Unix(q.in.Timestamp, 0).UTC()
		queued = append(queued, q)
	}
	sort.SliceStable(queued, func(i, j int) bool {
		a, b := queued[i], queued[j]
		switch {
		case a.item.ApplicationID != b.item.ApplicationID:
			return a.item.ApplicationID < b.item.ApplicationID
		case a.in.Kind != b.in.Kind:
			return a.in.Kind < b.in.Kind
		case a.in.VendorData != b.in.VendorData:
			return a.in.VendorData < b.in.VendorData
		case !a.eventAt.Equal(b.eventAt):
			return a.eventAt.Before(b.eventAt)
		}
		return a.item.CreatedAt.Before(b.item.CreatedAt)
	})
	return queued, invalid
}

// applyQueuedSession applies one event of a batch under its entity's lock: e, when the
// caller already locked it, or the entity it locks (or creates) now. It returns the
// entity as the event left it.
func (s *Store) applyQueuedSession(tx *txn, q *queuedSession, e *Entity) (SessionOutcome, *Entity, error) {
	app, err := tx.application(q.item.ApplicationID)
	if err != nil {
		return "", nil, err
	}
	// Each event's changes are timed after its own entity's lock.
	tx.resetClock()
	if e == nil {
		var created bool
		// The event saves the entity it creates (sessionApply.run ends with the save).
		if e, created, err = s.lockOrCreateEntity(tx, app.ID, "session", q.eventAt, entityKey{q.in.Kind, q.in.VendorData}, false); err != nil {
			return "", nil, err
		}
		if created {
			tx.batch.entityCreated(e)
		}
	}
	a := sessionApply{tx: tx, app: app, in: q.in, facts: q.facts, eventAt: q.eventAt, inboxID: q.item.ID}
	outcome, err := a.run(e)
	return outcome, e, err
}

// claimBatch locks inbox item id (unless wait, only when no other transaction holds it:
// own is then nil) and up to limit-1 other pending items of taskType (limit when own is
// nil: the batch is of other items only), and returns own and the pending items of the
// batch, own first. An own item that is settled already is returned alone.
func claimBatch(tx *txn, taskType, id string, limit int, wait bool) (own *InboxItem, items []*InboxItem, err error) {
	lock := tryLockInboxItem
	if wait {
		lock = lockInboxItem
	}
	if own, err = lock(tx, id); err != nil {
		return nil, nil, err
	}
	switch {
	case own == nil:
		limit++
	case own.State != InboxPending:
		return own, nil, nil
	default:
		items = append(items, own)
	}
	if limit > 1 {
		more, err := claimPendingInbox(tx, taskType, id, limit-1)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, more...)
	}
	return own, items, nil
}

// finishBatch marks a batch's done items applied and its invalid ones failed with
// failure, and returns the ids besides id it settled.
func finishBatch(tx *txn, id string, items, done []*InboxItem, invalid map[string]bool, failure string) ([]string, error) {
	for _, item := range items {
		if invalid[item.ID] {
			done = append(done, item)
		}
	}
	var others []string
	for _, item := range done {
		if item.ID != id {
			others = append(others, item.ID)
		}
	}
	return others, finishInboxItems(tx, done, invalid, failure)
}

// claimPendingInbox locks up to n pending items of taskType besides except that no other
// transaction holds and that never failed (an item that failed is retried on its own),
// oldest first.
func claimPendingInbox(tx *txn, taskType, except string, n int) ([]*InboxItem, error) {
	var items []*InboxItem
	err := skipLocked(tx.DB).
		Where("state = ? AND attempts = 0 AND task_type = ? AND id <> ?", InboxPending, taskType, except).
		Order("created_at").Limit(n).Find(&items).Error
	if err != nil {
		return nil, fmt.Errorf("claim pending %s jobs: %w", taskType, err)
	}
	return items, nil
}

// finishInboxItems marks locked items applied, or failed with failure for those named
// in failed, in one statement per outcome.
func finishInboxItems(tx *txn, items []*InboxItem, failed map[string]bool, failure string) error {
	now := tx.Now()
	var applied, refused []string
	for _, item := range items {
		item.State, item.AppliedAt, item.LastError = InboxApplied, &now, ""
		if failed[item.ID] {
			item.State, item.LastError = InboxFailed, failure
			refused = append(refused, item.ID)
			continue
		}
		applied = append(applied, item.ID)
	}
	for _, set := range []struct {
		ids          []string
		state, error string
	}{{applied, InboxApplied, ""}, {refused, InboxFailed, failure}} {
		if len(set.ids) == 0 {
			continue
		}
		err := tx.Model(&InboxItem{}).Where("id IN ?", set.ids).Updates(map[string]any{
			"state": set.state, "applied_at": now, "last_error": set.error, "attempts": gorm.Expr("attempts + 1"),
		}).Error
		if err != nil {
			return fmt.Errorf("mark jobs %s: %w", set.state, err)
		}
	}
	return nil
}
