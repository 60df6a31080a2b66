// Package workers runs Standing's background jobs: one handler per task type, the mux
// that routes them, the asynq server that runs them and the relay that re-enqueues what
// the queue lost.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// Handlers holds what the job handlers need.
type Handlers struct {
	Store *models.Store
	Log   *slog.Logger
	// Deliverer makes webhook delivery attempts; nil leaves them unhandled.
	Deliverer *Deliverer
	// Periodic runs the scheduler's periodic jobs (purge, reverify); nil leaves them
	// unhandled.
	Periodic *Periodic
}

// NewMux routes every task type to its handler.
func NewMux(h *Handlers) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	if h.Deliverer != nil {
		mux.HandleFunc(tasks.TypeWebhookDeliver, h.Deliverer.HandleDeliver)
		mux.HandleFunc(tasks.TypeWebhookBatch, h.Deliverer.HandleDeliverBatch)
	}
	mux.HandleFunc(tasks.TypeStatusApply, inboxHandler(h, "apply status change", h.Store.ApplyStatusChange))
	mux.HandleFunc(tasks.TypeSessionApply, inboxHandler(h, "apply session event", h.Store.ApplySessionEvent))
	mux.HandleFunc(tasks.TypeTransactionEvaluate, inboxHandler(h, "evaluate transaction", h.Store.EvaluateTransaction))
	mux.HandleFunc(tasks.TypeAMLScreen, h.HandleAMLScreen)
	mux.HandleFunc(tasks.TypeAMLRescan, h.HandleAMLRescan)
	if h.Periodic != nil {
		for _, job := range hourlyJobs {
			mux.HandleFunc(job, h.Periodic.Handle)
		}
	}
	return mux
}

// inboxHandler adapts a store method that applies one inbox item (once, in one
// transaction) to a job handler. It is idempotent because apply is: an item already
// applied is acknowledged without effect. A job naming no item fails for good; any other
// failure is kept on the item for operators and retried.
//
// A group job (tasks.NewInboxGroupTask) applies its first item, then each of the others
// that is still pending (the first item's batch usually settled them); it succeeds once
// all are settled, and runs again shortly while any is held by another batch.
func inboxHandler[O ~string](h *Handlers, what string, apply func(context.Context, string) (O, error)) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		p, err := tasks.ParseInboxPayload(t)
		if err != nil {
			return err
		}
		first := applyInboxItem(ctx, h, t.Type(), what, p.InboxID, apply)
		if len(p.Also) == 0 || models.IsUnavailable(first) {
			return first
		}
		rest, err := h.Store.PendingInboxItems(ctx, p.Also)
		if err != nil {
			return fmt.Errorf("%s %s: %w", what, p.InboxID, err)
		}
		outcome := groupOutcome{}
		outcome.add(first)
		for _, id := range rest {
			if err := ctx.Err(); err != nil {
				return err // the job's lease or the process ended: the job runs again
			}
			err := applyInboxItem(ctx, h, t.Type(), what, id, apply)
			if models.IsUnavailable(err) {
				return err
			}
			outcome.add(err)
		}
		return outcome.err(first)
	}
}

// groupOutcome collects what the items of a group job came to.
type groupOutcome struct {
	failed error
	busy   bool
}

// add notes one item's result. An unknown item (SkipRetry) is not a failure: of the
// others, PendingInboxItems read each, so only the first can be unknown, and err
// answers for it.
func (g *groupOutcome) add(err error) {
	switch {
	case err == nil, errors.Is(err, asynq.SkipRetry):
	case isBusy(err):
		g.busy = true
	case g.failed == nil:
		g.failed = err
	}
}

// err is what the job returns: the first failure (retried), else busy (runs again
// shortly), else first's SkipRetry if the first item is unknown (not retried), else
// success.
func (g *groupOutcome) err(first error) error {
	switch {
	case g.failed != nil:
		return g.failed
	case g.busy:
		return models.ErrInboxItemBusy
	case errors.Is(first, asynq.SkipRetry):
		return first
	}
	return nil
}

// applyInboxItem applies inbox item id and says what the job should return for it.
func applyInboxItem[O ~string](ctx context.Context, h *Handlers, taskType, what, id string,
	apply func(context.Context, string) (O, error)) error {
	outcome, err := apply(ctx, id)
	if errors.Is(err, models.ErrUnknownJob) {
		return fmt.Errorf("inbox item %s does not exist: %w", id, asynq.SkipRetry)
	}
	if errors.Is(err, models.ErrInboxItemBusy) {
		return err // runs again shortly; no failure of the item's
	}
	if err != nil {
		if ctx.Err() == nil { // a job cut short did not fail its item
			h.recordFailure(id, err)
		}
		return fmt.Errorf("%s %s: %w", what, id, err)
	}
	h.Log.Debug("job done", "type", taskType, "job_id", id, "outcome", string(outcome))
	return nil
}

// recordFailure keeps a failed attempt's error on the inbox row, for operators. It uses
// its own context: the job's may be what failed.
func (h *Handlers) recordFailure(id string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Store.RecordInboxFailure(ctx, id, cause); err != nil {
		h.Log.Warn("could not record a failed attempt", "job_id", id, "error", err)
	}
}

