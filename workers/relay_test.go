package workers_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/internal/testkit"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

type bundle struct {
	store     *models.Store
	app       models.Application
	queues    tasks.Queues
	redisOpt  asynq.RedisConnOpt
	client    *asynq.Client
	inspector *asynq.Inspector
	log       *slog.Logger
}

func setup(t *testing.T) bundle {
	t.Helper()
	store := testkit.PostgresStore(t)
	app, err := store.CreateApplication(context.Background(), "workers", "")
	require.NoError(t, err)
	opt := testkit.RedisOpt(t)
	client := asynq.NewClient(opt)
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	return bundle{
		store: store, app: app.Application, queues: testkit.Queues(t), redisOpt: opt,
		client: client, inspector: inspector, log: discard(),
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// queuesFromEnv are the queues a worker process started by a test serves.
func queuesFromEnv() tasks.Queues {
	return tasks.Queues{Prefix: os.Getenv("STANDING_TEST_QUEUE_PREFIX")}
}

func (b bundle) startWorkers(t *testing.T) {
	t.Helper()
	srv := workers.NewServer(b.redisOpt, workers.ServerConfig{Concurrency: 4, Queues: b.queues, Log: b.log})
	require.NoError(t, srv.Start(workers.NewMux(&workers.Handlers{Store: b.store, Log: b.log})))
	t.Cleanup(srv.Shutdown)
}

func (b bundle) relay(after time.Duration) *workers.Relay {
	return &workers.Relay{
		Store: b.store, Queue: b.client, Inspector: b.inspector, Queues: b.queues,
		Log: b.log, After: after, Interval: 50 * time.Millisecond,
	}
}

// requestStatus stores a status change and enqueues its job, as the API does.
func (b bundle) requestStatus(t *testing.T, vendorData, status string) *models.InboxItem {
	t.Helper()
	item, err := b.store.RequestStatusChange(context.Background(), b.app.ID, models.KindUser, vendorData,
		models.StatusRequest{Status: status, Actor: "test"})
	require.NoError(t, err)
	_, err = b.client.Enqueue(tasks.NewInboxTask(b.queues, item.TaskType, item.ID))
	require.NoError(t, err)
	return item
}

func (b bundle) state(t *testing.T, id string) string {
	t.Helper()
	item, err := b.store.InboxItem(context.Background(), b.app.ID, id)
	require.NoError(t, err)
	return item.State
}

func TestJobsLostByRedisAreAppliedOnceWorkersStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	const n = 20
	var ids []string
	for i := range n {
		vd := fmt.Sprintf("u-%d", i)
		_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: vd})
		require.NoError(t, err)
		ids = append(ids, b.requestStatus(t, vd, rules.EntityBlocked).ID)
	}
	// Redis loses everything before any worker ran.
	rc := b.redisOpt.MakeRedisClient().(redis.UniversalClient)
	defer rc.Close()
	testkit.FlushQueues(ctx, rc, b.queues)
	pending, err := b.inspector.ListPendingTasks(b.queues.Apply())
	if err == nil {
		require.Empty(t, pending)
	}

	b.startWorkers(t)
	relayCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.relay(300 * time.Millisecond).Run(relayCtx)

	require.Eventually(t, func() bool {
		for _, id := range ids {
			if b.state(t, id) != models.InboxApplied {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond)
	for i := range n {
		e, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, fmt.Sprintf("u-%d", i))
		require.NoError(t, err)
		require.Equal(t, rules.EntityBlocked, e.Status)
		changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
		require.NoError(t, err)
		require.Len(t, changes, 2, "applied exactly once")
	}
}

func TestRelayLeavesQueuedJobsAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u"})
	require.NoError(t, err)
	item := b.requestStatus(t, "u", rules.EntityFlagged)

	time.Sleep(60 * time.Millisecond)
	n, err := b.relay(50 * time.Millisecond).RelayOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "the job is still queued: nothing to do")
	info, err := b.inspector.GetTaskInfo(b.queues.Apply(), item.ID)
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStatePending, info.State)
}

func TestRelayReplacesAJobTheQueueGaveUpOn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "u"})
	require.NoError(t, err)
	item := b.requestStatus(t, "u", rules.EntityFlagged)
	require.NoError(t, b.inspector.ArchiveTask(b.queues.Apply(), item.ID))

	time.Sleep(60 * time.Millisecond)
	n, err := b.relay(50 * time.Millisecond).RelayOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	info, err := b.inspector.GetTaskInfo(b.queues.Apply(), item.ID)
	require.NoError(t, err)
	require.Equal(t, asynq.TaskStatePending, info.State, "the archived job was replaced by a fresh one")

	b.startWorkers(t)
	require.Eventually(t, func() bool { return b.state(t, item.ID) == models.InboxApplied }, 15*time.Second, 50*time.Millisecond)
}

func TestInboxHandlersRejectJobsTheyCannotRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mux := workers.NewMux(&workers.Handlers{Store: b.store, Log: b.log})
	for _, typ := range []string{tasks.TypeStatusApply, tasks.TypeSessionApply, tasks.TypeTransactionEvaluate} {
		for _, payload := range []string{"{", `{"inbox_id":"0192f0c4-0000-7000-8000-000000000001"}`, `{"inbox_id":"nope"}`} {
			err := mux.ProcessTask(context.Background(), asynq.NewTask(typ, []byte(payload)))
			require.Error(t, err, payload)
			require.True(t, errors.Is(err, asynq.SkipRetry), "%s %s: retrying cannot help: %v", typ, payload, err)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask(tasks.TypeStatusApply, nil)
	require.Equal(t, time.Second, workers.RetryDelay(3, asynq.ErrLeaseExpired, task), "a crashed worker's job runs again at once")
	d := workers.RetryDelay(3, errors.New("database down"), task)
	require.Greater(t, d, time.Second)
	busy := fmt.Errorf("apply session event: %w", models.ErrInboxItemBusy)
	for range 20 {
		d := workers.CappedRetryDelay(10*time.Second)(12, busy, task)
		require.GreaterOrEqual(t, d, 50*time.Millisecond)
		require.Less(t, d, 200*time.Millisecond, "an item held by another batch is looked at again shortly, however often")
	}
	require.False(t, workers.IsFailure(busy), "a busy item is no failed attempt")
	require.True(t, workers.IsFailure(errors.New("database down")))
}
