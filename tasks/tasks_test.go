package tasks_test

import (
	"errors"
	"testing"

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
	require.Equal(t, map[string]int{"x-apply": 6, "x-webhooks": 3, "x-webhooks_retry": 1}, q.Priorities())
}

func TestParseInboxPayloadRejectsGarbageWithoutRetry(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{"", "{", `{"inbox_id":""}`, `[]`} {
		_, err := tasks.ParseInboxPayload(asynq.NewTask(tasks.TypeStatusApply, []byte(payload)))
		require.Error(t, err, payload)
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
