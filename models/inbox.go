package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
)

// Inbox states.
const (
	InboxPending = "pending"
	InboxApplied = "applied"
	InboxFailed  = "failed"
)

// InboxItem is one acknowledged request that a worker applies later (a status change, a
// session event). It is committed before the request is answered, so nothing acknowledged
// is lost when the queue is; its id is the task id of the job that applies it.
type InboxItem struct {
	ID            string `gorm:"primaryKey"`
	ApplicationID string `gorm:"not null"`
	TaskType      string `gorm:"not null"`
	DedupKey      *string
	Payload       string    `gorm:"type:jsonb;not null"`
	State         string    `gorm:"not null"`
	Attempts      int       `gorm:"not null"`
	LastError     string    `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
	EnqueuedAt    time.Time `gorm:"not null"`
	AppliedAt     *time.Time
}

// TableName is the table of the inbox.
func (InboxItem) TableName() string { return "inbox" }

// JobResource is the JSON shape of an inbox item seen as a job.
type JobResource struct {
	JobID     string  `json:"job_id"`
	Type      string  `json:"type"`
	State     string  `json:"state"`
	Attempts  int     `json:"attempts"`
	LastError string  `json:"last_error"`
	CreatedAt string  `json:"created_at"`
	AppliedAt *string `json:"applied_at"`
}

// Resource returns the item's JSON shape.
func (i *InboxItem) Resource() JobResource {
	return JobResource{
		JobID: i.ID, Type: i.TaskType, State: i.State, Attempts: i.Attempts,
		LastError: i.LastError, CreatedAt: FormatTime(i.CreatedAt), AppliedAt: FormatTimePtr(i.AppliedAt),
	}
}

// InboxItem returns one inbox item of an application.
func (s *Store) InboxItem(ctx context.Context, appID, id string) (*InboxItem, error) {
	if !validUUID(id) {
		return nil, errNotFound("job")
	}
	var item InboxItem
	if err := s.db.WithContext(ctx).Where("application_id = ? AND id = ?", appID, id).Take(&item).Error; err != nil {
		return nil, notFound(err, "job")
	}
	return &item, nil
}

func newInboxItem(appID, taskType string, payload any, now time.Time) (*InboxItem, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return &InboxItem{
		ID:            newID(),
		ApplicationID: appID,
		TaskType:      taskType,
		Payload:       string(b),
		State:         InboxPending,
		CreatedAt:     now,
		EnqueuedAt:    now,
	}, nil
}

// ErrUnknownJob means a job names an inbox item that does not exist; running it again
// cannot help. It is a NotFound error.
var ErrUnknownJob error = &Error{Kind: NotFound, Msg: "no such inbox item"}

// lockInboxItem locks an inbox item for the rest of the transaction, waiting for
// another transaction that holds it.
func lockInboxItem(tx *txn, id string) (*InboxItem, error) {
	item, err := takeInboxItem(forUpdate(tx), id)
	if err == nil && item == nil {
		return nil, fmt.Errorf("%s: %w", id, ErrUnknownJob)
	}
	return item, err
}

// tryLockInboxItem locks an inbox item as lockInboxItem does, unless another
// transaction holds it (or it does not exist): then it returns nil without waiting.
func tryLockInboxItem(tx *txn, id string) (*InboxItem, error) {
	return takeInboxItem(skipLocked(tx.DB), id)
}

// takeInboxItem reads inbox item id through q (a locking query), nil if none.
func takeInboxItem(q *gorm.DB, id string) (*InboxItem, error) {
	if !validUUID(id) {
		return nil, fmt.Errorf("%q: %w", id, ErrUnknownJob)
	}
	var items []InboxItem
	if err := q.Where("id = ?", id).Limit(1).Find(&items).Error; err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, nil
	}
	return &items[0], nil
}

// finishInboxItem marks a locked item applied, or failed with a reason.
func finishInboxItem(tx *txn, item *InboxItem, failure string) error {
	return finishInboxItems(tx, []*InboxItem{item}, map[string]bool{item.ID: failure != ""}, failure)
}

// PendingInboxItems returns those of ids that are still pending, oldest first: the
// items of a group job that its first item's batch did not settle. Items a batch of
// this process settled are known without a read; ids that are not inbox items are left
// out.
func (s *Store) PendingInboxItems(ctx context.Context, ids []string) ([]string, error) {
	var unknown []string
	for _, id := range ids {
		if !s.settled.has(id) && validUUID(id) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) == 0 {
		return nil, nil
	}
	var pending []string
	err := s.db.WithContext(ctx).Model(&InboxItem{}).Where("id IN ? AND state = ?", unknown, InboxPending).
		Order("created_at").Pluck("id", &pending).Error
	if err != nil {
		return nil, fmt.Errorf("read pending inbox items: %w", err)
	}
	return pending, nil
}

// RecordInboxFailure counts a failed attempt at a pending item and keeps its error, for
// operators; the queue retries the job.
func (s *Store) RecordInboxFailure(ctx context.Context, id string, cause error) error {
	if !validUUID(id) {
		return nil
	}
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	return s.db.WithContext(ctx).Model(&InboxItem{}).
		Where("id = ? AND state = ?", id, InboxPending).
		Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "last_error": msg}).Error
}

// ClaimStaleInbox returns up to limit pending items last enqueued more than olderThan ago,
// and marks them enqueued now, so that concurrent relays do not take the same items and
// an item is offered again only after another olderThan.
func (s *Store) ClaimStaleInbox(ctx context.Context, olderThan time.Duration, limit int) ([]InboxItem, error) {
	var items []InboxItem
	err := s.transaction(ctx, func(tx *txn) error {
		now := s.Now()
		err := tx.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("state = ? AND enqueued_at <= ?", InboxPending, now.Add(-olderThan)).
			Order("enqueued_at").Limit(limit).Find(&items).Error
		if err != nil || len(items) == 0 {
			return err
		}
		ids := make([]string, len(items))
		for i := range items {
			ids[i] = items[i].ID
		}
		return tx.Model(&InboxItem{}).Where("id IN ?", ids).Update("enqueued_at", now).Error
	})
	return items, err
}

// StatusRequest is a status change waiting in the inbox: manual (any status to any
// status) or automatic (a rule's, which only ever raises a status).
type StatusRequest struct {
	EntityID  string `json:"entity_id"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	Actor     string `json:"actor"`
	Automatic bool   `json:"automatic,omitempty"`
	Rule      string `json:"rule,omitempty"`
	// Inputs are the facts that caused an automatic request (the list entry), written
	// into the audit record.
	Inputs map[string]any `json:"inputs,omitempty"`
}

