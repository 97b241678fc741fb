package main

import (
	"context"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientmetrics "k8s.io/client-go/tools/metrics"
)

// registerClientMetrics exports how long the controller's API requests take
// and how long client-go's rate limiter (-kubeconfig-qps, -kubeconfig-burst)
// held them back, under the names Kubernetes' own components use.
// controller-runtime registers only rest_client_requests_total and has
// already consumed client-go's one-time Register, so the two hooks are set
// directly.
func registerClientMetrics(reg prometheus.Registerer) {
	buckets := []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rest_client_request_duration_seconds",
		Help: "API request latency, by verb and host.", Buckets: buckets}, []string{"verb", "host"})
	throttle := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rest_client_rate_limiter_duration_seconds",
		Help: "Time API requests waited for the client-side rate limiter (-kubeconfig-qps, -kubeconfig-burst), by verb and host.", Buckets: buckets}, []string{"verb", "host"})
	reg.MustRegister(latency, throttle)
	clientmetrics.RequestLatency = latencyMetric{latency}
	clientmetrics.RateLimiterLatency = latencyMetric{throttle}
}

type latencyMetric struct{ h *prometheus.HistogramVec }

func (m latencyMetric) Observe(_ context.Context, verb string, u url.URL, d time.Duration) {
	m.h.WithLabelValues(verb, u.Host).Observe(d.Seconds())
}
