package workers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/models"
	"github.com/standinghq/standing/rules"
	"github.com/standinghq/standing/tasks"
	"github.com/standinghq/standing/workers"
)

func TestCappedRetryDelay(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask(tasks.TypeSessionApply, nil)
	delay := workers.CappedRetryDelay(2 * time.Second)
	down := errors.New("database down")
	for n := range 30 {
		d := delay(n, down, task)
		require.Positive(t, d, "retry %d", n)
		require.LessOrEqual(t, d, 2*time.Second, "retry %d: capped", n)
	}
	require.LessOrEqual(t, delay(0, down, task), 250*time.Millisecond, "the first retry comes soon")
	require.Equal(t, time.Second, delay(3, asynq.ErrLeaseExpired, task), "a crashed worker's job runs again at once")
	require.Equal(t, 42*time.Second, delay(3, &workers.RetryError{After: 42 * time.Second}, task), "a delivery's own schedule is kept")
	require.Greater(t, workers.CappedRetryDelay(0)(3, down, task), 2*time.Second, "no limit: asynq's default")
}

func TestQueueSeriesArePresentFromTheStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(workers.NewQueueCollector(b.inspector, b.queues, b.log))
	// No job was ever enqueued: the queues do not exist in Redis yet.
	n, err := testutil.GatherAndCount(reg, "asynq_queue_size", "asynq_tasks_enqueued_total")
	require.NoError(t, err)
	require.Equal(t, 4+4*6, n, "every queue reported, at zero")
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP asynq_queue_size Number of tasks in a queue.
# TYPE asynq_queue_size gauge
asynq_queue_size{queue="`+b.queues.Apply()+`"} 0
asynq_queue_size{queue="`+b.queues.Webhooks()+`"} 0
asynq_queue_size{queue="`+b.queues.WebhookRetries()+`"} 0
asynq_queue_size{queue="`+b.queues.Periodic()+`"} 0
`), "asynq_queue_size"))

	b.requestStatusFor(t)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP asynq_queue_size Number of tasks in a queue.
# TYPE asynq_queue_size gauge
asynq_queue_size{queue="`+b.queues.Apply()+`"} 1
asynq_queue_size{queue="`+b.queues.Webhooks()+`"} 0
asynq_queue_size{queue="`+b.queues.WebhookRetries()+`"} 0
asynq_queue_size{queue="`+b.queues.Periodic()+`"} 0
`), "asynq_queue_size"))
}

// requestStatusFor creates an entity and enqueues a status change of it.
func (b bundle) requestStatusFor(t *testing.T) *models.InboxItem {
	t.Helper()
	_, err := b.store.CreateEntity(context.Background(), b.app.ID, models.NewEntity{Kind: models.KindUser, VendorData: "m"})
	require.NoError(t, err)
	return b.requestStatus(t, "m", rules.EntityFlagged)
}
