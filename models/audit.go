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

// StatusChange is one audit record of an entity's status, a link of its application's
// hash chain (chain.go): the entity it is about, from (nil at creation), to, reason,
// actor, the rule that decided it and the facts it decided on (inputs), and when. The
// columns carry the names the API shows (previous_status, status, …). A tombstone keeps
// only its id, application, time, seq and hashes.
type StatusChange struct {
	ID            string `gorm:"primaryKey"`
	ApplicationID string `gorm:"not null"`
	EntityID      *string
	VendorData    *string
	Kind          *string
	FromStatus    *string        `gorm:"column:previous_status"`
	ToStatus      string         `gorm:"column:status"`
	Reason        string         `gorm:"not null"`
	Actor         string         `gorm:"not null"`
	Rule          string         `gorm:"not null"`
	Inputs        map[string]any `gorm:"serializer:json;not null"`
	CreatedAt     time.Time      `gorm:"not null"`
	Seq           int64          `gorm:"not null"`
	PrevHash      string         `gorm:"not null"`
	Hash          string         `gorm:"not null"`
	Tombstone     bool           `gorm:"not null"`
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

// StatusChanges returns an entity's audit trail, oldest first (chain order).
func (s *Store) StatusChanges(ctx context.Context, appID, entityID string) ([]StatusChange, error) {
	if !validUUID(entityID) {
		return nil, nil
	}
	var out []StatusChange
	err := s.db.WithContext(ctx).Where("application_id = ? AND entity_id = ?", appID, entityID).
		Order("seq").Find(&out).Error
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
