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
	api  bool // the HTTP API, on STANDING_ADDR
	work bool // the workers and the relay (health and metrics on STANDING_METRICS_ADDR)
}

// services are the running parts' shared dependencies.
type services struct {
	cfg   config.Config
	log   *slog.Logger
	store *models.Store
	// redis is how the workers' asynq server connects.
	redis asynq.RedisConnOpt
	// quick is the Redis client of the request path (enqueue after commit, rate limits,
	// /readyz) and the relay: every call on it gives up after about a second.
	quick      redis.UniversalClient
	client     *asynq.Client
	inspector  *asynq.Inspector
	queues     tasks.Queues
	deliveries workers.DeliveryEnqueuer
	// dispatcher enqueues the jobs of every commit (the store's after-commit hook).
	dispatcher *workers.Dispatcher
	// extra mounts dev mode's helpers on the router.
	extra func(chi.Router)
	// started is called with the listen address once the API listens.
	started func(addr net.Addr)
}

// connect opens the queue client and the store, wired so that every commit that makes
// work due (inbox items, webhook deliveries) enqueues its jobs.
func connect(ctx context.Context, cfg config.Config, log *slog.Logger, dsn string, redisOpt asynq.RedisConnOpt) (services, error) {
	quick := workers.QuickRedis(redisOpt)
	client := asynq.NewClientFromRedisClient(quick)
	inspector := asynq.NewInspectorFromRedisClient(quick)
	svc := services{cfg: cfg, log: log, redis: redisOpt, quick: quick, client: client, inspector: inspector}
	svc.deliveries = workers.DeliveryEnqueuer{
		Queue: client, Inspector: inspector, Queues: svc.queues, Timeout: cfg.WebhookTimeout,
		Retries: cfg.WebhookMaxAttempts, Log: log.With("component", "deliveries"),
	}
	svc.dispatcher = &workers.Dispatcher{
		Queue: client, Queues: svc.queues, Deliveries: svc.deliveries, Log: log.With("component", "dispatch"),
		Timeout: workers.QuickTimeout,
	}
	store, err := models.Open(ctx, dsn, models.WithAfterCommit(svc.dispatcher.Committed),
		models.WithIntakeBatching(cfg.IntakeGroupCommit), models.WithPoolSize(cfg.DatabasePool),
		models.WithApplyBatch(cfg.ApplyBatch))
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
	svc.dispatcher.Close()
	svc.closeQueue()
}

func (svc services) closeQueue() {
	_ = svc.inspector.Close()
	_ = svc.client.Close()
	_ = svc.quick.Close()
}

// runProduction runs the API or the workers on PostgreSQL and Redis.
func runProduction(ctx context.Context, e env, r roles) error {
	cfg := e.cfg
	if err := cfg.RequireDatabase(false); err != nil {
		return err
	}
	if err := cfg.RequireRedis(); err != nil {
		return err
	}
	redisOpt, err := asynq.ParseRedisURI(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("%sREDIS_URL: not a Redis URL we can use (redis://host:6379/0)", config.Prefix)
	}
	svc, err := connect(ctx, cfg, e.log, cfg.DatabaseURL, redisOpt)
	if err != nil {
		return err
	}
	defer svc.close()
	if err := requireMigrated(ctx, svc.store); err != nil {
		return err
	}
	e.log.Info("starting", "config", cfg)
	return serve(ctx, svc, r)
}

// process is one running process's parts, started by serve and stopped by shutdown.
type process struct {
	svc      services
	roles    roles
	guard    webhooks.Guard
	registry *prometheus.Registry
	wg       sync.WaitGroup
	errs     chan error
	http     *http.Server
	workers  []*asynq.Server
	closers  []func()
}

// serve runs the API and/or the workers until ctx ends, then shuts them down gracefully:
// the API stops taking requests and finishes those in flight, the workers stop taking
// jobs and finish (or hand back) those in flight.
func serve(ctx context.Context, svc services, r roles) error {
	p := &process{
		svc: svc, roles: r, errs: make(chan error, 2),
		guard:    webhooks.Guard{Allow: svc.cfg.WebhookAllowCIDRs},
		registry: newRegistry(svc),
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := p.startHTTP(); err != nil {
		p.shutdown(cancel)
		return err
	}
	if r.work {
		if err := p.startWorkers(runCtx); err != nil {
			p.shutdown(cancel)
			return err
		}
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-p.errs:
	}
	svc.log.Info("shutting down")
	p.shutdown(cancel)
	return runErr
}

// newRegistry is the Prometheus registry of the process, with the Go, process and
// queue series (the queue's present from the start, every queue at zero).
func newRegistry(svc services) *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		workers.NewQueueCollector(svc.inspector, svc.queues, svc.log.With("component", "metrics")),
	)
	return registry
}

// handler is the HTTP handler of the process: the API, or a work process's health and
// metrics.
func (p *process) handler() http.Handler {
	svc := p.svc
	pinger := redisPinger{svc.quick}
	if !p.roles.api {
		return p.profiled(ingest.NewOps(ingest.Deps{Store: svc.store, Redis: pinger, Log: svc.log, Metrics: p.registry}))
	}
	monitor := asynqmon.New(asynqmon.Options{RootPath: "/ops/queues", RedisConnOpt: svc.redis})
	p.closers = append(p.closers, func() { _ = monitor.Close() })
	return p.profiled(ingest.New(ingest.Deps{
		Store: svc.store, Redis: pinger,
		Log: svc.log, AdminToken: svc.cfg.AdminToken, Extra: svc.extra, Guard: p.guard,
		RateLimits: ingest.RateLimits{
			Read: svc.cfg.RateLimitRead, Write: svc.cfg.RateLimitWrite, Intake: svc.cfg.RateLimitIntake,
		},
		RateLimitRedis: svc.quick, Metrics: p.registry, Ops: monitor,
	}))
}

