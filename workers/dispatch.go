package workers

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/internal/group"
	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// Dispatcher enqueues the jobs of the work a commit made due, with the row id as task id.
// Its Committed method is the store's after-commit hook (models.WithAfterCommit). An
// enqueue that fails is logged, not returned: the rows are committed, and the relay
// enqueues them later.
//
// Commits that end while another's jobs are being enqueued share the next round trip (a
// group, as intake commits share a transaction): their inbox items of one type become
// one group job (tasks.NewInboxGroupTask), their deliveries to one destination one
// batch job. Each caller still returns only once its jobs are enqueued, or Timeout
// passed.
type Dispatcher struct {
	Queue  Enqueuer
	Queues tasks.Queues
	// Deliveries enqueues delivery jobs.
	Deliveries DeliveryEnqueuer
	// Timeout bounds one commit's enqueues, so that a stalled Redis never holds up the
	// request that committed; zero means one second.
	Timeout time.Duration
	Log     *slog.Logger

	start  sync.Once
	shared *group.Group[models.Committed, struct{}]
}

// dispatchWriters is how many shared enqueues may be in flight at once.
const dispatchWriters = 2

// maxDispatchBatch bounds the commits whose jobs share one round of enqueues.
const maxDispatchBatch = 64

// Committed enqueues the jobs of c. It runs on the caller's path (an API request that has
// just committed): it waits at most Timeout, whatever ctx allows.
func (d *Dispatcher) Committed(ctx context.Context, c models.Committed) {
	if len(c.Inbox) == 0 && len(c.Deliveries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.timeout())
	defer cancel()
	if _, err := d.group().Do(ctx, c); err != nil {
		d.Log.WarnContext(ctx, "enqueue did not finish; the relay will enqueue what is missing later",
			"jobs", len(c.Inbox), "deliveries", len(c.Deliveries), "error", err)
	}
}

// Close stops the shared enqueues once those in flight are done; a commit after Close
// leaves its jobs to the relay.
func (d *Dispatcher) Close() { d.group().Close() }

// group returns the group the commits share, started on first use.
func (d *Dispatcher) group() *group.Group[models.Committed, struct{}] {
	d.start.Do(func() { d.shared = group.New(dispatchWriters, maxDispatchBatch, d.enqueue) })
	return d.shared
}

func (d *Dispatcher) timeout() time.Duration {
	if d.Timeout == 0 {
		return time.Second
	}
	return d.Timeout
}

// enqueue enqueues the jobs of several commits: the items of a type that groups
// (tasks.Groups) in group jobs of up to tasks.MaxInboxGroup, each other item in a job
// of its own, the deliveries through Deliveries. It fails no caller: what could not be
// enqueued is logged and left to the relay.
func (d *Dispatcher) enqueue(_ context.Context, batch []models.Committed) ([]struct{}, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout())
	defer cancel()
	grouped := map[string][]string{}
	var types []string
	var deliveries []models.DeliveryRef
	for _, c := range batch {
		for _, ref := range c.Inbox {
			if !tasks.Groups(ref.TaskType) {
				d.enqueueTask(ctx, tasks.NewInboxTask(d.Queues, ref.TaskType, ref.ID), ref.TaskType, ref.ID)
				continue
			}
			if _, ok := grouped[ref.TaskType]; !ok {
				types = append(types, ref.TaskType)
			}
			grouped[ref.TaskType] = append(grouped[ref.TaskType], ref.ID)
		}
		deliveries = append(deliveries, c.Deliveries...)
	}
	for _, taskType := range types {
		ids := grouped[taskType]
		for start := 0; start < len(ids); start += tasks.MaxInboxGroup {
			d.enqueueGroup(ctx, taskType, ids[start:min(start+tasks.MaxInboxGroup, len(ids))])
		}
	}
	if len(deliveries) > 0 {
		d.Deliveries.EnqueueBatched(ctx, deliveries)
	}
	return make([]struct{}, len(batch)), nil
}

// enqueueGroup enqueues one group job for ids. Should its task id (the first item's)
// be taken already, that job does not name the others: they get jobs of their own.
func (d *Dispatcher) enqueueGroup(ctx context.Context, taskType string, ids []string) {
	_, err := d.Queue.EnqueueContext(ctx, tasks.NewInboxGroupTask(d.Queues, taskType, ids))
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		for _, id := range ids[1:] {
			d.enqueueTask(ctx, tasks.NewInboxTask(d.Queues, taskType, id), taskType, id)
		}
	case err != nil:
		d.Log.WarnContext(ctx, "enqueue failed; the relay will enqueue the jobs later",
			"type", taskType, "job_id", ids[0], "jobs", len(ids), "error", err)
	}
}

// enqueueTask enqueues one job; a task id already taken means it is enqueued.
func (d *Dispatcher) enqueueTask(ctx context.Context, task *asynq.Task, taskType, id string) {
	if _, err := d.Queue.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		d.Log.WarnContext(ctx, "enqueue failed; the relay will enqueue the job later",
			"type", taskType, "job_id", id, "error", err)
	}
}
