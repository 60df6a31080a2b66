package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/standinghq/standing/config"
	"github.com/standinghq/standing/models"
)

// runMigrate applies the pending migrations, once even when several processes run it.
func runMigrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if err := cfg.RequireDatabase(true); err != nil {
		return err
	}
	store, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := store.Migrate(ctx, models.WithMigrationLock(), models.WithMigrationLog(log))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "applied %d migration(s); the database is up to date\n", n)
	return nil
}

// runApps creates and lists applications.
func runApps(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: %s", errUsage, appsUsage)
	}
	if err := cfg.RequireDatabase(true); err != nil {
		return err
	}
	switch args[0] {
	case "create":
		fs := flag.NewFlagSet("apps create", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		name := fs.String("name", "", "the application's name")
		key := fs.String("api-key", "", "the API key to give it (generated when empty)")
		secret := fs.String("ingest-secret", "", "the upstream's signing secret (generated when empty)")
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: apps create: %v", errUsage, err)
		}
		if *name == "" || fs.NArg() > 0 {
			return fmt.Errorf("%w: standing apps create --name NAME [--api-key KEY] [--ingest-secret S]", errUsage)
		}
		store, err := openMigrated(ctx, cfg)
		if err != nil {
			return err
		}
		defer store.Close()
		app, err := store.CreateApplicationWith(ctx, models.ApplicationInput{Name: *name, APIKey: *key, IngestSecret: *secret})
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(map[string]string{
			"application_id": app.Application.ID,
			"name":           app.Application.Name,
			"api_key":        app.APIKey,
			"ingest_secret":  app.IngestSecret,
		})
	case "set-ingest-secret":
		return runSetIngestSecret(ctx, cfg, args[1:], stdout)
	case "list":
		store, err := openMigrated(ctx, cfg)
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
		return json.NewEncoder(stdout).Encode(out)
	default:
		return fmt.Errorf("%w: unknown apps command %q (create, set-ingest-secret, list)", errUsage, args[0])
	}
}

// appsUsage is the usage line of standing apps.
const appsUsage = "standing apps create --name NAME [--api-key KEY] [--ingest-secret S] | " +
	"standing apps set-ingest-secret --app ID --secret S | standing apps list"

// runSetIngestSecret sets an application's ingest secret (the upstream's own signing
// key); the previous one stays valid for models.IngestSecretGrace.
func runSetIngestSecret(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("apps set-ingest-secret", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	appID := fs.String("app", "", "the application's id")
	secret := fs.String("secret", "", "the new ingest secret")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: apps set-ingest-secret: %v", errUsage, err)
	}
	if *appID == "" || *secret == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: standing apps set-ingest-secret --app ID --secret S", errUsage)
	}
	store, err := openMigrated(ctx, cfg)
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
	return json.NewEncoder(stdout).Encode(out)
}

// openMigrated opens the configured database and refuses one that is not migrated.
func openMigrated(ctx context.Context, cfg config.Config) (*models.Store, error) {
	store, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	pending, err := store.PendingMigrations(ctx)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("check migrations: %w", err)
	}
	if pending > 0 {
		store.Close()
		return nil, fmt.Errorf("the database lacks %d migration(s): run `standing migrate` first", pending)
	}
	return store, nil
}
