package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/config"
	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

// roles says which parts a process runs.
type roles struct {
	api  bool // the HTTP API
	work bool // the workers and the relay
}

// services are the running parts' shared dependencies.
type services struct {
	cfg    config.Config
	log    *slog.Logger
	store  *models.Store
	redis  asynq.RedisConnOpt
	queues tasks.Queues
	// extra mounts dev mode's helpers on the router.
	extra func(chi.Router)
	// started is called with the listen address once the API listens.
	started func(addr net.Addr)
}

// runProduction runs the API or the workers on PostgreSQL and Redis.
func runProduction(ctx context.Context, cfg config.Config, log *slog.Logger, r roles) error {
	if err := cfg.RequireDatabase(false); err != nil {
		return err
	}
	if err := cfg.RequireRedis(); err != nil {
		return err
	}
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("%sREDIS_URL: %v", config.Prefix, err)
	}
	store, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer store.Close()
	pending, err := store.PendingMigrations(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending > 0 {
		return fmt.Errorf("the database lacks %d migration(s): run `standing migrate` first", pending)
	}
	log.Info("starting", "config", cfg)
	return serve(ctx, services{cfg: cfg, log: log, store: store, redis: redisOpt}, r)
}

// serve runs the API and/or the workers until ctx ends, then shuts them down gracefully:
// the API stops taking requests and finishes those in flight, the workers stop taking
// jobs and finish (or hand back) those in flight.
func serve(ctx context.Context, svc services, r roles) error {
	client := asynq.NewClient(svc.redis)
	defer client.Close()

	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)

	var httpServer *http.Server
	if r.api {
		ln, err := net.Listen("tcp", svc.cfg.Addr)
		if err != nil {
			return fmt.Errorf("%sADDR: listen on %s: %w", config.Prefix, svc.cfg.Addr, err)
		}
		handler := ingest.New(ingest.Deps{
			Store: svc.store, Queue: client, Queues: svc.queues, Redis: clientPinger{client},
			Log: svc.log, AdminToken: svc.cfg.AdminToken, Extra: svc.extra,
		})
		httpServer = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
		}
		wg.Go(func() {
			if err := httpServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("serve HTTP: %w", err)
			}
		})
		svc.log.Info("API listening", "addr", ln.Addr().String())
		if svc.started != nil {
			svc.started(ln.Addr())
		}
	}

	var worker *asynq.Server
	if r.work {
		worker = workers.NewServer(svc.redis, workers.ServerConfig{
			Concurrency: svc.cfg.WorkerConcurrency, Queues: svc.queues, Log: svc.log,
		})
		if err := worker.Start(workers.NewMux(&workers.Handlers{Store: svc.store, Log: svc.log})); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		inspector := asynq.NewInspector(svc.redis)
		defer inspector.Close()
		relay := &workers.Relay{
			Store: svc.store, Queue: client, Inspector: inspector, Queues: svc.queues,
			Log: svc.log.With("component", "relay"), After: svc.cfg.RelayAfter,
		}
		wg.Go(func() { relay.Run(runCtx) })
		svc.log.Info("workers running", "concurrency", svc.cfg.WorkerConcurrency)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
	}
	svc.log.Info("shutting down")
	if httpServer != nil {
		shutdownCtx, stop := context.WithTimeout(context.Background(), 15*time.Second)
		if err := httpServer.Shutdown(shutdownCtx); err != nil {
			svc.log.Warn("HTTP shutdown did not finish cleanly", "error", err)
		}
		stop()
	}
	cancel()
	if worker != nil {
		worker.Shutdown()
	}
	wg.Wait()
	return runErr
}

// clientPinger lets /readyz ping Redis through the queue client.
type clientPinger struct{ c *asynq.Client }

func (p clientPinger) Ping(context.Context) error { return p.c.Ping() }