// ServerConfig configures the asynq server of a work process.
type ServerConfig struct {
	Concurrency int
	Queues      tasks.Queues
	// Priorities, when set, are the queues this server serves (default: every queue of
	// Queues); a work process runs one server for the apply queue and one for deliveries.
	Priorities map[string]int
	Log        *slog.Logger
	// ShutdownTimeout is how long in-flight jobs may run on at shutdown before they are
	// handed back to the queue.
	ShutdownTimeout time.Duration
	// RetryMax caps the delay before a job that failed for a reason of Standing's own (the
	// database unreachable) runs again, so that every job runs soon after a dependency
	// is back; zero keeps asynq's growing default. The relay interval is a good value.
	RetryMax time.Duration
}

// NewServer returns the asynq server that runs the jobs.
func NewServer(redis asynq.RedisConnOpt, cfg ServerConfig) *asynq.Server {
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	priorities := cfg.Priorities
	if priorities == nil {
		priorities = cfg.Queues.Priorities()
	}
	return asynq.NewServer(redis, asynq.Config{
		Concurrency:     cfg.Concurrency,
		Queues:          priorities,
		RetryDelayFunc:  CappedRetryDelay(cfg.RetryMax),
		IsFailure:       IsFailure,
		ShutdownTimeout: cfg.ShutdownTimeout,
		// An idle worker looks for new jobs this often (asynq polls: its dequeue script
		// cannot block). Every stage of an event (apply, then delivery) may wait this long
		// after the queue ran empty, so it is short; an idle poll is one Redis script call.
		TaskCheckInterval: 10 * time.Millisecond,
		// Scheduled jobs and retries become runnable this soon after they are due (asynq's
		// default is 5 s, which would delay every retry and every busy destination's job);
		// each check is one script call per queue.
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		Logger:                   asynqLogger{cfg.Log.With("component", "asynq")},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			var retry *RetryError
			if isBusy(err) || errors.As(err, &retry) ||
				(t.Type() == tasks.TypeWebhookDeliver && errors.Is(err, asynq.SkipRetry)) {
				return // not failures of Standing's: the delivery log tells the story
			}
			id, _ := asynq.GetTaskID(ctx)
			retried, _ := asynq.GetRetryCount(ctx)
			cfg.Log.Warn("job failed", "type", t.Type(), "task_id", id, "retry", retried, "error", err)
		}),
	})
}

// RetryDelay is the delay before a failed job runs again: the delay a delivery attempt
// asked for (computed with its backoff policy, or the endpoint's Retry-After); a moment
// for a busy destination; at once for a job whose worker died (its lease expired);
// asynq's exponential default otherwise.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var retry *RetryError
	switch {
	case errors.As(err, &retry):
		return retry.After
	case errors.Is(err, ErrDestinationBusy):
		return time.Duration(200+rand.IntN(800)) * time.Millisecond
	case errors.Is(err, models.ErrInboxItemBusy):
		// Usually the batch that holds the item applies it: the job then only finds it
		// applied. Asynq moves it back to the queue within DelayedTaskCheckInterval.
		return time.Duration(50+rand.IntN(150)) * time.Millisecond
	case errors.Is(err, asynq.ErrLeaseExpired):
		return time.Second
	}
	return asynq.DefaultRetryDelayFunc(n, err, t)
}

// firstRetryDelay is the first delay of CappedRetryDelay's short schedule.
const firstRetryDelay = 250 * time.Millisecond

// CappedRetryDelay is RetryDelay, except that a job that failed for a reason of
// Standing's own (not a delivery attempt's own schedule, not a busy destination) runs
// again on a short schedule: 250ms doubling up to limit, with up to 20% jitter. While
// PostgreSQL is down, every job keeps trying at most limit apart, so all of them run
// within limit of its return instead of asynq's default (about 10 minutes after five
// failures). A zero limit is RetryDelay.
func CappedRetryDelay(limit time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, t *asynq.Task) time.Duration {
		var retry *RetryError
		if limit <= 0 || errors.As(err, &retry) || isBusy(err) || errors.Is(err, asynq.ErrLeaseExpired) {
			return RetryDelay(n, err, t)
		}
		d := limit
		if n < 30 && firstRetryDelay<<n < limit {
			d = firstRetryDelay << n
		}
		return d - time.Duration(rand.Int64N(int64(d)/5+1))
	}
}

// asynqLogger sends asynq's log lines to slog.
type asynqLogger struct{ log *slog.Logger }

func (l asynqLogger) Debug(args ...any) { l.log.Debug(fmt.Sprint(args...)) }
func (l asynqLogger) Info(args ...any)  { l.log.Info(fmt.Sprint(args...)) }
func (l asynqLogger) Warn(args ...any)  { l.log.Warn(fmt.Sprint(args...)) }
func (l asynqLogger) Error(args ...any) { l.log.Error(fmt.Sprint(args...)) }
func (l asynqLogger) Fatal(args ...any) { l.log.Error(fmt.Sprint(args...)) }
