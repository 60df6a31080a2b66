package workers_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

// rescanTask is the job the scheduler enqueues for one application and period.
func rescanTask(b bundle, period string) *asynq.Task {
	return asynq.NewTask(tasks.TypeAMLRescan, []byte(`{"application_id":"`+b.app.ID+`"}`),
		asynq.Queue(b.queues.Apply()), asynq.TaskID(tasks.TypeAMLRescan+":"+b.app.ID+":"+period))
}

func TestAMLRescanJobFlagsOnceThroughTheQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	in := models.SessionEventInput{SessionID: "s-1", Status: rules.SessionApproved, VendorData: "u-1", Kind: models.KindUser,
		Timestamp: time.Now().Unix(), Decision: map[string]any{"id_verification": map[string]any{
			"status": "Approved", "full_name": "Sergey Lavrov"}}}
	item, _, err := b.store.IngestSessionEvent(ctx, b.app.ID, in)
	require.NoError(t, err)
	_, err = b.store.ApplySessionEvent(ctx, item.ID)
	require.NoError(t, err)
	list, err := b.store.CreateList(ctx, b.app.ID, "names", rules.ListWatchlist, rules.EntryName)
	require.NoError(t, err)
	// The entry's own screening job is lost (this store enqueues nothing): the rescan
	// finds the hit.
	_, _, err = b.store.AddListEntry(ctx, b.app.ID, list.ID, "LAVROV, Sergei", "")
	require.NoError(t, err)

	b.startWorkers(t)
	_, err = b.client.Enqueue(rescanTask(b, "2026-12-02T00"))
	require.NoError(t, err)
	_, err = b.client.Enqueue(rescanTask(b, "2026-12-02T00"))
	require.ErrorIs(t, err, asynq.ErrTaskIDConflict, "one run per period")
	require.Eventually(t, func() bool {
		e, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "u-1")
		return err == nil && e.Status == rules.EntityFlagged
	}, 10*time.Second, 50*time.Millisecond)

	// The next period's run (or a crashed run redone) records nothing new.
	h := &workers.Handlers{Store: b.store, Log: b.log}
	require.NoError(t, h.HandleAMLRescan(ctx, rescanTask(b, "2026-12-03T00")))
	e, err := b.store.GetEntity(ctx, b.app.ID, models.KindUser, "u-1")
	require.NoError(t, err)
	hits, err := b.store.ScreeningHits(ctx, b.app.ID, e.ID)
	require.NoError(t, err)
	require.Len(t, hits, 1)
	changes, err := b.store.StatusChanges(ctx, b.app.ID, e.ID)
	require.NoError(t, err)
	require.Len(t, changes, 2, "created, then flagged once")

	// A payload that cannot be read, or an unknown application, is not retried.
	require.ErrorIs(t, h.HandleAMLRescan(ctx, asynq.NewTask(tasks.TypeAMLRescan, []byte(`{}`))), asynq.SkipRetry)
	require.ErrorIs(t, h.HandleAMLRescan(ctx, asynq.NewTask(tasks.TypeAMLRescan,
		[]byte(`{"application_id":"0192f0c4-0000-7000-8000-000000000009"}`))), asynq.SkipRetry)
}
