package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Application is a tenant: it owns API keys, settings, entities, lists and webhooks.
type Application struct {
	ID           string `gorm:"primaryKey"`
	Name         string `gorm:"not null"`
	IngestSecret string `gorm:"not null"`
	// PreviousIngestSecret, replaced by SetIngestSecret, stays valid until
	// PreviousIngestSecretExpiresAt so that a rotation loses no upstream event.
	PreviousIngestSecret          *string
	PreviousIngestSecretExpiresAt *time.Time
	Settings                      Settings  `gorm:"type:jsonb;not null"`
	CreatedAt                     time.Time `gorm:"not null"`
	UpdatedAt                     time.Time `gorm:"not null"`
}

// APIKey is one API key of an application. Only the SHA-256 of the key is stored.
type APIKey struct {
	ID            string    `gorm:"primaryKey"`
	ApplicationID string    `gorm:"not null"`
	Prefix        string    `gorm:"not null"`
	Hash          string    `gorm:"not null;uniqueIndex"`
	CreatedAt     time.Time `gorm:"not null"`
	RevokedAt     *time.Time
}

// NewApplication is what CreateApplication returns: the application and the secrets that
// are shown once.
type NewApplication struct {
	Application  Application
	APIKey       string
	IngestSecret string
}

// MinAPIKeyLength is the shortest API key accepted.
const MinAPIKeyLength = 16

// GenerateSecret returns prefix followed by the URL-safe base64 of 32 random bytes.
func GenerateSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// randomBase64 returns the standard base64 of n random bytes.
func randomBase64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return base64.StdEncoding.EncodeToString(b)
}

// HashAPIKey returns the stored form of an API key. Keys are long random strings, so one
// round of SHA-256 is enough to make the stored form useless to a reader of the database.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// IngestSecrets returns the ingest secrets valid at now: the current one, then the
// previous one while its grace period lasts.
func (a *Application) IngestSecrets(now time.Time) []string {
	secrets := []string{a.IngestSecret}
	if a.PreviousIngestSecret != nil && a.PreviousIngestSecretExpiresAt != nil && now.Before(*a.PreviousIngestSecretExpiresAt) {
		secrets = append(secrets, *a.PreviousIngestSecret)
	}
	return secrets
}

// IngestSecretGrace is how long a replaced ingest secret stays valid.
const IngestSecretGrace = 24 * time.Hour

// Limits of an ingest secret that is set rather than generated (the upstream's own
// signing key, such as the vendor's webhook "secret shared key").
const (
	MinIngestSecretLength = 16
	MaxIngestSecretLength = 512
)

// CheckIngestSecret says what, if anything, makes secret unusable as an ingest secret.
func CheckIngestSecret(secret string) error {
	if len(secret) < MinIngestSecretLength || len(secret) > MaxIngestSecretLength {
		return invalid("ingest_secret", fmt.Sprintf("must be %d to %d characters", MinIngestSecretLength, MaxIngestSecretLength))
	}
	for _, r := range secret {
		if r <= ' ' || r == 0x7f {
			return invalid("ingest_secret", "must not contain spaces or control characters")
		}
	}
	return nil
}

// CreateApplication creates an application with default settings, an ingest secret and
// one API key: apiKey when given, otherwise a generated one.
func (s *Store) CreateApplication(ctx context.Context, name, apiKey string) (NewApplication, error) {
	return s.CreateApplicationWith(ctx, ApplicationInput{Name: name, APIKey: apiKey})
}

// ApplicationInput is what CreateApplicationWith needs; empty secrets are generated.
type ApplicationInput struct {
	Name, APIKey, IngestSecret string
}

