package workers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// Dispatcher enqueues the jobs of the work a commit made due, with the row id as task id.
// Its Committed method is the store's after-commit hook (models.WithAfterCommit). An
// enqueue that fails is logged, not returned: the rows are committed, and the relay
// enqueues them later.
type Dispatcher struct {
	Queue  Enqueuer
	Queues tasks.Queues
	// Deliveries enqueues delivery jobs.
	Deliveries DeliveryEnqueuer
	// Timeout bounds one commit's enqueues, so that a stalled Redis never holds up the
	// request that committed; zero means one second.
	Timeout time.Duration
	Log     *slog.Logger
}

// Committed enqueues the jobs of c. It runs on the caller's path (an API request that has
// just committed): it waits at most Timeout, whatever ctx allows.
func (d *Dispatcher) Committed(ctx context.Context, c models.Committed) {
	timeout := d.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for _, ref := range c.Inbox {
		task := tasks.NewInboxTask(d.Queues, ref.TaskType, ref.ID)
		if _, err := d.Queue.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			d.Log.WarnContext(ctx, "enqueue failed; the relay will enqueue the job later",
				"type", ref.TaskType, "job_id", ref.ID, "error", err)
		}
	}
	if len(c.Deliveries) > 0 {
		d.Deliveries.EnqueueBatched(ctx, c.Deliveries)
	}
}
