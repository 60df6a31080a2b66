package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// SecretOverlap is how long a rotated-out secret still signs deliveries.
const SecretOverlap = 24 * time.Hour

// Destination is a customer's webhook endpoint: a URL, a signing secret and the event
// types it subscribes to ("*" for all).
type Destination struct {
	ID                      string `gorm:"primaryKey"`
	ApplicationID           string `gorm:"not null"`
	URL                     string `gorm:"not null"`
	Label                   string `gorm:"not null"`
	Secret                  string `gorm:"not null"`
	PreviousSecret          *string
	PreviousSecretExpiresAt *time.Time
	SubscribedEvents        []string `gorm:"serializer:json;not null"`
	Enabled                 bool     `gorm:"not null"`
	FailingSince            *time.Time
	DisabledReason          string    `gorm:"not null"`
	CreatedAt               time.Time `gorm:"not null"`
	UpdatedAt               time.Time `gorm:"not null"`
}

// TableName is the table of destinations.
func (Destination) TableName() string { return "webhook_destinations" }

// Subscribes reports whether the destination wants events of typ.
func (d *Destination) Subscribes(typ string) bool {
	for _, e := range d.SubscribedEvents {
		if e == "*" || e == typ {
			return true
		}
	}
	return false
}

// LiveSecrets are the secrets deliveries are signed with at now: the current one and,
// for SecretOverlap after a rotation, the previous one.
func (d *Destination) LiveSecrets(now time.Time) []string {
	secrets := []string{d.Secret}
	if d.PreviousSecret != nil && d.PreviousSecretExpiresAt != nil && now.Before(*d.PreviousSecretExpiresAt) {
		secrets = append(secrets, *d.PreviousSecret)
	}
	return secrets
}

// DestinationResource is the JSON shape of a destination; Secret is shown only when it
// is created or rotated.
type DestinationResource struct {
	UUID             string   `json:"uuid"`
	URL              string   `json:"url"`
	Label            string   `json:"label"`
	SubscribedEvents []string `json:"subscribed_events"`
	Enabled          bool     `json:"enabled"`
	FailingSince     *string  `json:"failing_since"`
	DisabledReason   string   `json:"disabled_reason"`
	CreatedAt        string   `json:"created_at"`
	UpdatedAt        string   `json:"updated_at"`
	Secret           string   `json:"secret,omitempty"`
}

// Resource returns the destination's JSON shape, without its secret.
func (d *Destination) Resource() DestinationResource {
	return DestinationResource{
		UUID: d.ID, URL: d.URL, Label: d.Label, SubscribedEvents: d.SubscribedEvents, Enabled: d.Enabled,
		FailingSince: FormatTimePtr(d.FailingSince), DisabledReason: d.DisabledReason,
		CreatedAt: FormatTime(d.CreatedAt), UpdatedAt: FormatTime(d.UpdatedAt),
	}
}

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

// fanOut writes a pending delivery of ev to every enabled destination of its
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
	var rows []Delivery
	for i := range dests {
		if !dests[i].Subscribes(ev.Type) {
			continue
		}
		at := ev.CreatedAt
		rows = append(rows, Delivery{
			ID: newID(), ApplicationID: ev.ApplicationID, EventID: ev.ID, DestinationID: dests[i].ID,
			State: DeliveryPending, CreatedAt: at, UpdatedAt: at, EnqueuedAt: at,
			NextAttemptAt: &at, CycleStartedAt: &at,
		})
	}
	if len(rows) == 0 {
		return nil
	}
	if err := tx.Create(&rows).Error; err != nil {
		return err
	}
	for _, d := range rows {
		tx.deliver(DeliveryRef{ID: d.ID, DestinationID: d.DestinationID, At: d.CreatedAt})
	}
	return nil
}

// NewDestination is a validated destination to create.
type NewDestination struct {
	URL, Label       string
	SubscribedEvents []string
	Enabled          bool
}

