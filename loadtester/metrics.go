package loadtester

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are served at /metrics: the Go and process collectors Flagger's
// loadtester serves, plus counts of tasks and gate checks.
type Metrics struct {
	registry     *prometheus.Registry
	tasks        *prometheus.CounterVec
	taskDuration *prometheus.HistogramVec
	gateChecks   *prometheus.CounterVec
}

// NewMetrics registers the loadtester's metrics in a registry of its own.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warbler_loadtester_tasks_total",
			Help: "Task requests by type and HTTP status code of the answer.",
		}, []string{"type", "code"}),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "warbler_loadtester_task_duration_seconds",
			Help:    "Time to answer a task request, by type (asynchronous tasks answer at once).",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"type"}),
		gateChecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "warbler_loadtester_gate_checks_total",
			Help: "Gate and rollback checks by kind (gate, rollback) and answer.",
		}, []string{"kind", "approved"}),
	}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.tasks, m.taskDuration, m.gateChecks)
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

func (m *Metrics) task(typ string, code int, since time.Time) {
	m.tasks.WithLabelValues(typ, strconv.Itoa(code)).Inc()
	m.taskDuration.WithLabelValues(typ).Observe(time.Since(since).Seconds())
}

func (m *Metrics) gateCheck(kind string, approved bool) {
	m.gateChecks.WithLabelValues(kind, strconv.FormatBool(approved)).Inc()
}
