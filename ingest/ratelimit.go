package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
	// leases holds each key's *lease.
	leases sync.Map
}

// counterTimeout bounds one rate limit call to Redis; counterPause is how long the
// limiter lets requests through without asking after a call failed.
const (
	counterTimeout = 500 * time.Millisecond
	counterPause   = 5 * time.Second
)

// windowScript grants up to ARGV[4] requests of KEYS[1] (the current window, expiring
// after ARGV[1] seconds): as many as the sliding estimate, with KEYS[2] (the previous
// window) weighted by ARGV[3], leaves below the limit ARGV[2]. It counts what it grants
// and returns {granted, the estimate with them}; granted 0 means the limit is reached.
var windowScript = redis.NewScript(`
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local rate = math.floor(prev * tonumber(ARGV[3]) + 0.5) + curr
local grant = math.min(tonumber(ARGV[4]), tonumber(ARGV[2]) - rate)
if grant <= 0 then return {0, rate} end
if redis.call('INCRBY', KEYS[1], grant) == grant then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {grant, rate + grant}
`)

// leaseShare is the share of a limit one process takes from Redis at a time for a key
// (a lease of requests it then admits without a round trip); limits below
// 2/leaseShare are decided request by request, exactly across processes.
const leaseShare = 0.01

// lease is the requests of one key a process took from Redis for one window and has
// not admitted yet.
type lease struct {
	mu     sync.Mutex
	window time.Time
	left   int
	// used is the estimate when the lease was taken, less the requests still left.
	used int
}

// limitDecision is what the limiter decided of one request.
type limitDecision struct {
	allowed   bool
	remaining int
	reset     time.Time // when the current window ends
}

// take counts one request of key at now and decides it. With a limit of 2/leaseShare
// or more, a process takes requests from Redis in leases of limit × leaseShare and admits
// from its lease without a round trip: the window never admits more than the limit
// across processes, and a process's unused lease (at most a hundredth of the limit)
// counts as used until the window ends. Smaller limits ask Redis for every request.
func (l *windowLimiter) take(key string, now time.Time) limitDecision {
	current := now.Truncate(l.window)
	d := limitDecision{allowed: true, remaining: l.limit - 1, reset: current.Add(l.window)}
	chunk := max(1, int(float64(l.limit)*leaseShare))
	var ls *lease
	if chunk > 1 {
		// One lease per key: requests that find it empty wait for the one that asks
		// Redis for the next, then admit from it. (A limit decided request by request
		// needs no lease and no lock: the script decides atomically.)
		entry, _ := l.leases.LoadOrStore(key, &lease{})
		ls = entry.(*lease)
		ls.mu.Lock()
		defer ls.mu.Unlock()
		if ls.window.Equal(current) && ls.left > 0 {
			ls.left--
			ls.used++
			d.remaining = max(0, l.limit-ls.used)
			return d
		}
	}
	if time.Now().UnixNano() < l.downUntil.Load() {
		return d
	}
	ctx, cancel := context.WithTimeout(context.Background(), counterTimeout)
	defer cancel()
	weight := float64(l.window-now.Sub(current)) / float64(l.window)
	keys := []string{l.key(key, current), l.key(key, current.Add(-l.window))}
	res, err := windowScript.Run(ctx, l.client, keys, int(2*l.window.Seconds()), l.limit,
		strconv.FormatFloat(weight, 'f', 6, 64), chunk).Int64Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("the rate limit script answered %v", res)
		}
		l.failed(err)
		return d
	}
	granted, rate := int(res[0]), int(res[1])
	if granted == 0 {
		d.allowed, d.remaining = false, max(0, l.limit-rate)
		return d
	}
	d.remaining = max(0, l.limit-rate)
	if ls != nil {
		ls.window, ls.left, ls.used = current, granted-1, rate-granted+1
		d.remaining = max(0, l.limit-ls.used)
	}
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
