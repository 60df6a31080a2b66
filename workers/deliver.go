package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/webhooks"
)

// slotWait is how long a delivery waits for a slot of its destination before its job
// is put back for a moment. Not at all: measured, any wait holds a worker that could
// deliver to another destination meanwhile.
const slotWait = 0

// ErrDestinationBusy means a destination already has its share of this process's
// workers; the job runs again shortly without counting as a failed attempt.
var ErrDestinationBusy = errors.New("destination busy: its concurrent deliveries are at the cap")

// RetryError asks for the next attempt after After.
type RetryError struct {
	After time.Duration
	Cause string
}

func (e *RetryError) Error() string { return fmt.Sprintf("retry in %s: %s", e.After, e.Cause) }

// DeliveryEnqueuer puts delivery jobs on the queues; it is the store's delivery hook
// and the relay's way to re-enqueue deliveries.
type DeliveryEnqueuer struct {
	Queue   Enqueuer
	Queues  tasks.Queues
	Timeout time.Duration
	// Retries is how often the retry queue runs one delivery's job before archiving it;
	// the delivery's own record decides when to give up.
	Retries int
	// Inspector, when set, lets a resend replace the archived job of a delivery that
	// failed before (same task id).
	Inspector TaskInspector
	Log       *slog.Logger
}

// Task returns the job of ref.
func (e DeliveryEnqueuer) Task(ref models.DeliveryRef) *asynq.Task {
	at := ref.At
	if at.IsZero() {
		at = time.Now()
	}
	return tasks.NewDeliveryTask(e.Queues, ref.ID, ref.DestinationID, ref.Retry, at, e.Timeout+30*time.Second, e.Retries)
}

// enqueuers is how many delivery jobs one call enqueues at once: a commit that applied
// a batch of events may make hundreds of deliveries due, and each enqueue is a Redis
// round trip.
const enqueuers = 8

// EnqueueContext enqueues the jobs of refs, up to enqueuers at once. Failures are
// logged: the deliveries are in the database, and the relay enqueues them later. It
// stops at the first failure: on the request path, a stalled Redis must cost one
// timeout, not one per delivery.
func (e DeliveryEnqueuer) EnqueueContext(ctx context.Context, refs []models.DeliveryRef) {
	var (
		next    atomic.Int64
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	for range min(enqueuers, len(refs)) {
		wg.Go(func() {
			for !stopped.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(refs) {
					return
				}
				if err := e.enqueue(ctx, refs[i]); err != nil && !stopped.Swap(true) {
					e.Log.Warn("enqueue delivery failed; the relay will enqueue it (and the rest) later",
						"delivery_id", refs[i].ID, "remaining", len(refs)-i-1, "error", err)
				}
			}
		})
	}
	wg.Wait()
}

// enqueue enqueues the job of one delivery; a job already under its id is no failure.
func (e DeliveryEnqueuer) enqueue(ctx context.Context, ref models.DeliveryRef) error {
	task := e.Task(ref)
	_, err := e.Queue.EnqueueContext(ctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) && e.Inspector != nil {
		err = e.replaceFinished(ctx, task, ref)
	}
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return nil
	}
	return err
}

// replaceFinished enqueues task again when the job already under its id is one the
// queue archived (a delivery that failed for good, now resent); a job still waiting or
// running is left alone.
func (e DeliveryEnqueuer) replaceFinished(ctx context.Context, task *asynq.Task, ref models.DeliveryRef) error {
	queue := e.Queues.Webhooks()
	if ref.Retry {
		queue = e.Queues.WebhookRetries()
	}
	info, err := e.Inspector.GetTaskInfo(queue, ref.ID)
	if err != nil || (info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted) {
		return nil
	}
	if err := e.Inspector.DeleteTask(queue, ref.ID); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return err
	}
	_, err = e.Queue.EnqueueContext(ctx, task)
	return err
}

// Deliverer makes delivery attempts.
type Deliverer struct {
	Store    *models.Store
	Sender   *webhooks.Sender
	Enqueuer DeliveryEnqueuer
	Policy   webhooks.Policy
	Limiter  *Limiter
	Log      *slog.Logger
	// Metrics counts attempts; nil counts nothing.
	Metrics *Metrics
	// Now is the clock of signatures; nil means time.Now.
	Now func() time.Time
	// RelayAfter is how long after a delivery was enqueued the relay may offer it again
	// (STANDING_RELAY_AFTER): a batch job takes the deliveries it can attempt and record
	// before then without claiming them (models.Store.TakeFirstAttempts). 0 claims all.
	RelayAfter time.Duration
}

// recordTimeout bounds the recording of an attempt that was made; takeMargin is what a
// batch job leaves between the end of a record and the time the relay may offer the
// deliveries it took without a claim (clocks of processes on other hosts differ).
const (
	recordTimeout = 10 * time.Second
	takeMargin    = 2 * time.Second
)

