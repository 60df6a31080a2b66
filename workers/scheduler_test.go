package workers_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

// TestTwoWorkProcessesRunEachPeriodicJobOncePerPeriod runs two schedulers and two
// worker servers, as two `standing work` processes would, ticking many times in one
// hour and then in the next.
func TestTwoWorkProcessesRunEachPeriodicJobOncePerPeriod(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, problems, err := b.store.UpdateSettings(ctx, b.app.ID, map[string]any{"retention_days": float64(0)})
	require.NoError(t, err)
	require.Empty(t, problems)
	_, err = b.store.CreateEntity(ctx, b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "leaving"})
	require.NoError(t, err)
	_, err = b.store.DeleteEntities(ctx, b.app.ID, models.KindUser, []string{"leaving"}, false)
	require.NoError(t, err)

	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 5, 0, 10, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var schedulers []*workers.Scheduler
	for range 2 {
		srv := workers.NewServer(b.redisOpt, workers.ServerConfig{Concurrency: 2, Queues: b.queues, Log: b.log})
		periodic := &workers.Periodic{Store: b.store, Log: b.log}
		require.NoError(t, srv.Start(workers.NewMux(&workers.Handlers{Store: b.store, Log: b.log, Periodic: periodic})))
		t.Cleanup(srv.Shutdown)
		schedulers = append(schedulers, &workers.Scheduler{
			Store: b.store, Queue: b.client, Inspector: b.inspector, Queues: b.queues, Log: b.log, Now: clock,
		})
	}
	tickAll := func() {
		var wg sync.WaitGroup
		for _, s := range schedulers {
			wg.Go(func() {
				for range 5 {
					_, err := s.Tick(ctx)
					require.NoError(t, err)
				}
			})
		}
		wg.Wait()
	}
	finished := func(job, period string) bool {
		run, err := b.store.JobRunFor(ctx, job, period)
		return err == nil && run.FinishedAt != nil
	}

	tickAll()
	require.Eventually(t, func() bool {
		return finished(tasks.TypePurge, "2026-12-02T05") && finished(tasks.TypeReverify, "2026-12-02T05")
	}, 20*time.Second, 50*time.Millisecond)
	tickAll() // the period's jobs ran: ticking again enqueues nothing new
	run, err := b.store.JobRunFor(ctx, tasks.TypePurge, "2026-12-02T05")
	require.NoError(t, err)
	require.Equal(t, 1, run.Attempts, "one run for the period")
	require.Equal(t, int64(1), run.Counts["entities"], "the run purged the deleted entity")
	_, err = b.store.GetEntity(ctx, b.app.ID, models.KindUser, "leaving")
	require.ErrorIs(t, err, models.ErrNotFound)

	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	tickAll()
	require.Eventually(t, func() bool { return finished(tasks.TypePurge, "2026-12-02T06") }, 20*time.Second, 50*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // room for a duplicate run, were there one
	runs, total, err := b.store.JobRuns(ctx, tasks.TypePurge, 10, 0)
	require.NoError(t, err)
	require.Equal(t, int64(2), total, "one run per period: %+v", runs)
	for _, r := range runs {
		require.Equal(t, 1, r.Attempts, r.Bucket)
		require.Equal(t, models.TriggerSchedule, r.Trigger)
	}
	_, total, err = b.store.JobRuns(ctx, tasks.TypeReverify, 10, 0)
	require.NoError(t, err)
	require.Equal(t, int64(2), total)
}
