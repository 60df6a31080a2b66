package models

import (
	"context"
	"time"

	"gorm.io/gorm"
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
	tx  *gorm.DB
	e   *Entity
	now time.Time
}

func (s *Store) entityWriter(tx *gorm.DB, e *Entity, now time.Time) *entityWriter {
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

// save writes columns plus the entity's event sequence and update time.
func (w *entityWriter) save(columns map[string]any) error {
	if columns == nil {
		columns = map[string]any{}
	}
	columns["event_sequence"] = w.e.EventSequence
	columns["updated_at"] = w.now
	return w.tx.Model(&Entity{}).Where("id = ?", w.e.ID).Updates(columns).Error
}
