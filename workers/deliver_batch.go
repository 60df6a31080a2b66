package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/tasks"
)

// A commit that applied a batch of events makes many deliveries due at once, most of
// them to the same destination. Their first attempts go out as batch jobs: one job per
// destination and up to maxDeliveryBatch deliveries claims them in one statement, posts
// them concurrently (within the destination's cap) and records them in one transaction,
// instead of one job, one claim and one record transaction per delivery. Later attempts
// keep a job of their own on the retry queue, at the time their backoff gives.

// maxDeliveryBatch bounds the deliveries of one batch job.
const maxDeliveryBatch = 64

// batchSlotWait is how long a batch that holds no slot of its destination waits for one
// before it is put back for a moment (ErrDestinationBusy): another batch to the same
// destination is usually finishing.
const batchSlotWait = 100 * time.Millisecond

// BatchTimeout is the asynq timeout of a batch job whose HTTP requests time out after
// timeout: it starts rounds of attempts for at most timeout, and each round ends within
// timeout plus the time to claim and record.
func BatchTimeout(timeout time.Duration) time.Duration { return 2*timeout + time.Minute }

// EnqueueBatched enqueues the jobs of refs: the first attempts due now at two or more
// deliveries to one destination as batch jobs, the rest (retries, a delivery alone) as
// jobs of their own. Failures are logged, as EnqueueContext does.
func (e DeliveryEnqueuer) EnqueueBatched(ctx context.Context, refs []models.DeliveryRef) {
	now := time.Now()
	var singles []models.DeliveryRef
	byDestination := map[string][]string{}
	var order []string
	for _, ref := range refs {
		if ref.Retry || ref.At.After(now) {
			singles = append(singles, ref)
			continue
		}
		if _, ok := byDestination[ref.DestinationID]; !ok {
			order = append(order, ref.DestinationID)
		}
		byDestination[ref.DestinationID] = append(byDestination[ref.DestinationID], ref.ID)
	}
	for _, dest := range order {
		ids := byDestination[dest]
		if len(ids) == 1 {
			singles = append(singles, models.DeliveryRef{ID: ids[0], DestinationID: dest})
			continue
		}
		for start := 0; start < len(ids); start += maxDeliveryBatch {
			chunk := ids[start:min(start+maxDeliveryBatch, len(ids))]
			task := tasks.NewDeliveryBatchTask(e.Queues, dest, chunk, BatchTimeout(e.Timeout))
			if _, err := e.Queue.EnqueueContext(ctx, task); err != nil {
				// The deliveries are in the database; the relay enqueues them later, one by
				// one. The other batches are still tried (a stalled Redis fails them at once).
				e.Log.Warn("enqueue delivery batch failed; the relay will enqueue its deliveries later",
					"destination_id", dest, "deliveries", len(chunk), "error", err)
			}
		}
	}
	if len(singles) > 0 {
		e.EnqueueContext(ctx, singles)
	}
}

// HandleDeliverBatch makes first attempts at a batch job's deliveries, holding one of
// the destination's handler slots, in rounds: each round takes as many free request
// slots of the destination as there are deliveries left, claims
// that many in one statement (only those never attempted: a batch run again after a
// failure skips what it did), posts them concurrently, records them in one transaction
// and hands those to retry to the retry queue. A batch that gets no slot, or has run
// rounds for the HTTP timeout, is put back for a moment (ErrDestinationBusy) with what
// is left; a delivery that fails for good is in the delivery log.
func (d *Deliverer) HandleDeliverBatch(ctx context.Context, t *asynq.Task) error {
	p, err := tasks.ParseDeliveryBatchPayload(t)
	if err != nil {
		return err
	}
	handler, ok := d.Limiter.Hold(ctx, p.DestinationID, batchSlotWait)
	if !ok {
		return ErrDestinationBusy
	}
	defer handler()
	deadline := time.Now().Add(d.Enqueuer.Timeout)
	remaining := p.DeliveryIDs
	for len(remaining) > 0 {
		if time.Now().After(deadline) {
			return ErrDestinationBusy
		}
		releases := d.Limiter.TryRequests(p.DestinationID, len(remaining))
		if len(releases) == 0 {
			release, ok := d.Limiter.Request(ctx, p.DestinationID, batchSlotWait)
			if !ok {
				return ErrDestinationBusy
			}
			// Slots come back as requests end: take the others freed meanwhile too, so
			// that the round is not one request long.
			releases = append([]func(){release}, d.Limiter.TryRequests(p.DestinationID, len(remaining)-1)...)
		}
		round := remaining[:len(releases)]
		remaining = remaining[len(releases):]
		if err := d.deliverRound(ctx, round, releases); err != nil {
			return err
		}
	}
	return nil
}

// deliverRound claims ids (or takes them without a claim while the relay cannot offer
// them before the round ends), posts those claimed concurrently (each holding one of
// releases, a slot of their destination), records the attempts in one transaction and
// enqueues the retries.
func (d *Deliverer) deliverRound(ctx context.Context, ids []string, releases []func()) error {
	within := d.Enqueuer.Timeout + recordTimeout + takeMargin
	jobs, err := d.Store.TakeFirstAttempts(ctx, ids, d.Enqueuer.Timeout+30*time.Second, within, d.RelayAfter)
	if err != nil {
		for _, release := range releases {
			release()
		}
		return fmt.Errorf("claim %d deliveries: %w", len(ids), err)
	}
	records := make([]models.AttemptRecord, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		if job == nil {
			releases[i]()
			continue
		}
		wg.Go(func() {
			defer releases[i]()
			records[i] = models.AttemptRecord{Job: job, Result: d.attempt(ctx, job)}
			d.Metrics.attempt(records[i].Result.Outcome.String())
		})
	}
	wg.Wait()
	attempted := records[:0]
	for _, r := range records {
		if r.Job != nil {
			attempted = append(attempted, r)
		}
	}
	if len(attempted) == 0 {
		return nil
	}
	// The attempts happened: record them even if the job's context is ending.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	recorded, err := d.Store.RecordAttempts(recordCtx, attempted, d.Policy)
	if err != nil {
		return fmt.Errorf("record %d attempts: %w", len(attempted), err)
	}
	var retries []models.DeliveryRef
	now := time.Now()
	for i, r := range recorded {
		job := attempted[i].Job
		switch {
		case errors.Is(r.Err, models.ErrClaimLost): // the only error of one attempt's record
			d.Log.Warn("an attempt outlived its claim; another attempt owns the delivery", "delivery_id", job.Delivery.ID)
		case r.Decision.State == models.DeliveryPending:
			retries = append(retries, retryRef(job.Delivery.ID, job.Delivery.DestinationID, r.Decision, now))
		}
	}
	d.handToRetryQueue(ctx, retries)
	return nil
}