// CreateDestination creates a destination with a new secret (shown once, in the
// returned destination). A URL the application already has is a conflict.
func (s *Store) CreateDestination(ctx context.Context, appID string, in NewDestination) (*Destination, error) {
	now := s.Now()
	d := &Destination{
		ID: newID(), ApplicationID: appID, URL: in.URL, Label: in.Label, Secret: NewWebhookSecret(),
		SubscribedEvents: in.SubscribedEvents, Enabled: in.Enabled, CreatedAt: now, UpdatedAt: now,
	}
	err := s.db.WithContext(ctx).Create(d).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return nil, conflictf("a destination with url %q already exists", in.URL)
	}
	return d, err
}

// NewWebhookSecret returns "whsec_" followed by the standard base64 of 32 random bytes.
func NewWebhookSecret() string {
	return "whsec_" + randomBase64(32)
}

// GetDestination returns one destination.
func (s *Store) GetDestination(ctx context.Context, appID, id string) (*Destination, error) {
	if !validUUID(id) {
		return nil, errNotFound("destination")
	}
	var d Destination
	if err := s.db.WithContext(ctx).Where("application_id = ? AND id = ?", appID, id).Take(&d).Error; err != nil {
		return nil, notFound(err, "destination")
	}
	return &d, nil
}

// ListDestinations returns one page of destinations, oldest first, and their number.
func (s *Store) ListDestinations(ctx context.Context, appID string, limit, offset int) ([]Destination, int64, error) {
	q := s.db.WithContext(ctx).Model(&Destination{}).Where("application_id = ?", appID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, err
	}
	var out []Destination
	err := q.Order("created_at, id").Limit(limit).Offset(offset).Find(&out).Error
	return out, total, err
}

// DestinationPatch changes a destination; nil fields are kept.
type DestinationPatch struct {
	URL              *string
	Label            *string
	SubscribedEvents []string
	Enabled          *bool
}

// UpdateDestination applies patch. Enabling a destination clears why it was disabled
// and its failure streak.
func (s *Store) UpdateDestination(ctx context.Context, appID, id string, p DestinationPatch) (*Destination, error) {
	var d *Destination
	err := s.transaction(ctx, func(tx *txn) error {
		var err error
		d, err = lockDestination(tx, appID, id)
		if err != nil {
			return err
		}
		if p.URL != nil {
			d.URL = *p.URL
		}
		if p.Label != nil {
			d.Label = *p.Label
		}
		if p.SubscribedEvents != nil {
			d.SubscribedEvents = p.SubscribedEvents
		}
		if p.Enabled != nil {
			if *p.Enabled && !d.Enabled {
				d.DisabledReason, d.FailingSince = "", nil
			}
			d.Enabled = *p.Enabled
		}
		d.UpdatedAt = s.Now()
		err = tx.Select("url", "label", "subscribed_events", "enabled", "disabled_reason", "failing_since", "updated_at").Updates(d).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return conflictf("a destination with url %q already exists", d.URL)
		}
		return err
	})
	return d, err
}

func lockDestination(tx *txn, appID, id string) (*Destination, error) {
	if !validUUID(id) {
		return nil, errNotFound("destination")
	}
	var d Destination
	if err := forUpdate(tx).Where("application_id = ? AND id = ?", appID, id).Take(&d).Error; err != nil {
		return nil, notFound(err, "destination")
	}
	return &d, nil
}

