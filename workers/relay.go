package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// Enqueuer puts a job on the queue; *asynq.Client is one.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// TaskInspector looks at and removes queued jobs; *asynq.Inspector is one.
type TaskInspector interface {
	GetTaskInfo(queue, id string) (*asynq.TaskInfo, error)
	DeleteTask(queue, id string) error
}

// Relay re-enqueues inbox items still pending RelayAfter after they were last enqueued:
// the job was lost (Redis lost its data, the enqueue after commit failed) or is stuck. The
// task id is the item id, so a job still queued is a harmless conflict; a job the queue
// archived after its retries is removed and enqueued again, and one waiting for a retry
// is run at once. It also recovers the running jobs of workers that died (see
// recoverOrphans). Several relays may run at once: each claims its own items.
type Relay struct {
	Store     *models.Store
	Queue     Enqueuer
	Inspector RelayInspector
	Queues    tasks.Queues
	Log       *slog.Logger
	// After is the age at which a pending item is offered again.
	After time.Duration
	// Interval is the pause between two scans; zero means After/4, at least 100ms.
	Interval time.Duration
	// Batch is the number of items claimed per scan; zero means 500.
	Batch int
	// Deliveries re-enqueues webhook deliveries overdue by After; nil leaves them alone.
	Deliveries *DeliveryEnqueuer

	orphans orphans
}

// Run scans until ctx ends. When the database or Redis is unreachable it backs off
// exponentially (up to After/2, so that it is back soon after they are) and goes on; it
// never gives up.
func (r *Relay) Run(ctx context.Context) {
	interval := r.Interval
	if interval == 0 {
		interval = max(r.After/4, 100*time.Millisecond)
	}
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval = interval
	retry.MaxInterval = max(interval, r.After/2)
	retry.MaxElapsedTime = 0 // never stop
	wait := interval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		n, err := r.RelayOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = retry.NextBackOff()
			r.Log.Warn("relay scan failed; backing off", "error", err, "retry_in", wait)
		default:
			retry.Reset()
			wait = interval
			if n > 0 {
				r.Log.Info("relay re-enqueued stale jobs", "count", n)
			}
		}
	}
}

// RelayOnce re-enqueues the stale items of one scan and returns how many it enqueued.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	batch := r.Batch
	if batch == 0 {
		batch = 500
	}
	enqueued, err := r.recoverOrphans(ctx)
	if err != nil {
		return enqueued, err
	}
	items, err := r.Store.ClaimStaleInbox(ctx, r.After, batch)
	if err != nil {
		return enqueued, fmt.Errorf("claim stale inbox items: %w", err)
	}
	for _, item := range items {
		ok, err := r.enqueue(ctx, tasks.NewInboxTask(r.Queues, item.TaskType, item.ID), r.Queues.Apply(), item.ID)
		if err != nil {
			return enqueued, fmt.Errorf("re-enqueue %s: %w", item.ID, err)
		}
		if ok {
			enqueued++
		}
	}
	if r.Deliveries == nil {
		return enqueued, nil
	}
	refs, err := r.Store.ClaimStaleDeliveries(ctx, r.After, batch)
	if err != nil {
		return enqueued, fmt.Errorf("claim stale deliveries: %w", err)
	}
	for _, ref := range refs {
		queue := r.Queues.Webhooks()
		if ref.Retry {
			queue = r.Queues.WebhookRetries()
		}
		ok, err := r.enqueue(ctx, r.Deliveries.Task(ref), queue, ref.ID)
		if err != nil {
			return enqueued, fmt.Errorf("re-enqueue delivery %s: %w", ref.ID, err)
		}
		if ok {
			enqueued++
		}
	}
	return enqueued, nil
}

// enqueue puts task (whose id is id, on queue) on the queue and reports whether it was
// enqueued anew.
func (r *Relay) enqueue(ctx context.Context, task *asynq.Task, queue, id string) (bool, error) {
	_, err := r.Queue.EnqueueContext(ctx, task)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	// The job is still in the queue. Leave it unless the queue gave up on it.
	existing, err := r.Inspector.GetTaskInfo(queue, id)
	if err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			return false, nil // it finished meanwhile
		}
		return false, err
	}
	switch existing.State {
	case asynq.TaskStateRetry:
		// Waiting out a retry delay although it is overdue: run it now.
		if err := r.Inspector.RunTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
			return false, err
		}
		return true, nil
	case asynq.TaskStateActive:
		// Still "running": when it is a dead worker's orphan, copy it again.
		known, err := r.recoverAgain(ctx, queue, id)
		return known && err == nil, err
	case asynq.TaskStateArchived:
	default:
		return false, nil
	}
	if err := r.Inspector.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return false, err
	}
	if _, err := r.Queue.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	return true, nil
}

// enqueueUnlessQueued puts task (whose id is id, on queue) on the queue unless a task
// with its id is still there, and reports whether it was enqueued anew. A task the queue
// archived after its retries is removed and enqueued again.
func enqueueUnlessQueued(ctx context.Context, q Enqueuer, inspector TaskInspector, task *asynq.Task, queue, id string) (bool, error) {
	_, err := q.EnqueueContext(ctx, task)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	// The job is still in the queue. Leave it unless the queue gave up on it.
	existing, err := inspector.GetTaskInfo(queue, id)
	if err != nil {
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			return false, nil // it finished meanwhile
		}
		return false, err
	}
	if existing.State != asynq.TaskStateArchived {
		return false, nil
	}
	if err := inspector.DeleteTask(queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return false, err
	}
	if _, err := q.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return false, err
	}
	return true, nil
}
