// Package tasks names Standing's background jobs: their type names, payloads, queues and
// constructors. A job carries only ids; the state it works on lives in the database.
package tasks

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	// TypeStatusApply applies a status change stored in the inbox.
	TypeStatusApply = "status:apply"
	// TypeSessionApply applies a session status event stored in the inbox.
	TypeSessionApply = "session:apply"
	// TypeTransactionEvaluate evaluates a submitted transaction.
	TypeTransactionEvaluate = "transaction:evaluate"
	// TypeWebhookDeliver makes one attempt at a webhook delivery.
	TypeWebhookDeliver = "webhook:deliver"
	// TypeWebhookBatch makes first attempts at several deliveries to one destination,
	// claimed and recorded together.
	TypeWebhookBatch = "webhook:batch"
	// TypePurge runs the hourly retention purge (SPEC section 2, "Deletion").
	TypePurge = "purge"
	// TypeReverify starts the re-verification sessions that are due.
	TypeReverify = "reverify"
	// TypeAMLScreen screens an application's entities against a `name` list entry just
	// added (an inbox job: its payload is InboxPayload).
	TypeAMLScreen = "aml:screen"
	// TypeAMLRescan screens every entity of an application with an approved session
	// against all its `name` entries (ongoing AML monitoring, every
	// aml_rescan_interval_hours); the scheduler enqueues it with AMLRescanPayload.
	TypeAMLRescan = "aml:rescan"
)

// Queue base names; Queues adds a prefix.
const (
	// QueueApply runs the jobs that apply inbox items to entities.
	QueueApply = "apply"
	// QueueWebhooks runs first attempts at deliveries.
	QueueWebhooks = "webhooks"
	// QueueWebhookRetries runs later attempts, so that endpoints that fail never hold up
	// first attempts to healthy ones.
	QueueWebhookRetries = "webhooks_retry"
	// QueuePeriodic runs the scheduler's periodic jobs (purge, re-verification, rescans).
	QueuePeriodic = "periodic"
)

// Queues names the queues of one deployment. Prefix is empty in production; tests give
// each test its own prefix so that tests sharing one Redis never take each other's jobs.
type Queues struct {
	Prefix string
}

// Apply is the queue of inbox jobs.
func (q Queues) Apply() string { return q.Prefix + QueueApply }

// Webhooks is the queue of first delivery attempts.
func (q Queues) Webhooks() string { return q.Prefix + QueueWebhooks }

// WebhookRetries is the queue of later delivery attempts.
func (q Queues) WebhookRetries() string { return q.Prefix + QueueWebhookRetries }

// Periodic is the queue of the scheduler's periodic jobs.
func (q Queues) Periodic() string { return q.Prefix + QueuePeriodic }

// Priorities are the queues a work process serves, with their weights.
func (q Queues) Priorities() map[string]int {
	return map[string]int{q.Apply(): 6, q.Webhooks(): 3, q.WebhookRetries(): 1, q.Periodic(): 1}
}

// ApplyPriorities are the queues of the apply handlers (inbox items).
func (q Queues) ApplyPriorities() map[string]int { return map[string]int{q.Apply(): 1} }

// WebhookPriorities are the queues of the delivery handlers, first attempts before
// retries.
func (q Queues) WebhookPriorities() map[string]int {
	return map[string]int{q.Webhooks(): 3, q.WebhookRetries(): 1}
}

// Names lists every queue.
func (q Queues) Names() []string {
	return []string{q.Apply(), q.Webhooks(), q.WebhookRetries(), q.Periodic()}
}

// DeliveryPayload is the payload of a delivery attempt.
type DeliveryPayload struct {
	DeliveryID    string `json:"delivery_id"`
	DestinationID string `json:"destination_id"`
}

// firstAttemptRetries bounds how often the webhooks queue runs a first attempt again
// after an error of Standing's own (the database unreachable): a failed HTTP attempt is
// handed to the retry queue instead, and a busy destination does not count.
const firstAttemptRetries = 25

