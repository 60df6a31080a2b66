package workers_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/workers"
)

// stalledRedis listens like a Redis that accepts connections and never answers (a
// paused or wedged server), and returns its address.
func stalledRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = conn.Close() })
		}
	}()
	return ln.Addr().String()
}

// A QuickRedis client pays about QuickTimeout once to find Redis stalled, then fails
// at once for QuickPause, then asks Redis again.
func TestQuickRedisStopsAskingAStalledRedisForAMoment(t *testing.T) {
	t.Parallel()
	client := workers.QuickRedis(asynq.RedisClientOpt{Addr: stalledRedis(t)})
	defer client.Close()
	ctx := context.Background()

	start := time.Now()
	err := client.Ping(ctx).Err()
	first := time.Since(start)
	require.Error(t, err)
	require.NotErrorIs(t, err, workers.ErrRedisStalled, "the first call asks Redis")
	require.GreaterOrEqual(t, first, workers.QuickTimeout/2, "the first call waited for an answer")
	require.Less(t, first, 3*workers.QuickTimeout)

	start = time.Now()
	require.ErrorIs(t, client.Ping(ctx).Err(), workers.ErrRedisStalled)
	pipe := client.TxPipeline()
	incr := pipe.Incr(ctx, "k")
	_, err = pipe.Exec(ctx)
	require.ErrorIs(t, err, workers.ErrRedisStalled)
	require.ErrorIs(t, incr.Err(), workers.ErrRedisStalled, "each command of the pipeline says why")
	require.Less(t, time.Since(start), workers.QuickTimeout/4, "calls within the pause fail at once")

	time.Sleep(workers.QuickPause - time.Since(start) + 100*time.Millisecond)
	err = client.Ping(ctx).Err()
	require.Error(t, err)
	require.NotErrorIs(t, err, workers.ErrRedisStalled, "after the pause Redis is asked again")
}

// Errors Redis answered, and calls their callers cancelled, leave the client asking.
func TestQuickRedisKeepsAskingAfterAnsweredErrors(t *testing.T) {
	t.Parallel()
	client := workers.QuickRedis(testkit.RedisOpt(t))
	defer client.Close()
	ctx := context.Background()

	var answered redis.Error
	require.ErrorAs(t, client.Do(ctx, "NO-SUCH-COMMAND").Err(), &answered)
	require.ErrorIs(t, client.Get(ctx, testkit.RandomName("absent")).Err(), redis.Nil)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.True(t, errors.Is(client.Ping(cancelled).Err(), context.Canceled))
	require.NoError(t, client.Ping(ctx).Err(), "none of those opened the breaker")
}

// A caller's own short deadline, or a context done before the call, says nothing about
// Redis: neither opens the breaker.
func TestQuickRedisCallersOwnDeadlineKeepsItAsking(t *testing.T) {
	t.Parallel()
	client := workers.QuickRedis(asynq.RedisClientOpt{Addr: stalledRedis(t)})
	defer client.Close()
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	require.Error(t, client.Ping(short).Err()) // the deadline ends the read: an i/o timeout
	require.Error(t, client.Ping(short).Err(), "a done context fails by itself")

	start := time.Now()
	err := client.Ping(context.Background()).Err()
	require.Error(t, err)
	require.NotErrorIs(t, err, workers.ErrRedisStalled, "the breaker stayed closed")
	require.GreaterOrEqual(t, time.Since(start), workers.QuickTimeout/2, "Redis was asked")
}

// A refused connection opens the breaker at once, and the calls it fails say why.
func TestQuickRedisRefusedConnectionOpensItWithItsCause(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	client := workers.QuickRedis(asynq.RedisClientOpt{Addr: addr})
	defer client.Close()

	first := client.Ping(context.Background()).Err()
	require.ErrorContains(t, first, "refused")
	require.NotErrorIs(t, first, workers.ErrRedisStalled)
	second := client.Ping(context.Background()).Err()
	require.ErrorIs(t, second, workers.ErrRedisStalled)
	require.ErrorContains(t, second, "refused", "the stalled error names what opened the breaker")
}
