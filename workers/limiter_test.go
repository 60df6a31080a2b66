package workers_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/workers"
)

func TestLimiterCapsHandlersAndRequestsApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := workers.NewLimiter(2, 5)

	h1, ok := l.Hold(ctx, "a", 0)
	require.True(t, ok)
	h2, ok := l.Hold(ctx, "a", 0)
	require.True(t, ok)
	_, ok = l.Hold(ctx, "a", 10*time.Millisecond)
	require.False(t, ok, "two handlers at most, even with requests to spare")
	_, ok = l.Single(ctx, "a")
	require.False(t, ok, "a single delivery needs a handler too")
	_, ok = l.Hold(ctx, "b", 0)
	require.True(t, ok, "caps are per destination")

	requests := l.TryRequests("a", 9)
	require.Len(t, requests, 5, "a round takes the free request slots, up to the cap: the failed Single kept none")
	require.Empty(t, l.TryRequests("a", 1))
	_, ok = l.Request(ctx, "a", 10*time.Millisecond)
	require.False(t, ok)

	requests[0]()
	h1()
	release, ok := l.Single(ctx, "a")
	require.True(t, ok, "a handler and a request slot are free again")
	_, ok = l.Single(ctx, "a")
	require.False(t, ok)
	release()
	h2()
	got := l.TryRequests("a", 9)
	require.Len(t, got, 1, "Single gave back its request slot")
	_, ok = l.Hold(ctx, "a", 0)
	require.True(t, ok, "and its handler")
	_, ok = l.Hold(ctx, "a", 0)
	require.True(t, ok)
}

func TestLimiterWaitsForASlotUntilItFrees(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := workers.NewLimiter(1, 1)
	release, ok := l.Request(ctx, "a", 0)
	require.True(t, ok)
	time.AfterFunc(20*time.Millisecond, release)
	start := time.Now()
	_, ok = l.Request(ctx, "a", 5*time.Second)
	require.True(t, ok, "a slot given back is taken by the waiter")
	require.Less(t, time.Since(start), 4*time.Second)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, ok = l.Request(cancelled, "a", 5*time.Second)
	require.False(t, ok, "a cancelled wait gives up")
}

// The limiter keeps the slots of the destinations in use only: once every slot of a
// destination is back, its entry goes, and its caps hold as before when it comes back,
// also with many callers racing over a few destinations.
func TestLimiterForgetsDestinationsNoOneUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := workers.NewLimiter(2, 3)
	var releases []func()
	for _, key := range []string{"a", "b", "c"} {
		h, ok := l.Hold(ctx, key, 0)
		require.True(t, ok)
		releases = append(releases, h)
		releases = append(releases, l.TryRequests(key, 5)...)
	}
	require.Len(t, releases, 3*(1+3), "one handler and three requests per destination")
	require.Equal(t, 3, l.Destinations())
	_, ok := l.Request(ctx, "a", 0)
	require.False(t, ok, "a's requests are at their cap")
	require.Equal(t, 3, l.Destinations(), "a refused request leaves no user behind")
	for _, release := range releases {
		release()
	}
	require.Zero(t, l.Destinations())

	var inFlight, most atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			key := []string{"x", "y"}[i%2]
			for range 50 {
				release, ok := l.Request(ctx, key, time.Second)
				if !ok {
					continue
				}
				if key == "x" {
					n := inFlight.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					inFlight.Add(-1)
				}
				release()
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, most.Load(), int32(3), "x never had more than its cap of requests in flight")
	require.Zero(t, l.Destinations())
}
