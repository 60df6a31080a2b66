package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hibiken/asynq"
	asynqmetrics "github.com/hibiken/asynq/x/metrics"
	"github.com/hibiken/asynqmon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/standinghq/standing/config"
	"github.com/standinghq/standing/ingest"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/webhooks"
	"github.com/standinghq/standing/workers"
)

// disableAfter is how long a destination may fail without a success before it is
// disabled.
const disableAfter = 5 * 24 * time.Hour

// roles says which parts a process runs.
type roles struct {
	api  bool // the HTTP API
	work bool // the workers and the relay
}

// services are the running parts' shared dependencies.
type services struct {
	cfg        config.Config
	log        *slog.Logger
	store      *models.Store
	redis      asynq.RedisConnOpt
	client     *asynq.Client
	inspector  *asynq.Inspector
	queues     tasks.Queues
	deliveries workers.DeliveryEnqueuer
	// extra mounts dev mode's helpers on the router.
	extra func(chi.Router)
	// started is called with the listen address once the API listens.
	started func(addr net.Addr)
}

// connect opens the queue client and the store, wired so that every commit that makes
// work due (inbox items, webhook deliveries) enqueues its jobs.
func connect(ctx context.Context, cfg config.Config, log *slog.Logger, dsn string, redis asynq.RedisConnOpt) (services, error) {
	client := asynq.NewClient(redis)
	inspector := asynq.NewInspector(redis)
	svc := services{cfg: cfg, log: log, redis: redis, client: client, inspector: inspector}
	svc.deliveries = workers.DeliveryEnqueuer{
		Queue: client, Inspector: inspector, Queues: svc.queues, Timeout: cfg.WebhookTimeout,
		Retries: cfg.WebhookMaxAttempts, Log: log.With("component", "deliveries"),
	}
	dispatcher := &workers.Dispatcher{
		Queue: client, Queues: svc.queues, Deliveries: svc.deliveries, Log: log.With("component", "dispatch"),
	}
	store, err := models.Open(ctx, dsn, models.WithAfterCommit(dispatcher.Committed),
		models.WithIntakeBatching(cfg.IntakeGroupCommit))
	if err != nil {
		svc.closeQueue()
		return svc, err
	}
	svc.store = store
	return svc, nil
}

// close releases what connect opened.
func (svc services) close() {
	_ = svc.store.Close()
	svc.closeQueue()
}

func (svc services) closeQueue() {
	_ = svc.inspector.Close()
	_ = svc.client.Close()
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
	svc, err := connect(ctx, cfg, log, cfg.DatabaseURL, redisOpt)
	if err != nil {
		return err
	}
	defer svc.close()
	pending, err := svc.store.PendingMigrations(ctx)
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if pending > 0 {
		return fmt.Errorf("the database lacks %d migration(s): run `standing migrate` first", pending)
	}
	log.Info("starting", "config", cfg)
	return serve(ctx, svc, r)
}

