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

	"github.com/go-chi/httprate"
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

// rateLimiters holds one sliding-window limiter (go-chi/httprate) per request class, all
// counting in Redis so that every ingest process shares the counts.
type rateLimiters struct {
	read, write, intake *httprate.RateLimiter
}

func newRateLimiters(limits RateLimits, client redis.UniversalClient, prefix string, log *slog.Logger) *rateLimiters {
	if client == nil {
		return nil
	}
	limiter := func(class string, n int) *httprate.RateLimiter {
		if n <= 0 {
			return nil
		}
		counter := &redisCounter{client: client, prefix: prefix + "standing:ratelimit:" + class + ":", log: log}
		return httprate.NewRateLimiter(n, rateWindow, httprate.WithLimitCounter(counter))
	}
	return &rateLimiters{read: limiter("read", limits.Read), write: limiter("write", limits.Write), intake: limiter("intake", limits.Intake)}
}

// limiterFor returns the limiter of a request's class and the class's name.
func (l *rateLimiters) limiterFor(r *http.Request) (*httprate.RateLimiter, string) {
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
		if limiter.OnLimit(w, r, key) {
			limit := w.Header().Get("X-RateLimit-Limit")
			retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
			writeJSON(w, http.StatusTooManyRequests, errorBody{Detail: fmt.Sprintf(
				"Rate limit exceeded: %s %s per minute for this API key; retry in %d seconds.", limit, class, retry)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// redisCounter is httprate's LimitCounter on Redis: one counter per key and window,
// expiring after two windows. It fails open: when Redis does not answer within
// counterTimeout, requests are let through (PostgreSQL, not Redis, decides whether
// Standing can serve them), and for counterPause after such a failure Redis is not
// asked at all, so that a stalled Redis costs one request a moment, not every request.
type redisCounter struct {
	client redis.UniversalClient
	prefix string
	window time.Duration
	log    *slog.Logger
	// downUntil (Unix nanoseconds) is when Redis is asked again after a failure.
	downUntil atomic.Int64
}

// counterTimeout bounds one rate limit call to Redis; counterPause is how long the
// counter lets requests through without asking after a call failed.
const (
	counterTimeout = 500 * time.Millisecond
	counterPause   = 5 * time.Second
)

// available reports whether Redis may be asked now.
func (c *redisCounter) available() bool { return time.Now().UnixNano() >= c.downUntil.Load() }

// failed records a failed call: Redis is not asked for counterPause.
func (c *redisCounter) failed(err error) {
	if c.available() {
		c.log.Warn("rate limit counter unavailable; letting requests through", "error", err, "pause", counterPause)
	}
	c.downUntil.Store(time.Now().Add(counterPause).UnixNano())
}

// Config implements httprate.LimitCounter.
func (c *redisCounter) Config(_ int, window time.Duration) { c.window = window }

func (c *redisCounter) key(key string, window time.Time) string {
	return c.prefix + key + ":" + strconv.FormatInt(window.Unix(), 10)
}

// Increment implements httprate.LimitCounter.
func (c *redisCounter) Increment(key string, window time.Time) error {
	return c.IncrementBy(key, window, 1)
}

// IncrementBy implements httprate.LimitCounter.
func (c *redisCounter) IncrementBy(key string, window time.Time, amount int) error {
	if !c.available() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), counterTimeout)
	defer cancel()
	k := c.key(key, window)
	pipe := c.client.TxPipeline()
	pipe.IncrBy(ctx, k, int64(amount))
	pipe.Expire(ctx, k, 2*c.window)
	if _, err := pipe.Exec(ctx); err != nil {
		c.failed(err)
	}
	return nil
}

// Get implements httprate.LimitCounter.
func (c *redisCounter) Get(key string, current, previous time.Time) (int, int, error) {
	if !c.available() {
		return 0, 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), counterTimeout)
	defer cancel()
	values, err := c.client.MGet(ctx, c.key(key, current), c.key(key, previous)).Result()
	if err != nil {
		c.failed(err)
		return 0, 0, nil
	}
	count := func(v any) int {
		s, _ := v.(string)
		n, _ := strconv.Atoi(s)
		return n
	}
	return count(values[0]), count(values[1]), nil
}
