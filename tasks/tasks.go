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
)

// Queue base names; Queues adds a prefix.
const (
	// QueueApply runs the jobs that apply inbox items to entities.
	QueueApply = "apply"
)

// Queues names the queues of one deployment. Prefix is empty in production; tests give
// each test its own prefix so that tests sharing one Redis never take each other's jobs.
type Queues struct {
	Prefix string
}

// Apply is the queue of inbox jobs.
func (q Queues) Apply() string { return q.Prefix + QueueApply }

// Priorities are the queues a work process serves, with their weights.
func (q Queues) Priorities() map[string]int {
	return map[string]int{q.Apply(): 6}
}

// Names lists every queue.
func (q Queues) Names() []string { return []string{q.Apply()} }

// InboxPayload is the payload of every job that applies an inbox item.
type InboxPayload struct {
	InboxID string `json:"inbox_id"`
}

// inboxJobTimeout bounds one run of an inbox job.
const inboxJobTimeout = time.Minute

// inboxJobRetries is how often a failing inbox job is retried by the queue; the relay
// offers a still-pending item again after that.
const inboxJobRetries = 25

// NewInboxTask returns the job that applies inbox item id with a handler of taskType. The
// task id is the item id, so enqueueing it twice is a harmless conflict.
func NewInboxTask(q Queues, taskType, id string) *asynq.Task {
	payload, _ := json.Marshal(InboxPayload{InboxID: id}) // cannot fail: one string field
	return asynq.NewTask(taskType, payload,
		asynq.TaskID(id),
		asynq.Queue(q.Apply()),
		asynq.MaxRetry(inboxJobRetries),
		asynq.Timeout(inboxJobTimeout),
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
