package models

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/webhooks"
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event to one destination, retried until it lands or is given up on.
type Delivery struct {
	ID              string `gorm:"primaryKey"`
	ApplicationID   string `gorm:"not null"`
	EventID         string `gorm:"not null"`
	DestinationID   string `gorm:"not null"`
	State           string `gorm:"not null"`
	Attempts        int    `gorm:"not null"`
	LastStatus      *int
	LastError       string    `gorm:"not null"`
	CreatedAt       time.Time `gorm:"not null"`
	UpdatedAt       time.Time `gorm:"not null"`
	EnqueuedAt      time.Time `gorm:"not null"`
	DeliveredAt     *time.Time
	NextAttemptAt   *time.Time
	AttemptingUntil *time.Time
	CycleStartedAt  *time.Time
}

// DeliveryAttempt is one HTTP attempt at a delivery, as the delivery log shows it.
type DeliveryAttempt struct {
	ID             string `gorm:"primaryKey"`
	DeliveryID     string `gorm:"not null"`
	DestinationID  string `gorm:"not null"`
	EventID        string
	WebhookType    string            `gorm:"not null"`
	Attempt        int               `gorm:"not null"`
	RequestURL     string            `gorm:"not null"`
	RequestHeaders map[string]string `gorm:"serializer:json;not null"`
	ResponseStatus *int
	ResponseBody   string    `gorm:"not null"`
	ResponseTimeMs int       `gorm:"not null"`
	Error          string    `gorm:"not null"`
	CreatedAt      time.Time `gorm:"not null"`
}

// DeliveryJob is what one attempt at a delivery needs.
type DeliveryJob struct {
	Delivery    Delivery
	Event       OutboxEvent
	Destination Destination
}

// AttemptResult is what one attempt did.
type AttemptResult struct {
	Outcome        webhooks.Outcome
	RequestURL     string
	RequestHeaders map[string]string
	Status         int
	ResponseBody   string
	Duration       time.Duration
	Error          string
	// RetryAfter is the delay the endpoint asked for (429 Retry-After); zero if none.
	RetryAfter time.Duration
}

// DeliveryDecision is what became of a delivery after an attempt.
type DeliveryDecision struct {
	State   string
	Attempt int
	// RetryIn is the delay before the next attempt, when State is pending.
	RetryIn time.Duration
}

// maxStoredBody is how much of a response body the log keeps.
const maxStoredBody = 8 << 10

// ErrClaimLost means an attempt's claim on its delivery expired before it was recorded,
// and another attempt took the delivery over; the late attempt is not recorded.
var ErrClaimLost = errors.New("the claim on the delivery expired")

// storableText makes text from a remote endpoint storable: valid UTF-8, without NUL
// (PostgreSQL refuses both), at most limit bytes, cut between characters.
func storableText(s string, limit int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// keepFailureStreak keeps the destination's failure streak after an attempt that did
// not deliver (endFailureStreaks ends it after one that did) and disables the
// destination when the policy says so.
func (s *Store) keepFailureStreak(tx *txn, job *DeliveryJob, next webhooks.Next, p webhooks.Policy) error {
	now := tx.Now()
	dest, err := lockDestination(tx, job.Destination.ApplicationID, job.Delivery.DestinationID)
	if errors.Is(err, ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	if dest.FailingSince == nil {
		dest.FailingSince = &now
		if err := tx.Model(dest).Update("failing_since", now).Error; err != nil {
			return err
		}
	}
	disable := next.DisableFor
	if off, why := p.ShouldDisable(dest.FailingSince, now); disable == "" && off {
		disable = why
	}
	if disable != "" && dest.Enabled {
		return s.disableDestination(tx, dest, disable, now)
	}
	return nil
}

// ClaimStaleDeliveries returns up to limit pending deliveries whose attempt is overdue
// by olderThan and that no relay offered in that time, and marks them offered now; the
// relay enqueues their jobs again (the queue may have lost them).
func (s *Store) ClaimStaleDeliveries(ctx context.Context, olderThan time.Duration, limit int) ([]DeliveryRef, error) {
	var rows []Delivery
	err := s.transaction(ctx, func(tx *txn) error {
		now := s.Now()
		cutoff := now.Add(-olderThan)
		err := tx.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}).
			Where("state = ? AND next_attempt_at <= ? AND enqueued_at <= ? AND (attempting_until IS NULL OR attempting_until < ?)",
				DeliveryPending, cutoff, cutoff, now).
			Order("next_attempt_at").Limit(limit).Find(&rows).Error
		if err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		return tx.Model(&Delivery{}).Where("id IN ?", ids).Update("enqueued_at", now).Error
	})
	refs := make([]DeliveryRef, len(rows))
	for i, d := range rows {
		refs[i] = DeliveryRef{ID: d.ID, DestinationID: d.DestinationID, Retry: d.Attempts > 0}
	}
	return refs, err
}

// GetDelivery returns one delivery.
func (s *Store) GetDelivery(ctx context.Context, id string) (*Delivery, error) {
	if !validUUID(id) {
		return nil, errNotFound("delivery")
	}
	var d Delivery
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&d).Error; err != nil {
		return nil, notFound(err, "delivery")
	}
	return &d, nil
}

