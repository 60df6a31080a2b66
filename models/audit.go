package models

import (
	"context"
	"time"
)

// Activity types of an entity's timeline.
const (
	ActivityCreated              = "created"
	ActivitySessionLinked        = "session_linked"
	ActivitySessionUpdated       = "session_updated"
	ActivityTransactionEvaluated = "transaction_evaluated"
	ActivityStatusChanged        = "status_changed"
	ActivityProfileUpdated       = "profile_updated"
	ActivityDeleted              = "deleted"
)

// StatusChange is one audit record of an entity's status: from (nil at creation), to,
// reason, actor, the rule that decided it (automatic changes) and when.
type StatusChange struct {
	ID            string `gorm:"primaryKey"`
	ApplicationID string `gorm:"not null"`
	EntityID      string `gorm:"not null"`
	FromStatus    *string
	ToStatus      string    `gorm:"not null"`
	Reason        string    `gorm:"not null"`
	Actor         string    `gorm:"not null"`
	Rule          string    `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
}

// Activity is one entry of an entity's timeline.
type Activity struct {
	ID            string         `gorm:"primaryKey"`
	ApplicationID string         `gorm:"not null"`
	EntityID      string         `gorm:"not null"`
	Type          string         `gorm:"not null"`
	Details       map[string]any `gorm:"serializer:json;not null"`
	CreatedAt     time.Time      `gorm:"not null"`
}

// TableName is the table of activities.
func (Activity) TableName() string { return "activities" }

// ActivityResource is the JSON shape of an activity.
type ActivityResource struct {
	UUID      string         `json:"uuid"`
	Type      string         `json:"type"`
	Details   map[string]any `json:"details"`
	CreatedAt string         `json:"created_at"`
}

// Resource returns the activity's JSON shape.
func (a *Activity) Resource() ActivityResource {
	d := a.Details
	if d == nil {
		d = map[string]any{}
	}
	return ActivityResource{UUID: a.ID, Type: a.Type, Details: d, CreatedAt: FormatTime(a.CreatedAt)}
}

// StatusChanges returns an entity's audit trail, oldest first.
func (s *Store) StatusChanges(ctx context.Context, appID, entityID string) ([]StatusChange, error) {
	if !validUUID(entityID) {
		return nil, nil
	}
	var out []StatusChange
	err := s.db.WithContext(ctx).Where("application_id = ? AND entity_id = ?", appID, entityID).
		Order("created_at, id").Find(&out).Error
	return out, err
}

// ListActivities returns one page of an entity's timeline, newest first, and its length.
func (s *Store) ListActivities(ctx context.Context, appID, entityID string, limit, offset int) ([]Activity, int64, error) {
	q := s.db.WithContext(ctx).Model(&Activity{}).Where("application_id = ? AND entity_id = ?", appID, entityID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Activity
	err := q.Order("created_at DESC, id DESC").Limit(limit).Offset(offset).Find(&out).Error
	return out, total, err
}

// entityWriter records, inside the transaction that changes an entity, everything the
// change owes: audit records, timeline entries and outbox events numbered by the entity's
// event sequence. save writes the entity's changed columns with the new sequence.
type entityWriter struct {
	tx  *txn
	e   *Entity
	now time.Time
}

func (s *Store) entityWriter(tx *txn, e *Entity, now time.Time) *entityWriter {
	e.UpdatedAt = now
	return &entityWriter{tx: tx, e: e, now: now}
}

// audit writes one status audit record.
func (w *entityWriter) audit(from *string, to, reason, actor, rule string) error {
	return w.tx.Create(&StatusChange{
		ID:            newID(),
		ApplicationID: w.e.ApplicationID,
		EntityID:      w.e.ID,
		FromStatus:    from,
		ToStatus:      to,
		Reason:        reason,
		Actor:         actor,
		Rule:          rule,
		CreatedAt:     w.now,
	}).Error
}

// event writes an outbox event about the entity with the next sequence number.
func (w *entityWriter) event(typ string, fields map[string]any) error {
	w.e.EventSequence++
	_, err := insertEvent(w.tx, w.e.ApplicationID, &w.e.ID, typ, w.e.EventSequence, w.now, fields)
	return err
}

// identity are the fields every entity event carries.
func (w *entityWriter) identity() map[string]any {
	return map[string]any{
		"vendor_data": w.e.VendorData,
		"uuid":        w.e.ID,
		"kind":        w.e.Kind,
		"status":      w.e.Status,
	}
}

// dataUpdated announces a change of the entity's data (kind.data.updated).
func (w *entityWriter) dataUpdated(changed []string) error {
	fields := w.identity()
	fields["entity"] = w.e.Resource()
	fields["changed_fields"] = changed
	return w.event(w.e.Kind+"."+EventDataUpdated, fields)
}

// statusUpdated announces a status transition (kind.status.updated).
func (w *entityWriter) statusUpdated(previous, reason, actor, rule string) error {
	fields := w.identity()
	fields["previous_status"] = previous
	fields["reason"] = reason
	fields["actor"] = actor
	fields["rule"] = rule
	return w.event(w.e.Kind+".status.updated", fields)
}

// activity adds a timeline entry and announces it (activity.created).
func (w *entityWriter) activity(typ string, details map[string]any) error {
	a := &Activity{
		ID:            newID(),
		ApplicationID: w.e.ApplicationID,
		EntityID:      w.e.ID,
		Type:          typ,
		Details:       details,
		CreatedAt:     w.now,
	}
	if err := w.tx.Create(a).Error; err != nil {
		return err
	}
	fields := w.identity()
	fields["activity"] = a.Resource()
	return w.event(EventActivityCreated, fields)
}

// entityColumns are the columns of an entity that change after creation; save writes
// them all, so that no change to the struct can be forgotten.
var entityColumns = []string{
	"status", "status_reason", "status_changed_at", "status_requested_at", "session_count", "approved_count",
	"declined_count", "in_review_count", "features", "features_at", "metadata", "event_sequence",
	"profile_at", "first_session_at", "last_session_at", "last_activity_at", "updated_at",
	"deleted_at", "full_name", "display_name", "date_of_birth", "portrait_image", "nationality",
	"document_number", "email", "phone", "legal_name", "registration_number", "country_code", "region",
}

// save writes the entity's mutable columns, with its event sequence and update time.
func (w *entityWriter) save() error {
	w.e.UpdatedAt = w.now
	return w.tx.Model(w.e).Select(entityColumns).Updates(w.e).Error
}

// created records the creation of an entity: its first audit record, the data event with
// the fields set, and the timeline entry, then saves the event sequence.
func (w *entityWriter) created(changed []string, reason, actor, rule, source string) error {
	if err := w.audit(nil, w.e.Status, reason, actor, rule); err != nil {
		return err
	}
	if err := w.dataUpdated(changed); err != nil {
		return err
	}
	details := map[string]any{"status": w.e.Status, "actor": actor, "source": source}
	if err := w.activity(ActivityCreated, details); err != nil {
		return err
	}
	if w.e.Status == StatusBlocked {
		if err := addToSystemBlocklist(w.tx, w.e, w.now); err != nil {
			return err
		}
	}
	return w.save()
}

// transition moves the entity to status to and records it: status_reason, the audit
// record, kind.status.updated with previous_status, the timeline entry, and the system
// blocklist (an entity entering BLOCKED is added to its kind's system blocklist, one
// leaving BLOCKED is removed from it). The caller saves the entity.
func (w *entityWriter) transition(to, reason, actor, rule string) error {
	previous := w.e.Status
	w.e.Status = to
	w.e.StatusReason = &reason
	w.e.StatusChangedAt = &w.now
	w.e.LastActivityAt = &w.now
	if err := w.audit(&previous, to, reason, actor, rule); err != nil {
		return err
	}
	if err := w.statusUpdated(previous, reason, actor, rule); err != nil {
		return err
	}
	details := map[string]any{"from": previous, "to": to, "reason": reason, "actor": actor}
	if rule != "" {
		details["rule"] = rule
	}
	if err := w.activity(ActivityStatusChanged, details); err != nil {
		return err
	}
	switch {
	case to == StatusBlocked:
		return addToSystemBlocklist(w.tx, w.e, w.now)
	case previous == StatusBlocked:
		return removeFromSystemBlocklist(w.tx, w.e)
	}
	return nil
}