// RequestStatusChange stores a status change of the live entity with vendorData in the
// inbox, to be applied by a worker through a status:apply job, and returns the item.
func (s *Store) RequestStatusChange(ctx context.Context, appID, kind, vendorData string, req StatusRequest) (*InboxItem, error) {
	var item *InboxItem
	err := s.transaction(ctx, func(tx *txn) error {
		var e Entity
		err := tx.Select("id").
			Where("application_id = ? AND kind = ? AND vendor_data = ? AND deleted_at IS NULL", appID, kind, vendorData).
			Take(&e).Error
		if err != nil {
			return notFound(err, kind)
		}
		req.EntityID = e.ID
		item, err = newInboxItem(appID, tasks.TypeStatusApply, req, tx.Now())
		if err != nil {
			return err
		}
		return tx.addInbox(item)
	})
	return item, err
}

// StatusOutcome says what applying a status change did.
type StatusOutcome string

// The outcomes of ApplyStatusChange.
const (
	// StatusChanged: the entity moved to the new status.
	StatusChanged StatusOutcome = "changed"
	// StatusUnchanged: the entity already had the status; nothing was written.
	StatusUnchanged StatusOutcome = "unchanged"
	// StatusAlreadyApplied: the item was applied (or failed) before; a duplicate job.
	StatusAlreadyApplied StatusOutcome = "already_applied"
	// StatusEntityGone: the entity was deleted before the change could apply.
	StatusEntityGone StatusOutcome = "entity_gone"
	// StatusInvalid: the stored request could not be read; it failed for good.
	StatusInvalid StatusOutcome = "invalid"
	// StatusSuperseded: a newer manual request had already set the status.
	StatusSuperseded StatusOutcome = "superseded"
)

