package ingest

import (
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