// HandleDeliver makes one attempt at a delivery: it claims the delivery, signs the
// event's stored bytes with the destination's live secrets, posts them, records the
// attempt and decides what follows. A first attempt that must be retried hands the
// delivery to the retry queue; a retry that fails again returns a RetryError whose delay
// asynq's RetryDelayFunc honours.
func (d *Deliverer) HandleDeliver(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseDeliveryPayload(t)
	if err != nil {
		return err
	}
	release, ok := d.Limiter.Single(ctx, p.DestinationID)
	if !ok {
		return ErrDestinationBusy
	}
	defer release()
	// A job on the first-attempt queue makes only a first attempt: a batch job may have
	// made it meanwhile (the relay offers an unattempted delivery again as a job of its
	// own), and the next one is then its retry job's, at its time.
	queue, _ := asynq.GetQueueName(ctx)
	retryJob := queue == d.Enqueuer.Queues.WebhookRetries()
	claim := d.Store.ClaimFirstAttempt
	if retryJob {
		claim = d.Store.ClaimDelivery
	}
	job, err := claim(ctx, p.DeliveryID, d.Enqueuer.Timeout+30*time.Second)
	if err != nil {
		return fmt.Errorf("claim delivery %s: %w", p.DeliveryID, err)
	}
	if job == nil {
		return nil // delivered, given up, deleted, or being attempted by another worker
	}
	result := d.attempt(ctx, job)
	d.Metrics.attempt(result.Outcome.String())
	// The attempt happened: record it even if the job's context is ending.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	decision, err := d.Store.RecordAttempt(recordCtx, job, result, d.Policy)
	if errors.Is(err, models.ErrClaimLost) {
		d.Log.Warn("an attempt outlived its claim; another attempt owns the delivery", "delivery_id", p.DeliveryID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record attempt at delivery %s: %w", p.DeliveryID, err)
	}
	switch decision.State {
	case models.DeliveryDelivered:
		return nil
	case models.DeliveryFailed:
		// Final: the delivery log has the story; the queue archives the job.
		return fmt.Errorf("delivery %s failed for good: %s: %w", p.DeliveryID, result.Error, asynq.SkipRetry)
	}
	if !retryJob {
		d.handToRetryQueue(ctx, []models.DeliveryRef{retryRef(p.DeliveryID, p.DestinationID, decision, time.Now())})
		return nil
	}
	return &RetryError{After: decision.RetryIn, Cause: result.Error}
}

// retryRef is the retry-queue job of a delivery whose attempt decision says to retry.
func retryRef(deliveryID, destinationID string, decision models.DeliveryDecision, now time.Time) models.DeliveryRef {
	return models.DeliveryRef{ID: deliveryID, DestinationID: destinationID, Retry: true, At: now.Add(decision.RetryIn)}
}

// handToRetryQueue enqueues the retry jobs of first attempts, even if the job's context
// is ending (the attempts are recorded; a failed enqueue leaves them to the relay).
func (d *Deliverer) handToRetryQueue(ctx context.Context, refs []models.DeliveryRef) {
	if len(refs) == 0 {
		return
	}
	enqueueCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	d.Enqueuer.EnqueueContext(enqueueCtx, refs)
}

// attempt posts the delivery once and classifies the result.
func (d *Deliverer) attempt(ctx context.Context, job *models.DeliveryJob) models.AttemptResult {
	if !job.Destination.Enabled {
		return models.AttemptResult{Outcome: webhooks.Skipped,
			Error: "the destination is disabled: " + job.Destination.DisabledReason}
	}
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	body := []byte(job.Event.Body)
	sign := webhooks.Headers // a body stored before migration 00019 may not be canonical
	if job.Event.BodyCanonical {
		sign = webhooks.HeadersOfCanonical
	}
	header, err := sign(job.Destination.LiveSecrets(now), job.Event.ID, body, now)
	if err != nil {
		return models.AttemptResult{Outcome: webhooks.Rejected, RequestURL: job.Destination.URL,
			Error: "could not sign: " + err.Error()}
	}
	res, sendErr := d.Sender.Send(ctx, job.Destination.URL, body, header)
	flat := make(map[string]string, len(header))
	for k, v := range header {
		flat[k] = strings.Join(v, ", ")
	}
	r := models.AttemptResult{
		RequestURL: job.Destination.URL, RequestHeaders: flat, Status: res.Status,
		ResponseBody: res.Body, Duration: res.Duration, Error: webhooks.Describe(res, sendErr),
		RetryAfter: res.RetryAfter, Outcome: webhooks.Classify(res, sendErr),
	}
	return r
}

// IsFailure tells asynq which errors count as failed attempts: a busy destination, or
// an inbox item another transaction holds, does not.
func IsFailure(err error) bool { return !isBusy(err) }

// isBusy reports whether err says a job met work another holds (a destination at its
// cap, an inbox item in another batch): it runs again shortly.
func isBusy(err error) bool {
	return errors.Is(err, ErrDestinationBusy) || errors.Is(err, models.ErrInboxItemBusy)
}
