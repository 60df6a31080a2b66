package ingest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
)

// The sliding window counts the current window plus the previous one weighted by how
// much of it the window still covers; a refused request is not counted; without Redis
// the limiter lets requests through.
func TestWindowLimiterSlides(t *testing.T) {
	t.Parallel()
	rc := testkit.RedisOpt(t).MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rc.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := &windowLimiter{client: rc, prefix: testkit.RandomName("rlw-") + ":", limit: 4, window: time.Minute, log: log}
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

	for i, want := range []int{3, 2, 1, 0} {
		d := l.take("k", start.Add(time.Duration(i)*time.Second))
		require.True(t, d.allowed, "request %d", i)
		require.Equal(t, want, d.remaining)
		require.Equal(t, start.Add(time.Minute), d.reset)
	}
	refused := l.take("k", start.Add(5*time.Second))
	require.False(t, refused.allowed)
	require.Zero(t, refused.remaining)
	require.False(t, l.take("k", start.Add(6*time.Second)).allowed, "a refused request did not count, but the window is full")
	require.True(t, l.take("other", start.Add(6*time.Second)).allowed, "another key has its own count")

	// Three quarters into the next window the previous one weighs a quarter: 4 × 0.25 = 1.
	next := start.Add(time.Minute + 45*time.Second)
	for i, want := range []int{2, 1, 0} {
		d := l.take("k", next)
		require.True(t, d.allowed, "request %d of the next window", i)
		require.Equal(t, want, d.remaining)
	}
	require.False(t, l.take("k", next).allowed)

	down := &windowLimiter{client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}),
		prefix: "x:", limit: 1, window: time.Minute, log: log}
	t.Cleanup(func() { _ = down.client.Close() })
	for range 3 {
		require.True(t, down.take("k", start).allowed, "fails open")
	}
}

// A large limit is taken from Redis in leases of a hundredth: a process admits from its
// lease without asking, and two processes together never admit more than the limit
// (their unused leases, at most a hundredth each, count as used).
func TestWindowLimiterLeasesLargeLimits(t *testing.T) {
	t.Parallel()
	rc := testkit.RedisOpt(t).MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rc.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	prefix := testkit.RandomName("rll-") + ":"
	a := &windowLimiter{client: rc, prefix: prefix, limit: 400, window: time.Minute, log: log}
	b := &windowLimiter{client: rc, prefix: prefix, limit: 400, window: time.Minute, log: log}
	start := time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC)
	counted := func() int {
		n, err := rc.Get(context.Background(), a.key("k", start)).Int()
		require.NoError(t, err)
		return n
	}

	for i := range 4 {
		d := a.take("k", start)
		require.True(t, d.allowed)
		require.Equal(t, 400-1-i, d.remaining)
	}
	require.Equal(t, 4, counted(), "one lease of 4 served 4 requests")
	require.True(t, b.take("k", start).allowed)
	require.Equal(t, 8, counted(), "the other process took a lease of its own")
	require.Equal(t, 391, a.take("k", start).remaining, "a new lease counts the other's whole lease as used")

	admitted := 6
	for i := range 600 {
		l := a
		if i%3 == 0 {
			l = b
		}
		if l.take("k", start.Add(time.Second)).allowed {
			admitted++
		}
	}
	require.LessOrEqual(t, admitted, 400, "never more than the limit")
	require.GreaterOrEqual(t, admitted, 400-2*4, "less only by the unused leases")
	require.Equal(t, 400, counted())
}