// ApplyStatusChange applies the status change stored in inbox item id, once: under the
// entity's row lock it moves the status, writes the audit record, the timeline entry and
// the kind.status.updated event with previous_status, keeps the system blocklist in step,
// and marks the item applied, all in one transaction. An automatic change that would
// lower the status is recorded as unchanged. Applying an item again changes nothing.
func (s *Store) ApplyStatusChange(ctx context.Context, id string) (StatusOutcome, error) {
	var outcome StatusOutcome
	err := s.transaction(ctx, func(tx *txn) error {
		item, err := lockInboxItem(tx, id)
		if err != nil {
			return err
		}
		if item.State != InboxPending {
			outcome = StatusAlreadyApplied
			return nil
		}
		var req StatusRequest
		if err := json.Unmarshal([]byte(item.Payload), &req); err != nil || !ValidStatus(req.Status) || !validUUID(req.EntityID) {
			outcome = StatusInvalid
			return finishInboxItem(tx, item, "the stored request is not a valid status change")
		}
		var e Entity
		err = forUpdate(tx).Where("id = ? AND application_id = ?", req.EntityID, item.ApplicationID).Take(&e).Error
		// The clock is read under the entity's lock, so audit times follow the order in
		// which changes were applied.
		tx.Now()
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && e.DeletedAt != nil) {
			outcome = StatusEntityGone
			return finishInboxItem(tx, item, "the entity was deleted before the change could apply")
		}
		if err != nil {
			return fmt.Errorf("lock entity: %w", err)
		}
		outcome, err = applyStatusRequest(tx, &e, req, item.CreatedAt)
		if err != nil {
			return err
		}
		return finishInboxItem(tx, item, "")
	})
	return outcome, err
}

// applyStatusRequest writes what rules.DecideStatusChange decides for req, made at
// requestedAt, on the locked entity e.
func applyStatusRequest(tx *txn, e *Entity, req StatusRequest, requestedAt time.Time) (StatusOutcome, error) {
	allowlisted := false
	if req.Automatic {
		var err error
		if allowlisted, err = isAllowlisted(tx, e.ApplicationID, e.Kind, e.VendorData); err != nil {
			return "", err
		}
	}
	d := rules.DecideStatusChange(rules.StatusChangeFacts{
		Current: e.Status, CurrentRequestedAt: e.StatusRequestedAt, Requested: req.Status, RequestedAt: requestedAt,
		Automatic: req.Automatic, Reason: req.Reason, Actor: req.Actor, Rule: req.Rule, Inputs: req.Inputs,
		Allowlisted: allowlisted,
	})
	if d.Outcome == rules.ChangeSuperseded {
		return StatusSuperseded, nil
	}
	if req.Automatic && rules.IsListRule(req.Rule) {
		if err := listMatchSignal(tx, e, req); err != nil {
			return "", err
		}
	}
	if d.RecordRequest {
		e.StatusRequestedAt = &requestedAt
	}
	if d.Outcome == rules.ChangeUnchanged {
		if d.RecordRequest {
			err := tx.Model(&Entity{}).Where("id = ?", e.ID).Update("status_requested_at", e.StatusRequestedAt).Error
			if err != nil {
				return "", fmt.Errorf("record the request time: %w", err)
			}
		}
		return StatusUnchanged, nil
	}
	w := newEntityWriter(tx, e)
	if err := w.transition(*d.Transition, d.Actor); err != nil {
		return "", err
	}
	if err := w.save(); err != nil {
		return "", err
	}
	return StatusChanged, nil
}

// CountInbox returns how many of an application's inbox items are in state.
func (s *Store) CountInbox(ctx context.Context, appID, state string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&InboxItem{}).Where("application_id = ? AND state = ?", appID, state).Count(&n).Error
	return n, err
}
