package webhooks_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/standinghq/standing/webhooks"
)

func TestPolicyNext(t *testing.T) {
	t.Parallel()
	p := webhooks.Policy{
		MaxAttempts: 8, MaxAge: 72 * time.Hour, MaxInterval: 10 * time.Hour, DisableAfter: 120 * time.Hour,
		Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute },
	}
	start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	at := func(outcome webhooks.Outcome, n int, since time.Duration, retryAfter time.Duration) webhooks.Attempt {
		return webhooks.Attempt{Outcome: outcome, Number: n, RetryAfter: retryAfter, At: start.Add(since),
			CycleStarted: start, Error: "HTTP 503"}
	}
	cases := []struct {
		name    string
		attempt webhooks.Attempt
		step    webhooks.Step
		retryIn time.Duration
		disable bool
		errText string
	}{
		{"2xx delivers", at(webhooks.Delivered, 1, 0, 0), webhooks.StepDelivered, 0, false, ""},
		{"retryable: the backoff delay", at(webhooks.Retry, 3, time.Hour, 0), webhooks.StepRetry, 3 * time.Minute, false, "HTTP 503"},
		{"Retry-After wins over the backoff", at(webhooks.Retry, 1, 0, 17*time.Minute), webhooks.StepRetry, 17 * time.Minute, false, "HTTP 503"},
		{"Retry-After is capped at MaxInterval", at(webhooks.Retry, 1, 0, 48*time.Hour), webhooks.StepRetry, 10 * time.Hour, false, "HTTP 503"},
		{"give up after MaxAttempts", at(webhooks.Retry, 8, time.Hour, 0), webhooks.StepFail, 0, false, "gave up after 8 attempts: HTTP 503"},
		{"give up when the next attempt is past MaxAge", at(webhooks.Retry, 2, 72*time.Hour-time.Minute, 0), webhooks.StepFail, 0, false, "gave up after 2 attempts: HTTP 503"},
		{"just inside MaxAge still retries", at(webhooks.Retry, 2, 72*time.Hour-2*time.Minute, 0), webhooks.StepRetry, 2 * time.Minute, false, "HTTP 503"},
		{"410 fails and disables", at(webhooks.Gone, 1, 0, 0), webhooks.StepFail, 0, true, "HTTP 503"},
		{"other 4xx fails without retry", at(webhooks.Rejected, 1, 0, 0), webhooks.StepFail, 0, false, "HTTP 503"},
		{"a disabled destination's delivery fails", at(webhooks.Skipped, 1, 0, 0), webhooks.StepFail, 0, false, "HTTP 503"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := p.Next(c.attempt)
			require.Equal(t, c.step, n.Step)
			require.Equal(t, c.retryIn, n.RetryIn)
			require.Equal(t, c.disable, n.DisableFor != "", n.DisableFor)
			require.Equal(t, c.errText, n.Error)
		})
	}
}

func TestPolicyShouldDisableAfterFiveDaysWithoutASuccess(t *testing.T) {
	t.Parallel()
	p := webhooks.Policy{DisableAfter: 120 * time.Hour}
	since := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	off, _ := p.ShouldDisable(nil, since.Add(200*time.Hour))
	require.False(t, off, "not failing: never disabled")
	off, _ = p.ShouldDisable(&since, since.Add(120*time.Hour-time.Second))
	require.False(t, off, "a second short of five days")
	off, why := p.ShouldDisable(&since, since.Add(120*time.Hour))
	require.True(t, off)
	require.Equal(t, "failing without a success since 2026-11-20T10:00:00Z", why)
}

func TestOutcomeNames(t *testing.T) {
	t.Parallel()
	for o, name := range map[webhooks.Outcome]string{webhooks.Delivered: "delivered", webhooks.Retry: "retry",
		webhooks.Rejected: "rejected", webhooks.Gone: "gone", webhooks.Skipped: "skipped"} {
		require.Equal(t, name, o.String())
	}
}
