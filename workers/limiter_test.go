package workers_test

import (
	"context"
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
