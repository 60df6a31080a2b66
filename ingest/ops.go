package ingest

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the API's own Prometheus series.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "standing_http_requests_total",
			Help: "HTTP requests answered, by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "standing_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// observe records one request, labelled by its route pattern (not its path, which
// would make a series per vendor_data).
func (m *httpMetrics) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
			route = rctx.RoutePattern()
		}
		m.requests.WithLabelValues(r.Method, route, strconv.Itoa(ww.Status())).Inc()
		m.duration.WithLabelValues(r.Method, route).Observe(time.Since(start).Seconds())
	})
}

// mountOps mounts /metrics (when there is a registry) and, behind the admin token,
// /ops/queues/ (when there is a queue monitor) and /ops/purges/ (the purge runs).
func (s *server) mountOps(r chi.Router, d Deps) {
	if d.Metrics != nil {
		r.Handle("/metrics", promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{}))
	}
	if d.Ops != nil {
		guarded := RequireAdmin(d.AdminToken, d.Ops)
		r.Handle("/ops/queues", guarded)
		r.Handle("/ops/queues/*", guarded)
	}
	if d.Store != nil {
		r.Method(http.MethodGet, "/ops/purges/", RequireAdmin(d.AdminToken, http.HandlerFunc(s.listPurges)))
	}
}

// adminCookie carries the admin token for a browser on the ops pages.
const adminCookie = "standing_admin"

// RequireAdmin guards a handler with the admin token: `Authorization: Bearer <token>`,
// or, for a browser, the token once as ?token=…, which is moved into an HTTP-only cookie
// for the /ops/ pages.
func RequireAdmin(token string, next http.Handler) http.Handler {
	valid := func(got string) bool {
		return token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("token"); q != "" && valid(q) {
			http.SetCookie(w, &http.Cookie{Name: adminCookie, Value: q, Path: "/ops/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			u := *r.URL
			query := u.Query()
			query.Del("token")
			u.RawQuery = query.Encode()
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		cookie, _ := r.Cookie(adminCookie)
		if !valid(bearer) && (cookie == nil || !valid(cookie.Value)) {
			writeJSON(w, http.StatusUnauthorized, errorBody{Detail: "Invalid or missing admin token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// NewOps returns the HTTP handler of a process that serves no API (standing work):
// /healthz, /readyz and /metrics.
func NewOps(d Deps) http.Handler {
	s := &server{store: d.Store, redis: d.Redis, log: d.Log}
	r := chi.NewRouter()
	r.Use(s.recoverer)
	r.Get("/healthz", s.healthy)
	r.Get("/readyz", s.ready)
	if d.Metrics != nil {
		r.Handle("/metrics", promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{}))
	}
	return r
}