// AttemptResource is the JSON shape of an attempt in the delivery log.
type AttemptResource struct {
	UUID           string            `json:"uuid"`
	DeliveryUUID   string            `json:"delivery_uuid"`
	EventID        string            `json:"event_id"`
	WebhookType    string            `json:"webhook_type"`
	Attempt        int               `json:"attempt"`
	RequestURL     string            `json:"request_url"`
	ResponseStatus *int              `json:"response_status"`
	ResponseTimeMs int               `json:"response_time_ms"`
	Error          string            `json:"error"`
	CreatedAt      string            `json:"created_at"`
	RequestHeaders map[string]string `json:"request_headers,omitempty"`
	RequestBody    json.RawMessage   `json:"request_body,omitempty"`
	ResponseBody   *string           `json:"response_body,omitempty"`
}

func (a *DeliveryAttempt) resource() AttemptResource {
	return AttemptResource{
		UUID: a.ID, DeliveryUUID: a.DeliveryID, EventID: a.EventID, WebhookType: a.WebhookType, Attempt: a.Attempt,
		RequestURL: a.RequestURL, ResponseStatus: a.ResponseStatus, ResponseTimeMs: a.ResponseTimeMs,
		Error: a.Error, CreatedAt: FormatTime(a.CreatedAt),
	}
}

// ListAttempts returns one page of a destination's delivery log, newest first.
func (s *Store) ListAttempts(ctx context.Context, appID, destID string, limit, offset int) ([]AttemptResource, int64, error) {
	if _, err := s.GetDestination(ctx, appID, destID); err != nil {
		return nil, 0, err
	}
	q := s.db.WithContext(ctx).Model(&DeliveryAttempt{}).Where("destination_id = ?", destID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var rows []DeliveryAttempt
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Offset(offset).Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	out := make([]AttemptResource, len(rows))
	for i := range rows {
		out[i] = rows[i].resource()
	}
	return out, total, nil
}

// GetAttempt returns one attempt with its request headers and body and response body.
func (s *Store) GetAttempt(ctx context.Context, appID, destID, attemptID string) (AttemptResource, error) {
	if _, err := s.GetDestination(ctx, appID, destID); err != nil {
		return AttemptResource{}, err
	}
	if !validUUID(attemptID) {
		return AttemptResource{}, errNotFound("delivery attempt")
	}
	db := s.db.WithContext(ctx)
	var a DeliveryAttempt
	if err := db.Where("destination_id = ? AND id = ?", destID, attemptID).Take(&a).Error; err != nil {
		return AttemptResource{}, notFound(err, "delivery attempt")
	}
	r := a.resource()
	r.RequestHeaders = a.RequestHeaders
	r.ResponseBody = &a.ResponseBody
	var ev OutboxEvent
	if err := db.Where("id = ?", a.EventID).Take(&ev).Error; err == nil {
		r.RequestBody = json.RawMessage(ev.Body)
	}
	return r, nil
}

// ResendAttempt sends the event of one attempt again: its delivery starts a new cycle of
// attempts now. It returns the delivery.
func (s *Store) ResendAttempt(ctx context.Context, appID, destID, attemptID string) (*Delivery, error) {
	if _, err := s.GetDestination(ctx, appID, destID); err != nil {
		return nil, err
	}
	if !validUUID(attemptID) {
		return nil, errNotFound("delivery attempt")
	}
	var d Delivery
	err := s.transaction(ctx, func(tx *txn) error {
		var a DeliveryAttempt
		if err := tx.Where("destination_id = ? AND id = ?", destID, attemptID).Take(&a).Error; err != nil {
			return notFound(err, "delivery attempt")
		}
		if err := forUpdate(tx).Where("id = ?", a.DeliveryID).Take(&d).Error; err != nil {
			return notFound(err, "delivery")
		}
		if d.State == DeliveryPending {
			return conflictf("the delivery is still being attempted")
		}
		return restartDeliveries(tx, []Delivery{d}, s.Now())
	})
	return &d, err
}

// restartDeliveries makes deliveries pending again, with a new cycle of attempts due now.
func restartDeliveries(tx *txn, rows []Delivery, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	err := tx.Model(&Delivery{}).Where("id IN ?", ids).Updates(map[string]any{
		"state": DeliveryPending, "attempts": 0, "next_attempt_at": now, "cycle_started_at": now,
		"enqueued_at": now, "attempting_until": nil, "updated_at": now,
	}).Error
	if err != nil {
		return err
	}
	for _, d := range rows {
		tx.deliver(DeliveryRef{ID: d.ID, DestinationID: d.DestinationID, At: now})
	}
	return nil
}

// RecoverDeliveries sends again every failed delivery of a destination created since
// since, and returns how many.
func (s *Store) RecoverDeliveries(ctx context.Context, appID, destID string, since time.Time) (int, error) {
	n := 0
	err := s.transaction(ctx, func(tx *txn) error {
		if _, err := lockDestination(tx, appID, destID); err != nil {
			return err
		}
		var rows []Delivery
		err := forUpdate(tx).Where("destination_id = ? AND state = ? AND created_at >= ?", destID, DeliveryFailed, since.UTC()).
			Find(&rows).Error
		if err != nil {
			return err
		}
		n = len(rows)
		return restartDeliveries(tx, rows, s.Now())
	})
	return n, err
}

// Deliveries returns the deliveries of an event, for tests and operators.
func (s *Store) Deliveries(ctx context.Context, eventID string) ([]Delivery, error) {
	var out []Delivery
	err := s.db.WithContext(ctx).Where("event_id = ?", eventID).Order("created_at, id").Find(&out).Error
	return out, err
}
