package workers

import (
	"log/slog"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/standinghq/standing/tasks"
)

// QueueInspector reads queue statistics; *asynq.Inspector is one.
type QueueInspector interface {
	Queues() ([]string, error)
	GetQueueInfo(queue string) (*asynq.QueueInfo, error)
}

// The queue series, named as asynq's own collector (github.com/hibiken/asynq/x/metrics)
// names them, so that its dashboards work unchanged.
var (
	queueTasksDesc = prometheus.NewDesc("asynq_tasks_enqueued_total",
		"Number of tasks in a queue, by queue and state.", []string{"queue", "state"}, nil)
	queueSizeDesc = prometheus.NewDesc("asynq_queue_size",
		"Number of tasks in a queue.", []string{"queue"}, nil)
	queueLatencyDesc = prometheus.NewDesc("asynq_queue_latency_seconds",
		"Seconds the oldest pending task of a queue has waited.", []string{"queue"}, nil)
	queueMemoryDesc = prometheus.NewDesc("asynq_queue_memory_usage_approx_bytes",
		"Memory a queue uses (approximated by sampling).", []string{"queue"}, nil)
	queueProcessedDesc = prometheus.NewDesc("asynq_tasks_processed_total",
		"Tasks processed (succeeded and failed), by queue.", []string{"queue"}, nil)
	queueFailedDesc = prometheus.NewDesc("asynq_tasks_failed_total",
		"Tasks failed, by queue.", []string{"queue"}, nil)
	queuePausedDesc = prometheus.NewDesc("asynq_queue_paused_total",
		"1 when the queue is paused.", []string{"queue"}, nil)
)

// QueueCollector exports the statistics of Standing's asynq queues to Prometheus.
// Unlike asynq's own collector (x/metrics) it reports them from the start, at zero,
// before their first job creates them in Redis (a dashboard reads 0, not "no data"),
// and it logs through slog instead of the global logger.
type QueueCollector struct {
	inspector QueueInspector
	queues    tasks.Queues
	log       *slog.Logger
}

// NewQueueCollector returns the collector of queues' statistics.
func NewQueueCollector(inspector QueueInspector, queues tasks.Queues, log *slog.Logger) *QueueCollector {
	return &QueueCollector{inspector: inspector, queues: queues, log: log}
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueTasksDesc, queueSizeDesc, queueLatencyDesc,
		queueMemoryDesc, queueProcessedDesc, queueFailedDesc, queuePausedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	existing, err := c.inspector.Queues()
	if err != nil {
		c.log.Warn("queue statistics unavailable", "error", err)
		return
	}
	exists := map[string]bool{}
	for _, n := range existing {
		exists[n] = true
	}
	for _, name := range c.queues.Names() {
		if !exists[name] {
			// Not created yet (no job so far): report it empty.
			emitQueue(ch, &asynq.QueueInfo{Queue: name})
			continue
		}
		info, err := c.inspector.GetQueueInfo(name)
		if err != nil {
			c.log.Warn("queue statistics unavailable", "queue", name, "error", err)
			continue
		}
		emitQueue(ch, info)
	}
}

func emitQueue(ch chan<- prometheus.Metric, info *asynq.QueueInfo) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	q := info.Queue
	for state, n := range map[string]int{
		"active": info.Active, "pending": info.Pending, "scheduled": info.Scheduled,
		"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
	} {
		gauge(queueTasksDesc, float64(n), q, state)
	}
	gauge(queueSizeDesc, float64(info.Size), q)
	gauge(queueLatencyDesc, info.Latency.Seconds(), q)
	gauge(queueMemoryDesc, float64(info.MemoryUsage), q)
	ch <- prometheus.MustNewConstMetric(queueProcessedDesc, prometheus.CounterValue, float64(info.ProcessedTotal), q)
	ch <- prometheus.MustNewConstMetric(queueFailedDesc, prometheus.CounterValue, float64(info.FailedTotal), q)
	paused := 0.0
	if info.Paused {
		paused = 1
	}
	gauge(queuePausedDesc, paused, q)
}
