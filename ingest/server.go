// Package ingest is Standing's HTTP API: routing, authentication, validation and the
// mapping of errors to answers. Handlers are thin: reads come from the store, writes go
// to the store in one transaction, and work that can wait goes to the inbox and a job.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/webhooks"
)

// Pinger checks that a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps are what the API needs.
type Deps struct {
	Store *models.Store
	// Redis is pinged by /readyz.
	Redis Pinger
	Log   *slog.Logger
	// AdminToken guards the admin endpoints; empty disables them.
	AdminToken string
	// Extra mounts more routes (dev mode's helpers) on the router.
	Extra func(chi.Router)
	// Now is the clock (signature tolerance, timestamp checks); nil means time.Now.
	Now func() time.Time
	// Guard checks webhook destination URLs; Resolver resolves their hosts (nil means
	// net.DefaultResolver).
	Guard    webhooks.Guard
	Resolver webhooks.Resolver
	// RateLimits are enforced per API key, counted in RateLimitRedis (shared by every
	// ingest process); without a client nothing is limited. RateLimitPrefix namespaces
	// the counters (tests).
	RateLimits      RateLimits
	RateLimitRedis  redis.UniversalClient
	RateLimitPrefix string
	// Metrics is the Prometheus registry served at /metrics (with the API's own series);
	// nil serves none.
	Metrics *prometheus.Registry
	// Ops is the queue monitor served at /ops/queues/ behind the admin token; nil serves
	// none.
	Ops http.Handler
}

type server struct {
	store      *models.Store
	redis      Pinger
	log        *slog.Logger
	adminToken string
	now        func() time.Time
	guard      webhooks.Guard
	resolver   webhooks.Resolver
	limiters   *rateLimiters
}

// New returns the HTTP handler of the API.
func New(d Deps) http.Handler {
	s := &server{
		store: d.Store, redis: d.Redis,
		log: d.Log, adminToken: d.AdminToken, now: d.Now, guard: d.Guard, resolver: d.Resolver,
	}
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	s.limiters = newRateLimiters(d.RateLimits, d.RateLimitRedis, d.RateLimitPrefix, d.Log)
	if s.now == nil {
		s.now = time.Now
	}
	r := chi.NewRouter()
	if d.Metrics != nil {
		r.Use(newHTTPMetrics(d.Metrics).observe)
	}
	r.Use(routeOnEscapedPath, middleware.RequestID, s.recoverer, s.accessLog, s.cleanURL)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{Detail: "Not found: no route for " + r.URL.Path + " (paths end with a slash)."})
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Detail: fmt.Sprintf("Method %q not allowed on %s.", r.Method, r.URL.Path)})
	})
	r.Get("/healthz", s.healthy)
	r.Get("/readyz", s.ready)
	s.mountOps(r, d)
	r.Route("/v3", func(r chi.Router) {
		r.With(s.intakeAuth, s.rateLimit).Post("/ingest/sessions/", s.ingestSession)
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate, s.rateLimit)
			r.Route("/users", func(r chi.Router) { s.entityRoutes(r, models.KindUser) })
			r.Route("/businesses", func(r chi.Router) { s.entityRoutes(r, models.KindBusiness) })
			r.Post("/session/", s.createSession)
			r.Get("/session/{session_id}/", s.getSession)
			r.Route("/lists", s.listRoutes)
			r.Route("/transactions", s.transactionRoutes)
			r.Route("/webhook/destinations", s.webhookRoutes)
			r.Get("/events/", s.listEvents)
			r.Get("/settings/", s.getSettings)
			r.Patch("/settings/", s.patchSettings)
			r.Get("/jobs/{job_id}/", s.getJob)
			r.Route("/audit", s.auditRoutes)
		})
	})
	if d.Extra != nil {
		d.Extra(r)
	}
	return r
}

// healthy answers 200 while the process is up.
func (s *server) healthy(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers 200 when the database and Redis answer, 503 otherwise. It checks both
// at once, the database for at most 2 s and Redis for at most 1 s, so that a stalled
// dependency makes it answer 503 quickly rather than late.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	check := func(p Pinger, timeout time.Duration) chan string {
		out := make(chan string, 1)
		if p == nil {
			out <- "ok"
			return out
		}
		go func() {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			if err := p.Ping(ctx); err != nil {
				out <- "unreachable"
				return
			}
			out <- "ok"
		}()
		return out
	}
	db, rd := check(s.store, 2*time.Second), check(s.redis, time.Second)
	checks := map[string]string{"database": <-db, "redis": <-rd}
	status := http.StatusOK
	if checks["database"] != "ok" || checks["redis"] != "ok" {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, status, map[string]any{"status": map[bool]string{true: "ready", false: "unavailable"}[status == http.StatusOK], "checks": checks})
}

type ctxKey int

const appKey ctxKey = iota

// appFrom returns the application the request authenticated as.
func appFrom(r *http.Request) *models.Application {
	return r.Context().Value(appKey).(*models.Application)
}

// authenticate resolves the x-api-key header to an application, or answers 401.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		app, err := s.store.ApplicationByAPIKey(r.Context(), r.Header.Get("x-api-key"))
		if err != nil {
			if r.Context().Err() == nil && !isNotFound(err) {
				s.log.ErrorContext(r.Context(), "API key lookup failed", "error", err)
				w.Header().Set("Retry-After", strconv.Itoa(unavailableRetryAfter))
				writeJSON(w, http.StatusServiceUnavailable, errorBody{Detail: "The database is unavailable; try again shortly."})
				return
			}
			writeJSON(w, http.StatusUnauthorized, errorBody{Detail: "Invalid or missing API key"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), appKey, app)))
	})
}

func isNotFound(err error) bool { return errors.Is(err, models.ErrNotFound) }

// cleanURL refuses a path or query that is not valid UTF-8 or holds NUL: no stored value
// can match it, and PostgreSQL refuses such text outright.
func (s *server) cleanURL(next http.Handler) http.Handler {
	clean := func(v string) bool { return utf8.ValidString(v) && !strings.ContainsRune(v, 0) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := clean(r.URL.Path)
		for k, vs := range r.URL.Query() {
			ok = ok && clean(k)
			for _, v := range vs {
				ok = ok && clean(v)
			}
		}
		if !ok {
			writeJSON(w, http.StatusBadRequest, errorBody{Detail: "The URL (path or query) must be valid UTF-8 without NUL characters."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// routeOnEscapedPath makes the router match the escaped path, so that a path parameter
// is always percent-encoded (and decoded once by its handler) whether or not the client
// escaped more than it had to.
func routeOnEscapedPath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rctx := chi.RouteContext(r.Context()); rctx != nil {
			rctx.RoutePath = r.URL.EscapedPath()
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a logged 500 that shows nothing of the cause.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(v), "request_id", middleware.GetReqID(r.Context()))
				writeJSON(w, http.StatusInternalServerError, errorBody{Detail: "Internal error; it has been logged."})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// accessLog logs every request at debug level, and server errors at error level.
func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		level := slog.LevelDebug
		if ww.Status() >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "path", r.URL.Path,
			"status", ww.Status(), "duration_ms", time.Since(start).Milliseconds(),
			"request_id", middleware.GetReqID(r.Context()))
	})
}