// DeleteDestination deletes a destination with its deliveries and their log.
func (s *Store) DeleteDestination(ctx context.Context, appID, id string) error {
	if !validUUID(id) {
		return errNotFound("destination")
	}
	res := s.db.WithContext(ctx).Where("application_id = ? AND id = ?", appID, id).Delete(&Destination{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errNotFound("destination")
	}
	return nil
}

// RotateSecret gives a destination a new secret; the old one keeps signing deliveries
// (beside the new one) for SecretOverlap.
func (s *Store) RotateSecret(ctx context.Context, appID, id string) (*Destination, error) {
	var d *Destination
	err := s.transaction(ctx, func(tx *txn) error {
		var err error
		d, err = lockDestination(tx, appID, id)
		if err != nil {
			return err
		}
		now := s.Now()
		expires := now.Add(SecretOverlap)
		old := d.Secret
		d.PreviousSecret, d.PreviousSecretExpiresAt, d.Secret, d.UpdatedAt = &old, &expires, NewWebhookSecret(), now
		return tx.Select("secret", "previous_secret", "previous_secret_expires_at", "updated_at").Updates(d).Error
	})
	return d, err
}

// DeliveryJob is what one attempt at a delivery needs.
type DeliveryJob struct {
	Delivery    Delivery
	Event       OutboxEvent
	Destination Destination
}

// ClaimDelivery takes a pending delivery for one attempt, for at most hold: until then
// no other worker attempts it. It returns nil when the delivery is done, deleted, or
// being attempted elsewhere.
func (s *Store) ClaimDelivery(ctx context.Context, id string, hold time.Duration) (*DeliveryJob, error) {
	if !validUUID(id) {
		return nil, nil
	}
	now := s.Now()
	db := s.db.WithContext(ctx)
	res := db.Model(&Delivery{}).
		Where("id = ? AND state = ? AND (attempting_until IS NULL OR attempting_until < ?)", id, DeliveryPending, now).
		Update("attempting_until", now.Add(hold))
	if res.Error != nil || res.RowsAffected == 0 {
		return nil, res.Error
	}
	var job DeliveryJob
	if err := db.Where("id = ?", id).Take(&job.Delivery).Error; err != nil {
		return nil, err
	}
	if err := db.Where("id = ?", job.Delivery.EventID).Take(&job.Event).Error; err != nil {
		return nil, err
	}
	if err := db.Where("id = ?", job.Delivery.DestinationID).Take(&job.Destination).Error; err != nil {
		return nil, err
	}
	return &job, nil
}

// AttemptOutcome classifies an attempt's result.
type AttemptOutcome int

// The outcomes of an attempt.
const (
	// AttemptDelivered: a 2xx answer.
	AttemptDelivered AttemptOutcome = iota
	// AttemptRetry: a network error, a timeout, 404, 408, 429 or 5xx.
	AttemptRetry
	// AttemptRejected: any other answer; not retried.
	AttemptRejected
	// AttemptGone: 410; not retried, and the destination is disabled.
	AttemptGone
	// AttemptSkipped: the destination was disabled; nothing was sent.
	AttemptSkipped
)

// AttemptResult is what one attempt did.
type AttemptResult struct {
	Outcome        AttemptOutcome
	RequestURL     string
	RequestHeaders map[string]string
	Status         int
	ResponseBody   string
	Duration       time.Duration
	Error          string
	// RetryAfter is the delay the endpoint asked for (429 Retry-After); zero if none.
	RetryAfter time.Duration
}

// RetryPolicy says when a failed delivery is tried again and when it is given up.
type RetryPolicy struct {
	MaxAttempts int
	MaxAge      time.Duration
	// Backoff returns the delay after the given (1-based) failed attempt.
	Backoff func(attempt int) time.Duration
	// MaxInterval caps any delay, including a Retry-After.
	MaxInterval time.Duration
	// DisableAfter disables a destination that has failed this long without a success.
	DisableAfter time.Duration
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

// RecordAttempt records an attempt in the delivery log and decides, in one
// transaction, what becomes of the delivery: delivered, retried later (per policy), or
// failed for good. It keeps the destination's failure streak, and disables a
// destination that answered 410 or has failed for policy.DisableAfter, announcing it with
// destination.disabled to the application's other destinations.
func (s *Store) RecordAttempt(ctx context.Context, job *DeliveryJob, r AttemptResult, p RetryPolicy) (DeliveryDecision, error) {
	var dec DeliveryDecision
	err := s.transaction(ctx, func(tx *txn) error {
		now := s.Now()
		d := job.Delivery
		dec.Attempt = d.Attempts + 1
		r.Error = storableText(r.Error, 2000)
		if r.Outcome != AttemptSkipped {
			attempt := DeliveryAttempt{
				ID: newID(), DeliveryID: d.ID, DestinationID: d.DestinationID, EventID: d.EventID,
				WebhookType: job.Event.Type, Attempt: dec.Attempt, RequestURL: r.RequestURL,
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
			if err := tx.Create(&attempt).Error; err != nil {
				return err
			}
		}
		updates := map[string]any{"attempts": dec.Attempt, "last_error": r.Error, "attempting_until": nil, "updated_at": now}
		if r.Status != 0 {
			updates["last_status"] = r.Status
		}
		disable := ""
		switch r.Outcome {
		case AttemptDelivered:
			dec.State = DeliveryDelivered
			updates["delivered_at"] = now
		case AttemptRetry:
			cycle := d.CreatedAt
			if d.CycleStartedAt != nil {
				cycle = *d.CycleStartedAt
			}
			delay := r.RetryAfter
			if delay <= 0 {
				delay = p.Backoff(dec.Attempt)
			}
			delay = min(delay, p.MaxInterval)
			if dec.Attempt >= p.MaxAttempts || now.Add(delay).Sub(cycle) > p.MaxAge {
				dec.State = DeliveryFailed
				updates["last_error"] = fmt.Sprintf("gave up after %d attempts: %s", dec.Attempt, r.Error)
			} else {
				dec.State, dec.RetryIn = DeliveryPending, delay
				updates["next_attempt_at"] = now.Add(delay)
			}
		case AttemptGone:
			dec.State = DeliveryFailed
			disable = "the endpoint answered 410 Gone"
		case AttemptRejected, AttemptSkipped:
			dec.State = DeliveryFailed
		}
		updates["state"] = dec.State
		// Only the attempt that holds the claim decides: one that took too long to record
		// must not overwrite what a later attempt recorded.
		q := tx.Model(&Delivery{}).Where("id = ? AND state = ?", d.ID, DeliveryPending)
		if d.AttemptingUntil != nil {
			q = q.Where("attempting_until = ?", *d.AttemptingUntil)
		}
		res := q.Updates(updates)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrClaimLost
		}
		if r.Outcome == AttemptSkipped {
			return nil
		}
		dest, err := lockDestination(tx, job.Destination.ApplicationID, d.DestinationID)
		if errors.Is(err, ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if r.Outcome == AttemptDelivered {
			if dest.FailingSince != nil {
				return tx.Model(dest).Update("failing_since", nil).Error
			}
			return nil
		}
		if dest.FailingSince == nil {
			dest.FailingSince = &now
			if err := tx.Model(dest).Update("failing_since", now).Error; err != nil {
				return err
			}
		}
		if disable == "" && now.Sub(*dest.FailingSince) >= p.DisableAfter {
			disable = fmt.Sprintf("failing without a success since %s", FormatTime(*dest.FailingSince))
		}
		if disable != "" && dest.Enabled {
			return s.disableDestination(tx, dest, disable, now)
		}
		return nil
	})
	return dec, err
}

// disableDestination disables a destination and tells the application's other
// destinations (destination.disabled).
func (s *Store) disableDestination(tx *txn, d *Destination, reason string, now time.Time) error {
	err := tx.Model(d).Updates(map[string]any{"enabled": false, "disabled_reason": reason, "updated_at": now}).Error
	if err != nil {
		return err
	}
	d.Enabled, d.DisabledReason = false, reason
	delete(tx.destinations, d.ApplicationID) // the fan-out must not include it
	_, err = insertEvent(tx, d.ApplicationID, nil, EventDestinationDisabled, 0, now, map[string]any{
		"uuid":        d.ID,
		"url":         d.URL,
		"label":       d.Label,
		"reason":      reason,
		"destination": d.Resource(),
	})
	return err
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

// Deliveries returns the deliveries of an event, for tests and operators.
func (s *Store) Deliveries(ctx context.Context, eventID string) ([]Delivery, error) {
	var out []Delivery
	err := s.db.WithContext(ctx).Where("event_id = ?", eventID).Order("created_at, id").Find(&out).Error
	return out, err
}
