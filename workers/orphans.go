package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"
)

// RelayInspector is what the relay reads of the queue; *asynq.Inspector is one.
type RelayInspector interface {
	TaskInspector
	ListActiveTasks(queue string, opts ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	Servers() ([]*asynq.ServerInfo, error)
	RunTask(queue, id string) error
}

// heartbeatGrace is how long an active job may go unlisted by every live worker before
// the relay takes it for orphaned: asynq servers list their running jobs every 5 s.
const heartbeatGrace = 6 * time.Second

// recoveredSuffix marks the task id of a job the relay enqueued again for an orphan.
const recoveredSuffix = "~recovered"

// orphans remembers, between scans, what the relay saw of active jobs.
type orphans struct {
	mu sync.Mutex
	// unlisted is when a job was first seen active but run by no live worker.
	unlisted map[string]time.Time
	// listedBy is the worker (server id) last seen running a job.
	listedBy map[string]string
	// recovered counts the copies enqueued of each orphan.
	recovered map[string]int
}

// recoverOrphans enqueues again the active jobs of workers that died (kill -9, a lost
// host), without waiting for asynq's lease (30 s) and recoverer (1 min). A job is
// orphaned when asynq says its lease expired, when the worker last seen running it has
// stopped sending heartbeats, or when no live worker has listed it for heartbeatGrace.
// The copy has its own task id; handlers are idempotent, so the original running too
// (if its worker was merely slow, or when asynq recovers it) changes nothing.
func (r *Relay) recoverOrphans(ctx context.Context) (int, error) {
	servers, err := r.Inspector.Servers()
	if err != nil {
		return 0, fmt.Errorf("list workers: %w", err)
	}
	running := map[string]string{} // task id → server id
	live := map[string]bool{}
	for _, s := range servers {
		live[s.ID] = true
		for _, w := range s.ActiveWorkers {
			running[w.TaskID] = s.ID
		}
	}
	o := &r.orphans
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.unlisted == nil {
		o.unlisted, o.listedBy, o.recovered = map[string]time.Time{}, map[string]string{}, map[string]int{}
	}
	now, seen, n := time.Now(), map[string]bool{}, 0
	for _, queue := range r.Queues.Names() {
		active, err := r.Inspector.ListActiveTasks(queue, asynq.PageSize(1000))
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("list active jobs of %s: %w", queue, err)
		}
		for _, t := range active {
			seen[t.ID] = true
			if !o.orphaned(t, running, live, now) {
				continue
			}
			if err := r.requeue(ctx, t, 1); err != nil {
				return n, fmt.Errorf("recover orphaned job %s: %w", t.ID, err)
			}
			o.recovered[t.ID] = 1
			n++
		}
	}
	o.forgetAllBut(seen)
	return n, nil
}

// orphaned updates what is known of active job t and reports whether it is an orphan
// not recovered yet.
func (o *orphans) orphaned(t *asynq.TaskInfo, running map[string]string, live map[string]bool, now time.Time) bool {
	if srv, ok := running[t.ID]; ok && !t.IsOrphaned {
		o.listedBy[t.ID] = srv
		delete(o.unlisted, t.ID)
		return false
	}
	if o.recovered[t.ID] > 0 {
		return false
	}
	first, ok := o.unlisted[t.ID]
	if !ok {
		o.unlisted[t.ID], first = now, now
	}
	last, wasListed := o.listedBy[t.ID]
	return t.IsOrphaned || (wasListed && !live[last]) || now.Sub(first) >= heartbeatGrace
}

// forgetAllBut drops what is known of jobs that are not active any more.
func (o *orphans) forgetAllBut(active map[string]bool) {
	for id := range o.unlisted {
		if !active[id] {
			delete(o.unlisted, id)
		}
	}
	for id := range o.listedBy {
		if !active[id] {
			delete(o.listedBy, id)
		}
	}
	for id := range o.recovered {
		if !active[id] {
			delete(o.recovered, id)
		}
	}
}

// recoverAgain enqueues one more copy of an orphan whose work is overdue again (the
// first copy found a webhook delivery still claimed by the dead worker, say); it reports
// whether id is a known orphan.
func (r *Relay) recoverAgain(ctx context.Context, queue, id string) (bool, error) {
	o := &r.orphans
	o.mu.Lock()
	defer o.mu.Unlock()
	n := o.recovered[id]
	if n == 0 {
		return false, nil
	}
	t, err := r.Inspector.GetTaskInfo(queue, id)
	if err != nil {
		return true, err
	}
	if err := r.requeue(ctx, t, n+1); err != nil {
		return true, err
	}
	o.recovered[id] = n + 1
	return true, nil
}

// requeue enqueues copy number n of t under a task id of its own.
func (r *Relay) requeue(ctx context.Context, t *asynq.TaskInfo, n int) error {
	opts := []asynq.Option{asynq.TaskID(fmt.Sprintf("%s%s%d", t.ID, recoveredSuffix, n)), asynq.Queue(t.Queue), asynq.MaxRetry(t.MaxRetry)}
	if t.Timeout > 0 {
		opts = append(opts, asynq.Timeout(t.Timeout))
	}
	if !t.Deadline.IsZero() {
		opts = append(opts, asynq.Deadline(t.Deadline))
	}
	_, err := r.Queue.EnqueueContext(ctx, asynq.NewTask(t.Type, t.Payload), opts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil // another relay recovered it
	}
	return err
}
