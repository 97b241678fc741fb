package controller

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// queueMetrics are the canary workqueue's series, named warbler_workqueue_*
// with the label name="canary". controller-runtime would register them as
// workqueue_* (shared by every controller of the process); the prefix says
// whose queue it is, next to the warbler_tick_lateness_seconds they explain.
// The names and meanings are controller-runtime's (and client-go's):
//
//	warbler_workqueue_depth                               ready canaries waiting for a worker
//	warbler_workqueue_adds_total                          canaries made ready
//	warbler_workqueue_queue_duration_seconds              time from ready to picked by a worker
//	warbler_workqueue_work_duration_seconds               time a worker spent on one tick
//	warbler_workqueue_unfinished_work_seconds             work in progress not yet observed
//	warbler_workqueue_longest_running_processor_seconds  the longest tick in progress
//	warbler_workqueue_retries_total                       adds with a delay (requeues, backoffs)
type queueMetrics struct {
	depth, unfinished, longest *prometheus.GaugeVec
	adds, retries              *prometheus.CounterVec
	latency, work              *prometheus.HistogramVec
}

var (
	sharedQueue     *queueMetrics
	sharedQueueOnce sync.Once
)

// newQueueMetrics registers the series once per process; several
// controllers in one process (tests) share them.
func newQueueMetrics() *queueMetrics {
	sharedQueueOnce.Do(func() {
		const ns, sub = "warbler", "workqueue"
		gauge := func(name, help string) *prometheus.GaugeVec {
			return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{"name"})
		}
		counter := func(name, help string) *prometheus.CounterVec {
			return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help}, []string{"name"})
		}
		// from 1ms to about 17 minutes: a tick waits for a worker for
		// milliseconds when all is well and for minutes when it is not
		buckets := prometheus.ExponentialBuckets(0.001, 2, 21)
		histogram := func(name, help string) *prometheus.HistogramVec {
			return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help, Buckets: buckets}, []string{"name"})
		}
		q := &queueMetrics{
			depth:      gauge("depth", "Canaries ready for a tick and waiting for a worker."),
			unfinished: gauge("unfinished_work_seconds", "Seconds of ticks in progress that work_duration has not observed yet."),
			longest:    gauge("longest_running_processor_seconds", "Seconds the longest tick in progress has been running."),
			adds:       counter("adds_total", "Canaries added to the queue ready for a tick."),
			retries:    counter("retries_total", "Canaries added with a delay: requeues at the analysis interval and backoffs after errors."),
			latency:    histogram("queue_duration_seconds", "Seconds a ready canary waited for a worker."),
			work:       histogram("work_duration_seconds", "Seconds one tick took."),
		}
		for _, c := range []prometheus.Collector{q.depth, q.unfinished, q.longest, q.adds, q.retries, q.latency, q.work} {
			registry.MustRegister(c)
		}
		sharedQueue = q
	})
	return sharedQueue
}

func (q *queueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return q.depth.WithLabelValues(name)
}

func (q *queueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return q.adds.WithLabelValues(name)
}

func (q *queueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return q.latency.WithLabelValues(name)
}

func (q *queueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return q.work.WithLabelValues(name)
}

func (q *queueMetrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return q.unfinished.WithLabelValues(name)
}

func (q *queueMetrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return q.longest.WithLabelValues(name)
}

func (q *queueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return q.retries.WithLabelValues(name)
}

// newQueue is controller-runtime's default queue (the priority queue,
// which serves changed objects before the initial list and the periodic
// requeues) reporting to warbler_workqueue_*.
func newQueue(name string, rl workqueue.TypedRateLimiter[reconcile.Request]) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	return priorityqueue.New(name, func(o *priorityqueue.Opts[reconcile.Request]) {
		o.RateLimiter = rl
		o.MetricProvider = newQueueMetrics()
	})
}
