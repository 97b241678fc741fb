package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// podinfoAsPods runs a primary and a canary podinfo scraped by Prometheus
// as if they were pods of the canary's Deployments in ns.
func podinfoAsPods(t testing.TB, ns string) (canary *testenv.Podinfo, prom *testenv.Prometheus) {
	primary := testenv.StartPodinfo(t, "podinfo-primary")
	canary = testenv.StartPodinfo(t, "podinfo-canary")
	prom = testenv.StartPrometheus(t, time.Second,
		testenv.ScrapeTarget{Address: strings.TrimPrefix(primary.URL, "http://"), Labels: map[string]string{"kubernetes_namespace": ns, "kubernetes_pod_name": "podinfo-primary-5d8f7b-x2x1q"}},
		testenv.ScrapeTarget{Address: strings.TrimPrefix(canary.URL, "http://"), Labels: map[string]string{"kubernetes_namespace": ns, "kubernetes_pod_name": "podinfo-7d9c5f-q8k2m"}},
	)
	return canary, prom
}

func metricsAnalysis(prom string) *flaggerv1.CanaryAnalysis {
	return &flaggerv1.CanaryAnalysis{Interval: "2s", Threshold: 2, StepWeight: 50,
		Metrics: []flaggerv1.CanaryMetric{
			{Name: "request-success-rate", Interval: "15s", ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(99.0)}},
			{Name: "request-duration", Interval: "15s", ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(500.0)}},
		}}
}

// Good metrics promote; HTTP 500s roll back after threshold failed checks,
// with the failing values in the status history and Flagger's halt message.
func TestMetricsPromoteAndRollBack(t *testing.T) {
	ns := env.Namespace(t)
	canaryPod, prom := podinfoAsPods(t, ns)
	tr := testenv.StartTraffic(t, canaryPod.URL, 20)
	logs := &logBuffer{}
	startController(t, logs, ns)
	c := canary(ns, "podinfo", "kubernetes:replicas", metricsAnalysis(prom.URL))
	c.Spec.MetricsServer = prom.URL
	create(t, deployment(ns, "podinfo", imageV1, 1), c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	// let Prometheus see some clean traffic first
	time.Sleep(5 * time.Second)

	setImage(t, ns, "podinfo", imageV2)
	done := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 90*time.Second, nil)
	checkEnded(t, done, flaggerv1.ReleaseSucceeded, flaggerv1.ReasonPromoted, "promotion finished")
	passed := 0
	for _, ch := range done.Status.Checks {
		if ch.Verdict == flaggerv1.VerdictPass && ch.Value != nil {
			passed++
		}
		if ch.Metric == "request-success-rate" && (ch.Value == nil || *ch.Value < 99) {
			t.Errorf("success-rate check %+v during good traffic", ch)
		}
	}
	if passed == 0 {
		t.Fatalf("no passing checks with values recorded: %+v", done.Status.Checks)
	}

	tr.Path.Store("/status/500")
	time.Sleep(3 * time.Second)
	setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
	failed := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 90*time.Second, nil)
	rel := checkEnded(t, failed, flaggerv1.ReleaseFailed, flaggerv1.ReasonMetricCheckFailed, "advancement success rate")
	if ids := []int{failed.Status.History[0].ID, rel.ID}; len(failed.Status.History) != 2 || ids[0] != 1 || ids[1] != 2 {
		t.Errorf("history %+v: want releases 1 and 2", failed.Status.History)
	}
	var failing []flaggerv1.CheckResult
	for _, ch := range failed.Status.ReleaseChecks(rel.ID) {
		if ch.Failed && ch.Metric == "request-success-rate" {
			failing = append(failing, ch)
		}
	}
	if len(failing) < 2 {
		t.Fatalf("status history has %d failing success-rate checks, want the 2 that rolled back: %+v", len(failing), failed.Status.Checks)
	}
	last := failing[len(failing)-1]
	if last.Value == nil || *last.Value >= 99 || last.Verdict != flaggerv1.VerdictFail || last.Min == nil || *last.Min != 99 || !strings.Contains(last.Query, "http_request_duration_seconds_count") {
		t.Errorf("last failing check %+v: want the measured value below 99, the min and the query", last)
	}
	key := "podinfo." + ns
	want := fmt.Sprintf("Halt %s advancement success rate %.2f%% < 99%%", key, *last.Value)
	logs.waitLog(t, key, want, 5*time.Second)
	logs.waitLog(t, key, "Rolling back "+key+" failed checks threshold reached 2", 5*time.Second)
	if tr.Sent.Load() == 0 {
		t.Error("no traffic was sent")
	}
}

// A template with a missing variable is a clear event, not a crash; a
// stopped Prometheus is a provider error; other canaries keep going.
func TestMetricErrorsAreReported(t *testing.T) {
	ns := env.Namespace(t)
	canaryPod, prom := podinfoAsPods(t, ns)
	testenv.StartTraffic(t, canaryPod.URL, 10)
	startController(t, nil, ns)
	create(t, &flaggerv1.MetricTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "errors"},
		Spec: flaggerv1.MetricTemplateSpec{Provider: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: prom.URL},
			Query: `sum(rate(http_request_duration_seconds_count{kubernetes_namespace="{{ namespace }}",status="{{ variables.status }}"}[{{ interval }}]))`}})
	tmplCanary := canary(ns, "templated", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50,
		Metrics: []flaggerv1.CanaryMetric{{Name: "errors", Interval: "15s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "errors"},
			ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(1.0)}}}})
	promCanary := canary(ns, "podinfo", "kubernetes:replicas", metricsAnalysis(prom.URL))
	promCanary.Spec.MetricsServer = prom.URL
	promCanary.Spec.Analysis.Threshold = 3
	other := canary(ns, "other", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50})
	create(t, deployment(ns, "templated", imageV1, 1), deployment(ns, "podinfo", imageV1, 1), deployment(ns, "other", imageV1, 1), tmplCanary, promCanary, other)
	for _, n := range []string{"templated", "podinfo", "other"} {
		waitPhase(t, ns, n, flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	}

	setImage(t, ns, "templated", imageV2)
	waitEvent(t, ns, "templated", `Metric query failed for errors`)
	waitEvent(t, ns, "templated", `uses variable "status" that the metric's templateVariables do not set`)
	failed := waitPhase(t, ns, "templated", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)
	if n := len(failed.Status.Checks); n == 0 || failed.Status.Checks[n-1].Verdict != flaggerv1.VerdictError {
		t.Errorf("checks %+v, want the last one an Error", failed.Status.Checks)
	}
	checkEnded(t, failed, flaggerv1.ReleaseFailed, flaggerv1.ReasonMetricQueryInvalid, `uses variable "status"`)

	setImage(t, ns, "podinfo", imageV2)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseProgressing, 30*time.Second, nil)
	prom.Stop()
	waitEvent(t, ns, "podinfo", "Metric query failed for request-success-rate")
	// meanwhile another canary is released
	setImage(t, ns, "other", imageV2)
	waitPhase(t, ns, "other", flaggerv1.CanaryPhaseSucceeded, 60*time.Second, nil)
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 90*time.Second, nil)
	errs := 0
	for _, ch := range c.Status.Checks {
		if ch.Verdict == flaggerv1.VerdictError && strings.Contains(ch.Message, "connection refused") {
			errs++
		}
	}
	if errs == 0 {
		t.Errorf("no provider error recorded after Prometheus stopped: %+v", c.Status.Checks)
	}
	checkEnded(t, c, flaggerv1.ReleaseFailed, flaggerv1.ReasonMetricProviderError, "Metric query failed for request-success-rate")
}
