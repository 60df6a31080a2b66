package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/standinghq/standing/models"
)

// runMigrate applies the pending migrations, once even when several processes run it.
func runMigrate(ctx context.Context, e env) error {
	if err := e.cfg.RequireDatabase(true); err != nil {
		return err
	}
	store, err := models.Open(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.Migrate(ctx, models.WithMigrationLock(), models.WithMigrationLog(e.log))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "applied %d migration(s); the database is up to date\n", n)
	return nil
}

// setupAppsCreate declares the flags of `apps create`.
func setupAppsCreate(fs *flag.FlagSet) action {
	name := fs.String("name", "", "the application's name (required)")
	key := fs.String("api-key", "", "the API key to give it (generated when empty)")
	secret := fs.String("ingest-secret", "", "the upstream's signing secret (generated when empty)")
	return func(ctx context.Context, e env) error {
		if *name == "" {
			return fmt.Errorf("%w: standing apps create --name NAME [--api-key KEY] [--ingest-secret S]: --name is required", errUsage)
		}
		store, err := openMigrated(ctx, e)
		if err != nil {
			return err
		}
		defer store.Close()
		app, err := store.CreateApplicationWith(ctx, models.ApplicationInput{Name: *name, APIKey: *key, IngestSecret: *secret})
		if err != nil {
			return err
		}
		return json.NewEncoder(e.stdout).Encode(map[string]string{
			"application_id": app.Application.ID,
			"name":           app.Application.Name,
			"api_key":        app.APIKey,
			"ingest_secret":  app.IngestSecret,
		})
	}
}

// setupSetIngestSecret declares the flags of `apps set-ingest-secret`: it sets an
// application's ingest secret (the upstream's own signing key); the previous one stays
// valid for models.IngestSecretGrace.
func setupSetIngestSecret(fs *flag.FlagSet) action {
	appID := fs.String("app", "", "the application's id (required)")
	secret := fs.String("secret", "", "the new ingest secret (required)")
	return func(ctx context.Context, e env) error {
		if *appID == "" || *secret == "" {
			return fmt.Errorf("%w: standing apps set-ingest-secret --app ID --secret S", errUsage)
		}
		store, err := openMigrated(ctx, e)
		if err != nil {
			return err
		}
		defer store.Close()
		app, err := store.SetIngestSecret(ctx, *appID, *secret)
		if err != nil {
			return fmt.Errorf("apps set-ingest-secret: %w", err)
		}
		out := map[string]any{"application_id": app.ID, "ingest_secret_set": true, "previous_valid_until": nil}
		if app.PreviousIngestSecretExpiresAt != nil {
			out["previous_valid_until"] = models.FormatTime(*app.PreviousIngestSecretExpiresAt)
		}
		return json.NewEncoder(e.stdout).Encode(out)
	}
}

// runAppsList prints the applications.
func runAppsList(ctx context.Context, e env) error {
	store, err := openMigrated(ctx, e)
	if err != nil {
		return err
	}
	defer store.Close()
	apps, err := store.ListApplications(ctx)
	if err != nil {
		return err
	}
	out := make([]map[string]string, len(apps))
	for i, a := range apps {
		out[i] = map[string]string{"application_id": a.ID, "name": a.Name, "created_at": models.FormatTime(a.CreatedAt)}
	}
	return json.NewEncoder(e.stdout).Encode(out)
}

// openMigrated opens the configured database, refusing a missing STANDING_DATABASE_URL
// and a database that is not migrated.
func openMigrated(ctx context.Context, e env) (*models.Store, error) {
	if err := e.cfg.RequireDatabase(true); err != nil {
		return nil, err
	}
	store, err := models.Open(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := requireMigrated(ctx, store); err != nil {
		store.Close()
		return nil, err
	}
	return store, nil
}

// requireMigrated refuses a database with pending migrations.
func requireMigrated(ctx context.Context, store *models.Store) error {
	pending, err := store.PendingMigrations(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending > 0 {
		return fmt.Errorf("the database lacks %d migration(s): run `standing migrate` first", pending)
	}
	return nil
}
