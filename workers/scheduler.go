package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// hourlyJobs are the periodic jobs that run once an hour.
var hourlyJobs = []string{tasks.TypePurge, tasks.TypeReverify}

// Scheduler enqueues the periodic jobs of every work process: each job once per period,
// under a task id made of the job and its period ("purge:2026-12-02T05"), so that any
// number of schedulers make one job per period. It enqueues the current period's jobs on
// every tick: a job the queue lost (Redis lost its data) or archived is enqueued again,
// and its run, recorded in the database, is redone unless it finished (see
// Periodic.Run).
type Scheduler struct {
	Store     *models.Store
	Queue     Enqueuer
	Inspector TaskInspector
	Queues    tasks.Queues
	Log       *slog.Logger
	// Now is the scheduler's clock; nil means time.Now.
	Now func() time.Time
	// Interval is the pause between two ticks; zero means a minute.
	Interval time.Duration
	// AMLRescan enqueues an aml:rescan job per application whose
	// aml_rescan_interval_hours is set, once per interval. Leave it off while no
	// handler for aml:rescan is registered.
	AMLRescan bool
}

func (s *Scheduler) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// Run ticks until ctx ends. When Redis or the database is unreachable it backs off
// exponentially (up to a minute) and goes on.
func (s *Scheduler) Run(ctx context.Context) {
	interval := s.Interval
	if interval == 0 {
		interval = time.Minute
	}
	retry := backoff.NewExponentialBackOff()
	retry.InitialInterval = min(interval, time.Second)
	retry.MaxInterval = time.Minute
	retry.MaxElapsedTime = 0
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		n, err := s.Tick(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			wait = retry.NextBackOff()
			s.Log.Warn("scheduler tick failed; backing off", "error", err, "retry_in", wait)
		default:
			retry.Reset()
			wait = interval
			if n > 0 {
				s.Log.Info("scheduled periodic jobs", "count", n)
			}
		}
	}
}

// Tick enqueues the jobs of the current periods that are not queued yet and returns how
// many it enqueued.
func (s *Scheduler) Tick(ctx context.Context) (int, error) {
	now := s.now()
	enqueued := 0
	period := tasks.HourlyPeriod(now)
	for _, job := range hourlyJobs {
		task := tasks.NewPeriodicTask(s.Queues, job, period, 2*time.Hour)
		ok, err := enqueueUnlessQueued(ctx, s.Queue, s.Inspector, task, s.Queues.Periodic(), job+":"+period)
		if err != nil {
			return enqueued, fmt.Errorf("enqueue %s for %s: %w", job, period, err)
		}
		if ok {
			enqueued++
		}
	}
	if !s.AMLRescan {
		return enqueued, nil
	}
	apps, err := s.Store.ListApplications(ctx)
	if err != nil {
		return enqueued, fmt.Errorf("list applications: %w", err)
	}
	for _, app := range apps {
		hours := app.Settings.AMLRescanIntervalHours
		if hours <= 0 {
			continue
		}
		interval := time.Duration(hours) * time.Hour
		// The bucket counts intervals since the epoch, and names the interval so that a
		// changed setting starts a new series.
		bucket := strconv.Itoa(hours) + "h-" + strconv.FormatInt(now.Unix()/int64(interval/time.Second), 10)
		task := tasks.NewAMLRescanTask(s.Queues, app.ID, bucket, interval+time.Hour)
		ok, err := enqueueUnlessQueued(ctx, s.Queue, s.Inspector, task, s.Queues.Periodic(),
			tasks.TypeAMLRescan+":"+app.ID+":"+bucket)
		if err != nil {
			return enqueued, fmt.Errorf("enqueue %s for %s: %w", tasks.TypeAMLRescan, app.ID, err)
		}
		if ok {
			enqueued++
		}
	}
	return enqueued, nil
}

// Periodic runs the periodic jobs, each run recorded in the database (models.JobRun).
type Periodic struct {
	Store *models.Store
	Log   *slog.Logger
	// Batch is the number of entities per transaction; zero means the store's default.
	Batch int
	// Lease is how long a run may go without renewing its claim before another process
	// takes it over; zero means 10 minutes. A run renews it after every batch.
	Lease time.Duration
}

// Work is one periodic job's work: it goes through its batches, calling progress after
// each, and returns what it did, counted by kind.
type Work func(ctx context.Context, batch int, progress func()) (map[string]int64, error)

// work returns the work of the periodic job of type job.
func (p *Periodic) work(job string) (Work, error) {
	switch job {
	case tasks.TypePurge:
		return func(ctx context.Context, batch int, progress func()) (map[string]int64, error) {
			counts, err := p.Store.Purge(ctx, batch, progress)
			return counts, err
		}, nil
	case tasks.TypeReverify:
		return p.Store.Reverify, nil
	}
	return nil, fmt.Errorf("no periodic job %q", job)
}

// Handle runs a periodic job from the queue.
func (p *Periodic) Handle(ctx context.Context, t *asynq.Task) error {
	payload, err := tasks.ParsePeriodicPayload(t)
	if err != nil {
		return err
	}
	run, done, err := p.Run(ctx, t.Type(), payload.Period, models.TriggerSchedule)
	if err != nil {
		return err
	}
	if done {
		p.Log.Info("periodic job ran", "job", t.Type(), "period", payload.Period, "counts", run.Counts, "attempt", run.Attempts)
	}
	return nil
}

// Run does the run of job for period unless it finished or another process holds it,
// and reports whether this call did it. A failed run is recorded with its error and
// redone by the next call.
func (p *Periodic) Run(ctx context.Context, job, period, trigger string) (*models.JobRun, bool, error) {
	work, err := p.work(job)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %w", err, asynq.SkipRetry)
	}
	lease := p.Lease
	if lease == 0 {
		lease = 10 * time.Minute
	}
	run, claimed, err := p.Store.ClaimJobRun(ctx, job, period, trigger, lease)
	if err != nil || !claimed {
		return run, false, err
	}
	progress := func() {
		if err := p.Store.RenewJobRun(ctx, run.ID, lease); err != nil {
			p.Log.Warn("could not renew a periodic job's lease", "job", job, "period", period, "error", err)
		}
	}
	counts, workErr := work(ctx, p.Batch, progress)
	if counts == nil {
		counts = map[string]int64{}
	}
	// Recorded with a context of its own: the job's may be what ended.
	finishCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Store.FinishJobRun(finishCtx, run.ID, counts, workErr); err != nil {
		return run, false, errors.Join(workErr, fmt.Errorf("record the %s run: %w", job, err))
	}
	if workErr != nil {
		return run, false, fmt.Errorf("%s run %s: %w", job, period, workErr)
	}
	finished, err := p.Store.JobRunFor(finishCtx, job, period)
	if err != nil {
		return run, true, err
	}
	return finished, true, nil
}
