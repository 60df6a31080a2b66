package models

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/standinghq/standing/webhooks"
)

// Webhook event types (SPEC section 5).
const (
	EventStatusUpdated                = "status.updated"
	EventDataUpdated                  = "data.updated"
	EventBusinessSessionStatusUpdated = "business_session.status.updated"
	EventUserStatusUpdated            = "user.status.updated"
	EventBusinessStatusUpdated        = "business.status.updated"
	EventUserDataUpdated              = "user.data.updated"
	EventBusinessDataUpdated          = "business.data.updated"
	EventTransactionCreated           = "transaction.created"
	EventTransactionStatusUpdated     = "transaction.status.updated"
	EventActivityCreated              = "activity.created"
	EventDestinationDisabled          = "destination.disabled"
)

// EventTypes lists every webhook event type.
func EventTypes() []string {
	return []string{
		EventStatusUpdated, EventDataUpdated, EventBusinessSessionStatusUpdated,
		EventUserStatusUpdated, EventBusinessStatusUpdated, EventUserDataUpdated,
		EventBusinessDataUpdated, EventTransactionCreated, EventTransactionStatusUpdated,
		EventActivityCreated, EventDestinationDisabled,
	}
}

// OutboxEvent is one webhook event. Body holds the exact JSON bytes every destination
// receives; it is fixed when the event is written, in the transaction of the change it
// announces.
type OutboxEvent struct {
	ID            string `gorm:"primaryKey"`
	ApplicationID string `gorm:"not null"`
	EntityID      *string
	Type          string `gorm:"not null"`
	Sequence      int64  `gorm:"not null"`
	Body          string `gorm:"not null"`
	// BodyCanonical says Body is in the canonical form X-Signature-V2 signs (every body
	// written since migration 00019): an attempt signs it as it is.
	BodyCanonical bool      `gorm:"not null"`
	CreatedAt     time.Time `gorm:"not null"`
}

// TableName is the table of outbox events.
func (OutboxEvent) TableName() string { return "outbox_events" }

// insertEvent writes (at the transaction's end, with the others) an event whose body is fields plus the envelope (event_id,
// webhook_type, application_id, created_at, timestamp, sequence). The envelope wins over
// a field of the same name.
func insertEvent(tx *txn, appID string, entityID *string, typ string, seq int64, at time.Time, fields map[string]any) (*OutboxEvent, error) {
	ev := &OutboxEvent{
		ID:            newID(),
		ApplicationID: appID,
		EntityID:      entityID,
		Type:          typ,
		Sequence:      seq,
		CreatedAt:     at,
	}
	body := make(map[string]any, len(fields)+6)
	for k, v := range fields {
		body[k] = v
	}
	body["event_id"] = ev.ID
	body["webhook_type"] = typ
	body["application_id"] = appID
	body["created_at"] = at.Unix()
	if _, ok := body["timestamp"]; !ok {
		body["timestamp"] = at.Unix()
	}
	body["sequence"] = seq
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", typ, err)
	}
	// The body is written in the canonical form X-Signature-V2 signs, so that
	// X-Signature (the raw bytes) and X-Signature-V2 sign the same bytes.
	if b, err = webhooks.Canonical(b); err != nil {
		return nil, fmt.Errorf("encode %s event canonically: %w", typ, err)
	}
	ev.Body, ev.BodyCanonical = string(b), true
	tx.rows.events = append(tx.rows.events, ev)
	return ev, fanOut(tx, ev)
}

// EventsForEntity returns the events of one entity in sequence order.
func (s *Store) EventsForEntity(ctx context.Context, appID, entityID string) ([]OutboxEvent, error) {
	if !validUUID(entityID) {
		return nil, nil
	}
	var out []OutboxEvent
	err := s.db.WithContext(ctx).
		Where("application_id = ? AND entity_id = ?", appID, entityID).
		Order("sequence").Find(&out).Error
	return out, err
}

// jsonColumn encodes v for a JSON column written through a column map.
func jsonColumn(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("models: encode JSON column: %v", err)) // values come from JSON
	}
	return string(b)
}

// equalJSON reports whether a and b encode to the same JSON value.
func equalJSON(a, b any) bool {
	var x, y any
	if json.Unmarshal([]byte(jsonColumn(a)), &x) != nil || json.Unmarshal([]byte(jsonColumn(b)), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// fanOut writes (at the transaction's end) a pending delivery of ev to every enabled destination of its
// application that subscribes to its type.
func fanOut(tx *txn, ev *OutboxEvent) error {
	dests, ok := tx.destinations[ev.ApplicationID]
	if !ok {
		if err := tx.Where("application_id = ? AND enabled", ev.ApplicationID).Find(&dests).Error; err != nil {
			return fmt.Errorf("read destinations: %w", err)
		}
		if tx.destinations == nil {
			tx.destinations = map[string][]Destination{}
		}
		tx.destinations[ev.ApplicationID] = dests
	}
	for i := range dests {
		if !dests[i].Subscribes(ev.Type) {
			continue
		}
		at := ev.CreatedAt
		d := &Delivery{
			ID: newID(), ApplicationID: ev.ApplicationID, EventID: ev.ID, DestinationID: dests[i].ID,
			State: DeliveryPending, CreatedAt: at, UpdatedAt: at, EnqueuedAt: at,
			NextAttemptAt: &at, CycleStartedAt: &at,
		}
		tx.rows.deliveries = append(tx.rows.deliveries, d)
		tx.deliver(DeliveryRef{ID: d.ID, DestinationID: d.DestinationID, At: d.CreatedAt})
	}
	return nil
}

// EventFilter selects events.
type EventFilter struct {
	Since         time.Time
	Type          string
	Limit, Offset int
}

// ListEvents returns one page of an application's events, oldest first, and their
// number.
func (s *Store) ListEvents(ctx context.Context, appID string, f EventFilter) ([]OutboxEvent, int64, error) {
	// UTC: SQLite compares stored times as text.
	q := s.db.WithContext(ctx).Model(&OutboxEvent{}).Where("application_id = ? AND created_at >= ?", appID, f.Since.UTC())
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []OutboxEvent
	err := q.Order("created_at, id").Limit(f.Limit).Offset(f.Offset).Find(&out).Error
	return out, total, err
}