// startHTTP listens: the API on STANDING_ADDR, a work process's health and metrics on
// STANDING_METRICS_ADDR when that is set (otherwise a work process does not listen).
func (p *process) startHTTP() error {
	addr, variable, what := p.svc.cfg.Addr, "ADDR", "API listening"
	if !p.roles.api {
		addr, variable, what = p.svc.cfg.MetricsAddr, "METRICS_ADDR", "health and metrics listening"
		if addr == "" {
			return nil
		}
	}
	listenOn := net.Listen
	if p.roles.api && !p.roles.work {
		// Only production ingest shares its port with its siblings: two dev processes
		// on one port would split the requests between two different databases.
		listenOn = listenShared
	}
	ln, err := listenOn("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s%s: cannot listen on %s: %w", config.Prefix, variable, addr, err)
	}
	p.http = &http.Server{
		Handler:           p.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	p.wg.Go(func() {
		if err := p.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.errs <- fmt.Errorf("serve HTTP: %w", err)
		}
	})
	p.svc.log.Info(what, "addr", ln.Addr().String())
	if p.svc.started != nil {
		p.svc.started(ln.Addr())
	}
	return nil
}

// startWorkers starts the job handlers of a work process and the relay: one asynq server
// for the apply queue, with WorkerConcurrency handlers, and one for the delivery queues,
// with WebhookConcurrency handlers. Deliveries mostly wait on the network, so they get
// many more handlers than the CPU count, without taking slots from applying inbox items.
func (p *process) startWorkers(ctx context.Context) error {
	svc, cfg := p.svc, p.svc.cfg
	metrics := workers.NewMetrics(p.registry)
	deliverer := &workers.Deliverer{
		Store:    svc.store,
		Sender:   webhooks.NewSender(cfg.WebhookTimeout, p.guard, webhooks.IdleConnsPerHost(cfg.WebhookDestinationRequests)),
		Enqueuer: svc.deliveries,
		Policy: webhooks.Policy{
			MaxAttempts:  cfg.WebhookMaxAttempts,
			MaxAge:       cfg.WebhookMaxAge,
			Backoff:      webhooks.Backoff{Initial: cfg.WebhookRetryInitial, Max: cfg.WebhookRetryMaxInterval}.Delay,
			MaxInterval:  cfg.WebhookRetryMaxInterval,
			DisableAfter: disableAfter,
		},
		Limiter:    workers.NewLimiter(cfg.WebhookDestinationConcurrency, cfg.WebhookDestinationRequests),
		Log:        svc.log.With("component", "deliver"),
		Metrics:    metrics,
		RelayAfter: cfg.RelayAfter,
	}
	periodic := &workers.Periodic{Store: svc.store, Log: svc.log.With("component", "periodic")}
	mux := workers.NewMux(&workers.Handlers{Store: svc.store, Log: svc.log, Deliverer: deliverer, Periodic: periodic})
	mux.Use(metrics.Middleware)
	pools := []workers.ServerConfig{
		{Concurrency: cfg.WorkerConcurrency, Queues: svc.queues, Priorities: svc.queues.ApplyPriorities(),
			Log: svc.log, RetryMax: cfg.RelayAfter},
		{Concurrency: cfg.WebhookConcurrency, Queues: svc.queues, Priorities: svc.queues.WebhookPriorities(),
			Log: svc.log, RetryMax: cfg.RelayAfter},
	}
	for _, pool := range pools {
		server := workers.NewServer(svc.redis, pool)
		if err := server.Start(mux); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
		p.workers = append(p.workers, server)
	}
	relay := &workers.Relay{
		Store: svc.store, Queue: svc.client, Inspector: svc.inspector, Queues: svc.queues,
		Log: svc.log.With("component", "relay"), After: cfg.RelayAfter, Deliveries: &svc.deliveries,
	}
	p.wg.Go(func() { relay.Run(ctx) })
	scheduler := &workers.Scheduler{
		Store: svc.store, Queue: svc.client, Inspector: svc.inspector, Queues: svc.queues,
		Log: svc.log.With("component", "scheduler"), AMLRescan: true,
	}
	p.wg.Go(func() { scheduler.Run(ctx) })
	svc.log.Info("workers running", "apply_concurrency", cfg.WorkerConcurrency,
		"webhook_concurrency", cfg.WebhookConcurrency, "destination_concurrency", cfg.WebhookDestinationConcurrency,
		"destination_requests", cfg.WebhookDestinationRequests)
	return nil
}

// shutdown stops the HTTP server (finishing requests in flight), then the relay (by
// cancel) and the workers, and waits for them.
func (p *process) shutdown(cancel context.CancelFunc) {
	if p.http != nil {
		ctx, stop := context.WithTimeout(context.Background(), 15*time.Second)
		if err := p.http.Shutdown(ctx); err != nil {
			p.svc.log.Warn("HTTP shutdown did not finish cleanly", "error", err)
		}
		stop()
	}
	cancel()
	for _, w := range p.workers {
		w.Shutdown()
	}
	p.wg.Wait()
	for _, c := range p.closers {
		c()
	}
}

// redisPinger lets /readyz ping Redis with the request's deadline.
type redisPinger struct{ c redis.UniversalClient }

func (p redisPinger) Ping(ctx context.Context) error { return p.c.Ping(ctx).Err() }

// profiled adds the runtime profiles to h when STANDING_PPROF is on.
func (p *process) profiled(h http.Handler) http.Handler {
	if !p.svc.cfg.Pprof {
		return h
	}
	p.svc.log.Warn("serving runtime profiles without authentication under /debug/pprof/ (STANDING_PPROF)")
	return withPprof(h)
}

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