// NewDeliveryTask returns the job of an attempt at a delivery, due at processAt: a first
// attempt on the webhooks queue, or later attempts on the retry queue, retried up to
// retries times with the server's RetryDelayFunc. The task id is the delivery id.
func NewDeliveryTask(q Queues, deliveryID, destinationID string, retry bool, processAt time.Time, timeout time.Duration, retries int) *asynq.Task {
	payload, _ := json.Marshal(DeliveryPayload{DeliveryID: deliveryID, DestinationID: destinationID})
	queue, maxRetry := q.Webhooks(), firstAttemptRetries
	if retry {
		queue, maxRetry = q.WebhookRetries(), max(retries, firstAttemptRetries)
	}
	return asynq.NewTask(TypeWebhookDeliver, payload,
		asynq.TaskID(deliveryID),
		asynq.Queue(queue),
		asynq.MaxRetry(maxRetry),
		asynq.Timeout(timeout),
		asynq.ProcessAt(processAt),
	)
}

// ParseDeliveryPayload reads a delivery job's payload; a bad one is not retried.
func ParseDeliveryPayload(t *asynq.Task) (DeliveryPayload, error) {
	var p DeliveryPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.DeliveryID == "" {
		return p, fmt.Errorf("%s: bad payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	return p, nil
}

// DeliveryBatchPayload is the payload of a batch of first attempts: deliveries to one
// destination.
type DeliveryBatchPayload struct {
	DestinationID string   `json:"destination_id"`
	DeliveryIDs   []string `json:"delivery_ids"`
}

// NewDeliveryBatchTask returns the job of first attempts at deliveryIDs, all to
// destinationID, on the webhooks queue. It has a random task id: a delivery's own job
// (relay, resend) keeps the delivery id, and the claim keeps an attempt from being made
// twice.
func NewDeliveryBatchTask(q Queues, destinationID string, deliveryIDs []string, timeout time.Duration) *asynq.Task {
	payload, _ := json.Marshal(DeliveryBatchPayload{DestinationID: destinationID, DeliveryIDs: deliveryIDs})
	return asynq.NewTask(TypeWebhookBatch, payload,
		asynq.Queue(q.Webhooks()),
		asynq.MaxRetry(firstAttemptRetries),
		asynq.Timeout(timeout),
	)
}

// ParseDeliveryBatchPayload reads a batch job's payload; a bad one is not retried.
func ParseDeliveryBatchPayload(t *asynq.Task) (DeliveryBatchPayload, error) {
	var p DeliveryBatchPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.DestinationID == "" || len(p.DeliveryIDs) == 0 {
		return p, fmt.Errorf("%s: bad payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	return p, nil
}

// InboxPayload is the payload of every job that applies an inbox item.
type InboxPayload struct {
	InboxID string `json:"inbox_id"`
	// Also are items of the same type committed about when InboxID was (a group job,
	// NewInboxGroupTask): the job succeeds once each of them is settled too.
	Also []string `json:"also,omitempty"`
}

// MaxInboxGroup bounds the items of one group job.
const MaxInboxGroup = 64

// Groups reports whether jobs of taskType may be group jobs: those whose handler applies
// its items in batches (session events, transactions). Not status changes, each applied
// alone waiting for its entity (a list entry's effects are one commit of many, whose
// waits would follow one another in one job), nor screenings, each a long job.
func Groups(taskType string) bool {
	switch taskType {
	case TypeSessionApply, TypeTransactionEvaluate:
		return true
	}
	return false
}

// inboxJobTimeout bounds one run of an inbox job.
const inboxJobTimeout = time.Minute

// screeningJobTimeout bounds one run of an aml:screen job, which walks every verified
// entity of an application in batches (a run cut short is redone without harm).
const screeningJobTimeout = 30 * time.Minute

// inboxJobRetries is how often a failing inbox job is retried by the queue; the relay
// offers a still-pending item again after that.
const inboxJobRetries = 25

// NewInboxTask returns the job that applies inbox item id with a handler of taskType. The
// task id is the item id, so enqueueing it twice is a harmless conflict.
func NewInboxTask(q Queues, taskType, id string) *asynq.Task {
	return inboxTask(q, taskType, InboxPayload{InboxID: id})
}

// NewInboxGroupTask returns one job that applies inbox items ids (at least one, of
// taskType, for which Groups holds): its task id is the first item's id, and the others
// ride in the payload's Also. One job instead of one per item spares the queue a
// round trip and a dequeue per item; the first item's batch usually applies the rest.
func NewInboxGroupTask(q Queues, taskType string, ids []string) *asynq.Task {
	return inboxTask(q, taskType, InboxPayload{InboxID: ids[0], Also: ids[1:]})
}

// inboxTask is the job of payload p, with its first item's id as task id.
func inboxTask(q Queues, taskType string, p InboxPayload) *asynq.Task {
	if len(p.Also) == 0 {
		p.Also = nil // a group of one is a job of its own, byte for byte
	}
	payload, _ := json.Marshal(p) // cannot fail: strings
	timeout := inboxJobTimeout
	if taskType == TypeAMLScreen {
		timeout = screeningJobTimeout
	}
	return asynq.NewTask(taskType, payload,
		asynq.TaskID(p.InboxID),
		asynq.Queue(q.Apply()),
		asynq.MaxRetry(inboxJobRetries),
		asynq.Timeout(timeout),
	)
}

// ParseInboxPayload reads an inbox job's payload. A payload that cannot be read is
// reported with asynq.SkipRetry: running it again cannot help.
func ParseInboxPayload(t *asynq.Task) (InboxPayload, error) {
	var p InboxPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.InboxID == "" {
		return p, fmt.Errorf("%s: bad payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	return p, nil
}

// PeriodicPayload is the payload of a periodic job: the period it runs for.
type PeriodicPayload struct {
	Period string `json:"period"`
}

// periodicJobTimeout bounds one run of a periodic job; the job works in batches and
// renews its lease between them, so a longer pass is picked up by the next run.
const periodicJobTimeout = 30 * time.Minute

// periodicJobRetries is how often a failed periodic job is retried within its period.
const periodicJobRetries = 10

// HourlyPeriod names the hour t falls in, like "2026-12-02T05" (UTC).
func HourlyPeriod(t time.Time) string { return t.UTC().Format("2006-01-02T15") }

// NewPeriodicTask returns the job of taskType for period. Its task id is the type and
// the period ("purge:2026-12-02T05"), and a finished job is kept for retention, so that
// any number of schedulers enqueueing it in that time make one job.
func NewPeriodicTask(q Queues, taskType, period string, retention time.Duration) *asynq.Task {
	payload, _ := json.Marshal(PeriodicPayload{Period: period}) // cannot fail: one string field
	return asynq.NewTask(taskType, payload,
		asynq.TaskID(taskType+":"+period),
		asynq.Queue(q.Periodic()),
		asynq.MaxRetry(periodicJobRetries),
		asynq.Timeout(periodicJobTimeout),
		asynq.Retention(retention),
	)
}

// ParsePeriodicPayload reads a periodic job's payload; a bad one is not retried.
func ParsePeriodicPayload(t *asynq.Task) (PeriodicPayload, error) {
	var p PeriodicPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.Period == "" {
		return p, fmt.Errorf("%s: bad payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	return p, nil
}

// AMLRescanPayload is the payload of an application's AML rescan (the scheduler of
// `standing work` enqueues it once per aml_rescan_interval_hours).
type AMLRescanPayload struct {
	ApplicationID string `json:"application_id"`
}

// NewAMLRescanTask returns the rescan of application appID for period (a bucket of its
// aml_rescan_interval_hours); the task id is "aml:rescan:<app>:<period>".
func NewAMLRescanTask(q Queues, appID, period string, retention time.Duration) *asynq.Task {
	payload, _ := json.Marshal(AMLRescanPayload{ApplicationID: appID})
	return asynq.NewTask(TypeAMLRescan, payload,
		asynq.TaskID(TypeAMLRescan+":"+appID+":"+period),
		asynq.Queue(q.Periodic()),
		asynq.MaxRetry(periodicJobRetries),
		asynq.Timeout(periodicJobTimeout),
		asynq.Retention(retention),
	)
}

// ParseAMLRescanPayload reads a rescan job's payload; a bad one is not retried.
func ParseAMLRescanPayload(t *asynq.Task) (AMLRescanPayload, error) {
	var p AMLRescanPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ApplicationID == "" {
		return p, fmt.Errorf("%s: bad payload %q: %w", t.Type(), t.Payload(), asynq.SkipRetry)
	}
	return p, nil
}