// CreateApplicationWith creates an application with default settings, the given (or a
// generated) ingest secret and one API key (the given one, or a generated one).
func (s *Store) CreateApplicationWith(ctx context.Context, in ApplicationInput) (NewApplication, error) {
	name, apiKey := strings.TrimSpace(in.Name), in.APIKey
	if name == "" {
		return NewApplication{}, errors.New("application name must not be empty")
	}
	if apiKey == "" {
		apiKey = GenerateSecret("sk_")
	}
	if len(apiKey) < MinAPIKeyLength {
		return NewApplication{}, fmt.Errorf("API key must be at least %d characters", MinAPIKeyLength)
	}
	ingestSecret := in.IngestSecret
	if ingestSecret == "" {
		ingestSecret = GenerateSecret("isk_")
	} else if err := CheckIngestSecret(ingestSecret); err != nil {
		return NewApplication{}, err
	}
	now := s.Now()
	app := Application{
		ID:           newID(),
		Name:         name,
		IngestSecret: ingestSecret,
		Settings:     DefaultSettings(),
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	err := s.transaction(ctx, func(tx *txn) error {
		if err := tx.Create(&app).Error; err != nil {
			return err
		}
		return insertAPIKey(tx, app.ID, apiKey, now)
	})
	if err != nil {
		return NewApplication{}, err
	}
	return NewApplication{Application: app, APIKey: apiKey, IngestSecret: app.IngestSecret}, nil
}

func insertAPIKey(tx *txn, appID, key string, now time.Time) error {
	row := APIKey{
		ID:            newID(),
		ApplicationID: appID,
		Prefix:        key[:min(len(key), 7)],
		Hash:          HashAPIKey(key),
		CreatedAt:     now,
	}
	if err := tx.Create(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return conflictf("that API key is already in use")
		}
		return err
	}
	return nil
}

// AddAPIKey adds key to an application; adding a key it already has is a no-op.
func (s *Store) AddAPIKey(ctx context.Context, appID, key string) error {
	if len(key) < MinAPIKeyLength {
		return fmt.Errorf("API key must be at least %d characters", MinAPIKeyLength)
	}
	return s.transaction(ctx, func(tx *txn) error {
		var existing APIKey
		err := tx.Where("hash = ?", HashAPIKey(key)).Take(&existing).Error
		switch {
		case err == nil && existing.ApplicationID == appID:
			return nil
		case err == nil:
			return conflictf("that API key belongs to another application")
		case !errors.Is(err, gorm.ErrRecordNotFound):
			return err
		}
		return insertAPIKey(tx, appID, key, s.Now())
	})
}

// SetIngestSecret makes secret the application's ingest secret; the one it replaces
// stays valid for IngestSecretGrace more. Setting the current secret again changes
// nothing.
func (s *Store) SetIngestSecret(ctx context.Context, appID, secret string) (*Application, error) {
	if err := CheckIngestSecret(secret); err != nil {
		return nil, err
	}
	if !validUUID(appID) {
		return nil, fmt.Errorf("application: %w", ErrNotFound)
	}
	var app Application
	err := s.transaction(ctx, func(tx *txn) error {
		if err := forUpdate(tx).Where("id = ?", appID).Take(&app).Error; err != nil {
			return notFound(err, "application")
		}
		if app.IngestSecret == secret {
			return nil
		}
		now := tx.Now()
		old, expires := app.IngestSecret, now.Add(IngestSecretGrace)
		app.PreviousIngestSecret, app.PreviousIngestSecretExpiresAt = &old, &expires
		app.IngestSecret, app.UpdatedAt = secret, now
		return tx.Model(&app).Select("ingest_secret", "previous_ingest_secret", "previous_ingest_secret_expires_at", "updated_at").Updates(&app).Error
	})
	s.apiKeys.clear()
	if err != nil {
		return nil, err
	}
	return &app, nil
}

// ApplicationByAPIKey returns the application that owns a live API key.
func (s *Store) ApplicationByAPIKey(ctx context.Context, key string) (*Application, error) {
	if key == "" {
		return nil, errNotFound("application")
	}
	hash, now := HashAPIKey(key), time.Now() // the cache's own clock: a test's store clock may stand still
	app, generation, ok := s.apiKeys.get(hash, now)
	if ok {
		return app, nil
	}
	app = &Application{}
	err := s.db.WithContext(ctx).
		Joins("JOIN api_keys ON api_keys.application_id = applications.id").
		Where("api_keys.hash = ? AND api_keys.revoked_at IS NULL", hash).
		Take(app).Error
	if err != nil {
		return nil, notFound(err, "application")
	}
	s.apiKeys.put(hash, app, now, generation)
	return app, nil
}

// ApplicationByID returns one application.
func (s *Store) ApplicationByID(ctx context.Context, id string) (*Application, error) {
	if !validUUID(id) {
		return nil, errNotFound("application")
	}
	var app Application
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&app).Error; err != nil {
		return nil, notFound(err, "application")
	}
	return &app, nil
}

// ListApplications returns every application, oldest first.
func (s *Store) ListApplications(ctx context.Context) ([]Application, error) {
	var apps []Application
	err := s.db.WithContext(ctx).Order("created_at, id").Find(&apps).Error
	return apps, err
}
