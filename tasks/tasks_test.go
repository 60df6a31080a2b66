package tasks_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/tasks"
)

func TestNewInboxTaskRoundTrip(t *testing.T) {
	t.Parallel()
	q := tasks.Queues{Prefix: "x-"}
	task := tasks.NewInboxTask(q, tasks.TypeStatusApply, "0192f0c4-0000-7000-8000-000000000001")
	require.Equal(t, tasks.TypeStatusApply, task.Type())
	p, err := tasks.ParseInboxPayload(task)
	require.NoError(t, err)
	require.Equal(t, "0192f0c4-0000-7000-8000-000000000001", p.InboxID)
	require.Equal(t, "x-apply", q.Apply())
	require.Equal(t, map[string]int{"x-apply": 6, "x-webhooks": 3, "x-webhooks_retry": 1, "x-periodic": 1}, q.Priorities())
}

func TestParseInboxPayloadRejectsGarbageWithoutRetry(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{"", "{", `{"inbox_id":""}`, `[]`} {
		_, err := tasks.ParseInboxPayload(asynq.NewTask(tasks.TypeStatusApply, []byte(payload)))
		require.Error(t, err, payload)
		require.True(t, errors.Is(err, asynq.SkipRetry), payload)
	}
}

func TestPeriodicTasksAreNamedByTheirPeriod(t *testing.T) {
	t.Parallel()
	q := tasks.Queues{Prefix: "x-"}
	at := time.Date(2026, 12, 2, 5, 59, 59, 0, time.FixedZone("CET", 3600))
	require.Equal(t, "2026-12-02T04", tasks.HourlyPeriod(at), "periods are UTC hours")
	task := tasks.NewPeriodicTask(q, tasks.TypePurge, tasks.HourlyPeriod(at), time.Hour)
	require.Equal(t, tasks.TypePurge, task.Type())
	p, err := tasks.ParsePeriodicPayload(task)
	require.NoError(t, err)
	require.Equal(t, "2026-12-02T04", p.Period)
	for _, payload := range []string{"", "{", `{"period":""}`} {
		_, err := tasks.ParsePeriodicPayload(asynq.NewTask(tasks.TypePurge, []byte(payload)))
		require.True(t, errors.Is(err, asynq.SkipRetry), payload)
	}
}

func TestParseAMLRescanPayload(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask(tasks.TypeAMLRescan, []byte(`{"application_id":"0192f0c4-0000-7000-8000-000000000002"}`))
	require.Equal(t, "aml:rescan", tasks.TypeAMLRescan)
	p, err := tasks.ParseAMLRescanPayload(task)
	require.NoError(t, err)
	require.Equal(t, "0192f0c4-0000-7000-8000-000000000002", p.ApplicationID)
	for _, payload := range []string{"", "{", `{"application_id":""}`} {
		_, err := tasks.ParseAMLRescanPayload(asynq.NewTask(tasks.TypeAMLRescan, []byte(payload)))
		require.True(t, errors.Is(err, asynq.SkipRetry), payload)
	}
}
