package workers_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

// slowQueue answers each enqueue after delay, as a Redis a little way off would, and
// counts the jobs.
type slowQueue struct {
	next  workers.Enqueuer
	delay time.Duration
	jobs  atomic.Int32
}

func (q *slowQueue) EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	time.Sleep(q.delay)
	q.jobs.Add(1)
	return q.next.EnqueueContext(ctx, task, opts...)
}

// Commits that end while others' jobs are being enqueued share group jobs: fewer jobs
// than items, each item named by exactly one, and every event applied once.
func TestConcurrentCommitsShareGroupJobs(t *testing.T) {
	t.Parallel()
	slow := &slowQueue{delay: 20 * time.Millisecond}
	f := newFlowVia(t, func(q workers.Enqueuer) workers.Enqueuer { slow.next = q; return slow })
	var events []map[string]any
	wants := map[string][3]int{}
	for i := range 8 {
		vd := fmt.Sprintf("grouped-%d", i)
		evs, want := sessionEvents(vd, 5)
		events = append(events, evs...)
		wants[vd] = want
	}
	f.postAll(t, events)

	queued, err := f.inspector.ListPendingTasks(f.queues.Apply(), asynq.PageSize(len(events)))
	require.NoError(t, err)
	named := map[string]int{}
	for _, task := range queued {
		p, err := tasks.ParseInboxPayload(asynq.NewTask(task.Type, task.Payload))
		require.NoError(t, err)
		require.Equal(t, task.ID, p.InboxID, "a group job's task id is its first item's")
		for _, id := range append([]string{p.InboxID}, p.Also...) {
			named[id]++
		}
	}
	require.Len(t, named, len(events), "every acknowledged event has a job")
	for id, n := range named {
		require.Equal(t, 1, n, "%s is named by one job", id)
	}
	require.Less(t, len(queued), len(events)/2, "concurrent commits shared jobs")
	require.EqualValues(t, len(queued), slow.jobs.Load(), "one enqueue per job")

	f.startWorkers(t)
	require.Eventually(t, func() bool { return f.applied(t) == int64(len(events)) }, 60*time.Second, 50*time.Millisecond)
	for vd, want := range wants {
		f.requireCounters(t, vd, 5, want)
	}
}

// A group job whose item another transaction holds applies the others and runs again
// (busy, not a failure); once the item is free, the job applies it and succeeds.
func TestAGroupJobWaitsForAHeldItem(t *testing.T) {
	t.Parallel()
	f := newFlow(t)
	var ids []string
	for i := range 3 {
		ids = append(ids, f.post(t, map[string]any{
			"session_id": fmt.Sprintf("held-s%d", i), "status": "Approved", "vendor_data": fmt.Sprintf("held-%d", i),
			"timestamp": time.Now().Unix(), "workflow_id": "wf",
		}))
	}
	db, err := sql.Open("pgx", f.dsn)
	require.NoError(t, err)
	defer db.Close()
	hold, err := db.Begin()
	require.NoError(t, err)
	t.Cleanup(func() { _ = hold.Rollback() })
	_, err = hold.Exec("SELECT id FROM inbox WHERE id = $1 FOR UPDATE", ids[2])
	require.NoError(t, err)

	mux := workers.NewMux(&workers.Handlers{Store: f.store, Log: f.log})
	group := tasks.NewInboxGroupTask(f.queues, tasks.TypeSessionApply, ids)
	require.ErrorIs(t, mux.ProcessTask(context.Background(), group), models.ErrInboxItemBusy)
	require.EqualValues(t, 2, f.applied(t), "the free items are applied")

	require.NoError(t, hold.Rollback())
	require.NoError(t, mux.ProcessTask(context.Background(), group))
	require.EqualValues(t, 3, f.applied(t))
	require.NoError(t, mux.ProcessTask(context.Background(), group), "a group job run again changes nothing")
	require.EqualValues(t, 3, f.applied(t))
	for i := range 3 {
		e, err := f.store.GetEntity(context.Background(), f.app.ID, "user", fmt.Sprintf("held-%d", i))
		require.NoError(t, err)
		require.Equal(t, 1, e.ApprovedCount, "each event counted once")
	}
}

// Should a group job's task id be taken already, the items besides the first get jobs
// of their own: none is left without one.
func TestAGroupWhoseFirstJobExistsEnqueuesTheOthersAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := &workers.Dispatcher{Queue: b.client, Queues: b.queues, Log: b.log}
	defer d.Close()
	ids := []string{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
		"00000000-0000-4000-8000-000000000003"}
	_, err := b.client.Enqueue(tasks.NewInboxTask(b.queues, tasks.TypeSessionApply, ids[0]))
	require.NoError(t, err)
	var refs []models.InboxRef
	for _, id := range ids {
		refs = append(refs, models.InboxRef{ID: id, TaskType: tasks.TypeSessionApply})
	}
	d.Committed(context.Background(), models.Committed{Inbox: refs})

	queued, err := b.inspector.ListPendingTasks(b.queues.Apply())
	require.NoError(t, err)
	got := map[string][]string{}
	for _, task := range queued {
		p, err := tasks.ParseInboxPayload(asynq.NewTask(task.Type, task.Payload))
		require.NoError(t, err)
		got[task.ID] = p.Also
	}
	require.Equal(t, map[string][]string{ids[0]: nil, ids[1]: nil, ids[2]: nil}, got)
}