// serve runs the API and/or the workers until ctx ends, then shuts them down gracefully:
// the API stops taking requests and finishes those in flight, the workers stop taking
// jobs and finish (or hand back) those in flight.
func serve(ctx context.Context, svc services, r roles) error {
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	guard := webhooks.Guard{Allow: svc.cfg.WebhookAllowCIDRs}
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		asynqmetrics.NewQueueMetricsCollector(svc.inspector),
	)
	var httpHandler http.Handler

	if r.api {
		rateRedis := svc.redis.MakeRedisClient().(redis.UniversalClient)
		defer rateRedis.Close()
		monitor := asynqmon.New(asynqmon.Options{RootPath: "/ops/queues", RedisConnOpt: svc.redis})
		defer monitor.Close()
		httpHandler = ingest.New(ingest.Deps{
			Store: svc.store, Redis: clientPinger{svc.client},
			Log: svc.log, AdminToken: svc.cfg.AdminToken, Extra: svc.extra, Guard: guard,
			RateLimits: ingest.RateLimits{
				Read: svc.cfg.RateLimitRead, Write: svc.cfg.RateLimitWrite, Intake: svc.cfg.RateLimitIntake,
			},
			RateLimitRedis: rateRedis, Metrics: registry, Ops: monitor,
		})
	} else {
		// A work process serves only its health and metrics.
		httpHandler = ingest.NewOps(ingest.Deps{Store: svc.store, Redis: clientPinger{svc.client}, Log: svc.log, Metrics: registry})
	}

	if svc.cfg.Pprof {
		httpHandler = withPprof(httpHandler)
		svc.log.Warn("serving runtime profiles without authentication under /debug/pprof/ (STANDING_PPROF)")
	}

	var httpServer *http.Server
	{
		ln, err := net.Listen("tcp", svc.cfg.Addr)
		if err != nil {
			return fmt.Errorf("%sADDR: listen on %s: %w", config.Prefix, svc.cfg.Addr, err)
		}
		httpServer = &http.Server{
			Handler:           httpHandler,
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
		if r.api {
			svc.log.Info("API listening", "addr", ln.Addr().String())
		} else {
			svc.log.Info("health and metrics listening", "addr", ln.Addr().String())
		}
		if svc.started != nil {
			svc.started(ln.Addr())
		}
	}

	var servers []*asynq.Server
	if r.work {
		var err error
		if servers, err = startWorkers(svc, registry, guard); err != nil {
			return err
		}
		relay := &workers.Relay{
			Store: svc.store, Queue: svc.client, Inspector: svc.inspector, Queues: svc.queues,
			Log: svc.log.With("component", "relay"), After: svc.cfg.RelayAfter, Deliveries: &svc.deliveries,
		}
		wg.Go(func() { relay.Run(runCtx) })
		scheduler := &workers.Scheduler{
			Store: svc.store, Queue: svc.client, Inspector: svc.inspector, Queues: svc.queues,
			Log: svc.log.With("component", "scheduler"), AMLRescan: true,
		}
		wg.Go(func() { scheduler.Run(runCtx) })
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
	for _, w := range servers {
		w.Shutdown()
	}
	wg.Wait()
	return runErr
}

// startWorkers starts the job handlers of a work process: one asynq server for the
// apply queue, with WorkerConcurrency handlers, and one for the delivery queues, with
// WebhookConcurrency handlers. Deliveries mostly wait on the network, so they get many
// more handlers than the CPU count, without taking slots from applying inbox items.
func startWorkers(svc services, registry *prometheus.Registry, guard webhooks.Guard) ([]*asynq.Server, error) {
	cfg := svc.cfg
	deliverer := &workers.Deliverer{
		Store:    svc.store,
		Sender:   webhooks.NewSender(cfg.WebhookTimeout, guard),
		Enqueuer: svc.deliveries,
		Policy: webhooks.Policy{
			MaxAttempts:  cfg.WebhookMaxAttempts,
			MaxAge:       cfg.WebhookMaxAge,
			Backoff:      webhooks.Backoff{Initial: cfg.WebhookRetryInitial, Max: cfg.WebhookRetryMaxInterval}.Delay,
			MaxInterval:  cfg.WebhookRetryMaxInterval,
			DisableAfter: disableAfter,
		},
		Limiter: workers.NewLimiter(cfg.WebhookDestinationConcurrency),
		Log:     svc.log.With("component", "deliver"),
	}
	metrics := workers.NewMetrics(registry)
	deliverer.Metrics = metrics
	periodic := &workers.Periodic{Store: svc.store, Log: svc.log.With("component", "periodic")}
	mux := workers.NewMux(&workers.Handlers{Store: svc.store, Log: svc.log, Deliverer: deliverer, Periodic: periodic})
	mux.Use(metrics.Middleware)
	pools := []workers.ServerConfig{
		{Concurrency: cfg.WorkerConcurrency, Queues: svc.queues, Priorities: svc.queues.ApplyPriorities(), Log: svc.log},
		{Concurrency: cfg.WebhookConcurrency, Queues: svc.queues, Priorities: svc.queues.WebhookPriorities(), Log: svc.log},
	}
	var servers []*asynq.Server
	for _, pool := range pools {
		server := workers.NewServer(svc.redis, pool)
		if err := server.Start(mux); err != nil {
			for _, started := range servers {
				started.Shutdown()
			}
			return nil, fmt.Errorf("start workers: %w", err)
		}
		servers = append(servers, server)
	}
	svc.log.Info("workers running", "apply_concurrency", cfg.WorkerConcurrency,
		"webhook_concurrency", cfg.WebhookConcurrency, "destination_concurrency", cfg.WebhookDestinationConcurrency)
	return servers, nil
}

// clientPinger lets /readyz ping Redis through the queue client.
type clientPinger struct{ c *asynq.Client }

func (p clientPinger) Ping(context.Context) error { return p.c.Ping() }

// withPprof serves Go's runtime profiles under /debug/pprof/ in front of next.
func withPprof(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", next)
	return mux
}
