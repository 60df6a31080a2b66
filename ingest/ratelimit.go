package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/standinghq/standing/models"
)

// RateLimits are the requests per minute one API key may make, per class. A zero limit
// leaves that class unlimited.
type RateLimits struct {
	Read, Write, Intake int
}

// rateWindow is the sliding window of the limits.
const rateWindow = time.Minute

// rateLimiters holds one sliding-window limiter per request class, all counting in
// Redis so that every ingest process shares the counts.
type rateLimiters struct {
	read, write, intake *windowLimiter
}

func newRateLimiters(limits RateLimits, client redis.UniversalClient, prefix string, log *slog.Logger) *rateLimiters {
	if client == nil {
		return nil
	}
	limiter := func(class string, n int) *windowLimiter {
		if n <= 0 {
			return nil
		}
		return &windowLimiter{client: client, prefix: prefix + "standing:ratelimit:" + class + ":",
			limit: n, window: rateWindow, log: log}
	}
	return &rateLimiters{read: limiter("read", limits.Read), write: limiter("write", limits.Write), intake: limiter("intake", limits.Intake)}
}

// limiterFor returns the limiter of a request's class and the class's name.
func (l *rateLimiters) limiterFor(r *http.Request) (*windowLimiter, string) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/v3/ingest/") || (r.Method == http.MethodPost && r.URL.Path == "/v3/transactions/"):
		return l.intake, "intake"
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return l.read, "reads"
	default:
		return l.write, "writes"
	}
}

// rateLimit answers 429 (with Retry-After and X-RateLimit-Limit/Remaining/Reset) to a
// request over its API key's limit for its class. It runs after authentication: a
// request signed instead of keyed counts against its application.
func (s *server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiters == nil {
			next.ServeHTTP(w, r)
			return
		}
		limiter, class := s.limiters.limiterFor(r)
		if limiter == nil {
			next.ServeHTTP(w, r)
			return
		}
		key := "app:" + appFrom(r).ID
		if apiKey := r.Header.Get("x-api-key"); apiKey != "" {
			key = "key:" + models.HashAPIKey(apiKey)
		}
		d := limiter.take(key, time.Now())
		w.Header().Set("X-RateLimit-Limit", strconv.Itoa(limiter.limit))
		w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(d.remaining))
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(d.reset.Unix(), 10))
		if !d.allowed {
			retry := int(limiter.window.Seconds()) // RFC 6585, as go-chi/httprate answers
			w.Header().Set("Retry-After", strconv.Itoa(retry))
			writeJSON(w, http.StatusTooManyRequests, errorBody{Detail: fmt.Sprintf(
				"Rate limit exceeded: %d %s per minute for this API key; retry in %d seconds.", limiter.limit, class, retry)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// windowLimiter is a sliding-window rate limit counted in Redis: the requests of the
// current window plus the previous window's, weighted by how much of it the sliding
// window still covers (the estimate go-chi/httprate makes). One script call per request
// counts it and decides, atomically across every ingest process: no lock in the process,
// one round trip (httprate's LimitCounter takes two, under one mutex for the whole
// process). A request over the limit is not counted. It fails open: when Redis does not
// answer within counterTimeout, requests are let through (PostgreSQL, not Redis,
// decides whether Standing can serve them), and for counterPause after such a failure
// Redis is not asked at all, so that a stalled Redis costs one request a moment.
type windowLimiter struct {
	client redis.UniversalClient
	prefix string
	limit  int
	window time.Duration
	log    *slog.Logger
	// downUntil (Unix nanoseconds) is when Redis is asked again after a failure.
	downUntil atomic.Int64
}

// counterTimeout bounds one rate limit call to Redis; counterPause is how long the
// limiter lets requests through without asking after a call failed.
const (
	counterTimeout = 500 * time.Millisecond
	counterPause   = 5 * time.Second
)

// windowScript counts one request in KEYS[1] (the current window, expiring after
// ARGV[1] seconds) unless the sliding estimate, with KEYS[2] (the previous window)
// weighted by ARGV[3], would pass the limit ARGV[2]; it returns {allowed (1 or 0), the
// estimate with this request if allowed, without it if not}.
var windowScript = redis.NewScript(`
local curr = redis.call('INCR', KEYS[1])
if curr == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local rate = math.floor(prev * tonumber(ARGV[3]) + 0.5) + curr
if rate > tonumber(ARGV[2]) then
  redis.call('DECR', KEYS[1])
  return {0, rate - 1}
end
return {1, rate}
`)

// limitDecision is what the limiter decided of one request.
type limitDecision struct {
	allowed   bool
	remaining int
	reset     time.Time // when the current window ends
}

// take counts one request of key at now and decides it.
func (l *windowLimiter) take(key string, now time.Time) limitDecision {
	current := now.Truncate(l.window)
	d := limitDecision{allowed: true, remaining: l.limit - 1, reset: current.Add(l.window)}
	if time.Now().UnixNano() < l.downUntil.Load() {
		return d
	}
	ctx, cancel := context.WithTimeout(context.Background(), counterTimeout)
	defer cancel()
	weight := float64(l.window-now.Sub(current)) / float64(l.window)
	keys := []string{l.key(key, current), l.key(key, current.Add(-l.window))}
	res, err := windowScript.Run(ctx, l.client, keys, int(2*l.window.Seconds()), l.limit,
		strconv.FormatFloat(weight, 'f', 6, 64)).Int64Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("the rate limit script answered %v", res)
		}
		l.failed(err)
		return d
	}
	d.allowed = res[0] == 1
	d.remaining = max(0, l.limit-int(res[1]))
	return d
}

// failed records a failed call: Redis is not asked for counterPause.
func (l *windowLimiter) failed(err error) {
	if time.Now().UnixNano() >= l.downUntil.Load() {
		l.log.Warn("rate limit counter unavailable; letting requests through", "error", err, "pause", counterPause)
	}
	l.downUntil.Store(time.Now().Add(counterPause).UnixNano())
}

func (l *windowLimiter) key(key string, window time.Time) string {
	return l.prefix + key + ":" + strconv.FormatInt(window.Unix(), 10)
}
