package workers

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the workers' own Prometheus series.
type Metrics struct {
	jobs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	attempts *prometheus.CounterVec
}

// NewMetrics registers the workers' series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "standing_jobs_total",
			Help: "Jobs run, by type and result (ok or error).",
		}, []string{"type", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "standing_job_duration_seconds",
			Help:    "Time to run a job, by type.",
			Buckets: prometheus.DefBuckets,
		}, []string{"type"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "standing_webhook_attempts_total",
			Help: "Webhook delivery attempts, by outcome (delivered, retry, rejected, gone, skipped).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.jobs, m.duration, m.attempts)
	return m
}

// Middleware counts and times every job.
func (m *Metrics) Middleware(next asynq.Handler) asynq.Handler {
	return asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := next.ProcessTask(ctx, t)
		result := "ok"
		if err != nil {
			result = "error"
		}
		m.jobs.WithLabelValues(t.Type(), result).Inc()
		m.duration.WithLabelValues(t.Type()).Observe(time.Since(start).Seconds())
		return err
	})
}

// attempt counts one delivery attempt; a nil Metrics counts nothing.
func (m *Metrics) attempt(outcome string) {
	if m != nil {
		m.attempts.WithLabelValues(outcome).Inc()
	}
}
