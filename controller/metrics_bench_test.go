package controller_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/controller"
)

// BenchmarkMetricChecksPerTick runs the metric checks of seed 003's Canary
// (request-success-rate and request-duration) against a real Prometheus
// scraping a real podinfo, as one tick does, and reports the queries the
// Prometheus server answered per tick and the time a tick's checks take.
func BenchmarkMetricChecksPerTick(b *testing.B) {
	ns := "bench"
	_, prom := podinfoAsPods(b, ns)
	checks := &controller.PrometheusChecks{MetricsServer: prom.URL, MeshProvider: "kubernetes"}
	c := canary(ns, "podinfo", "kubernetes", metricsAnalysis(prom.URL))
	c.Spec.Analysis.Metrics = []flaggerv1.CanaryMetric{
		{Name: "request-success-rate", Interval: "1m", ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(99.0)}},
		{Name: "request-duration", Interval: "1m", ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(500.0)}},
	}
	ctx := context.Background()
	before := queriesServed(b, prom.URL)
	b.ResetTimer()
	for range b.N {
		for _, m := range c.Spec.Analysis.Metrics {
			if r := checks.Run(ctx, c, m, "kubernetes", analysis.Window{}); r.Outcome == analysis.QueryProviderError || r.Outcome == analysis.QueryInvalid {
				b.Fatalf("%s: %s", m.Name, r.Err)
			}
		}
	}
	b.StopTimer()
	served := queriesServed(b, prom.URL) - before
	b.ReportMetric(served/float64(b.N), "queries/tick")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/tick")
}

// queriesServed sums prometheus_http_requests_total of /api/v1/query as
// the server exposes it on its own /metrics.
func queriesServed(b *testing.B, prom string) float64 {
	resp, err := http.Get(prom + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, "prometheus_http_requests_total{") && strings.Contains(line, `handler="/api/v1/query"`) {
			var v float64
			if _, err := fmt.Sscan(line[strings.LastIndexByte(strings.TrimSpace(line), ' ')+1:], &v); err == nil {
				sum += v
			}
		}
	}
	return sum
}
