package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/config"
	"github.com/standinghq/standing/models"
)

// devCredentials are dev mode's seeded application and secrets, kept in the data
// directory so that a restart prints the same key.
type devCredentials struct {
	ApplicationID string `json:"application_id"`
	APIKey        string `json:"api_key"`
	IngestSecret  string `json:"ingest_secret"`
	AdminToken    string `json:"admin_token"`
}

// runDev runs the API and the workers in one process, on a SQLite file in the data
// directory (or STANDING_DATABASE_URL) and an in-process Redis (or STANDING_REDIS_URL).
func runDev(ctx context.Context, e env) error {
	cfg, log, stdout := e.cfg, e.log, e.stdout
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("%sDATA_DIR: %w", config.Prefix, err)
	}
	dsn := cfg.DatabaseURL
	if dsn == "" {
		dsn = filepath.Join(cfg.DataDir, "standing.db")
	}
	var redisOpt asynq.RedisConnOpt
	redisDesc := cfg.RedisURL
	if cfg.RedisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("start the in-process Redis: %w", err)
		}
		defer mr.Close()
		redisOpt = asynq.RedisClientOpt{Addr: mr.Addr()}
		redisDesc = "in-process"
	} else {
		var err error
		if redisOpt, err = asynq.ParseRedisURI(cfg.RedisURL); err != nil {
			return fmt.Errorf("%sREDIS_URL: not a Redis URL we can use (redis://host:6379/0)", config.Prefix)
		}
	}
	svc, err := connect(ctx, cfg, log, dsn, redisOpt)
	if err != nil {
		return err
	}
	defer svc.close()
	store := svc.store
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}

	creds, err := seedDevApplication(ctx, store, cfg)
	if err != nil {
		return err
	}
	cfg.AdminToken = creds.AdminToken

	svc.cfg = cfg
	sink := newDevSink()
	svc.extra = sink.routes
	svc.started = func(addr net.Addr) {
		url := "http://" + addr.String()
		fmt.Fprintf(stdout, `Standing is running in dev mode (not for production).

  URL:            %s
  API key:        %s
  Admin token:    %s
  Application:    %s
  Ingest secret:  %s
  Database:       %s
  Redis:          %s

Try it:
  curl -s -H 'x-api-key: %s' %s/v3/users/

Watch webhooks arrive: create a destination with the url %s/dev/sink/demo,
then: curl -s %s/dev/sink/demo

`, url, creds.APIKey, creds.AdminToken, creds.ApplicationID, creds.IngestSecret, config.RedactURL(dsn), config.RedactURL(redisDesc),
			creds.APIKey, url, url, url)
	}
	return serve(ctx, svc, roles{api: true, work: true})
}

// seedDevApplication returns dev mode's application, creating it on the first start.
// STANDING_API_KEY, when set, becomes (one of) its API keys; STANDING_ADMIN_TOKEN, when
// set, is the admin token; STANDING_INGEST_SECRET, when set, is its ingest secret (the
// previous one stays valid for a day when it changes).
func seedDevApplication(ctx context.Context, store *models.Store, cfg config.Config) (devCredentials, error) {
	path := filepath.Join(cfg.DataDir, "dev-credentials.json")
	var creds devCredentials
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &creds); err != nil {
			return creds, fmt.Errorf("read %s: %w (delete it to start afresh)", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return creds, err
	}
	if creds.ApplicationID != "" {
		if _, err := store.ApplicationByID(ctx, creds.ApplicationID); err != nil {
			creds = devCredentials{} // the database was replaced: seed again
		}
	}
	if creds.ApplicationID == "" {
		app, err := store.CreateApplicationWith(ctx, models.ApplicationInput{Name: "dev", APIKey: cfg.APIKey, IngestSecret: cfg.IngestSecret})
		if err != nil {
			return creds, fmt.Errorf("seed the dev application: %w", err)
		}
		creds = devCredentials{
			ApplicationID: app.Application.ID, APIKey: app.APIKey,
			IngestSecret: app.IngestSecret, AdminToken: models.GenerateSecret("adm_"),
		}
	} else if cfg.APIKey != "" && cfg.APIKey != creds.APIKey {
		if err := store.AddAPIKey(ctx, creds.ApplicationID, cfg.APIKey); err != nil {
			return creds, fmt.Errorf("%sAPI_KEY: %w", config.Prefix, err)
		}
		creds.APIKey = cfg.APIKey
	}
	if cfg.IngestSecret != "" && cfg.IngestSecret != creds.IngestSecret {
		if _, err := store.SetIngestSecret(ctx, creds.ApplicationID, cfg.IngestSecret); err != nil {
			return creds, fmt.Errorf("%sINGEST_SECRET: %w", config.Prefix, err)
		}
		creds.IngestSecret = cfg.IngestSecret
	}
	if cfg.AdminToken != "" {
		creds.AdminToken = cfg.AdminToken
	}
	data, err = json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return creds, err
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return creds, fmt.Errorf("write %s: %w", path, err)
	}
	return creds, nil
}
