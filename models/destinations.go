package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
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
	// No foreign key cascades from a destination on PostgreSQL (migration 00017): its
	// deliveries go in the same transaction (their log with them, by the key from a
	// delivery). A delivery a batch commits after this one is removed when a job
	// claims it and finds no destination (completeJobs).
	return s.transaction(ctx, func(tx *txn) error {
		res := tx.Where("application_id = ? AND id = ?", appID, id).Delete(&Destination{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errNotFound("destination")
		}
		if err := tx.Where("destination_id = ?", id).Delete(&Delivery{}).Error; err != nil {
			return fmt.Errorf("delete the destination's deliveries: %w", err)
		}
		return nil
	})
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
