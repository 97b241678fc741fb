package controller_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli"
	"github.com/warbler-dev/warbler/internal/controllertest"
)

// Metrics of the releases below: relative checks against the baseline (of
// the mean latency, and of the builtin success rate), the judge's metrics,
// and a dry run that fails on every tick (a mean latency of at most 5 ms,
// where podinfo takes 20 to 40). The mean, not the builtin 99th
// percentile: on a loaded test machine a few requests wait for a core, and
// the tail of 100 requests is noise.
var (
	relativeMetrics = []flaggerv1.CanaryMetric{
		{Name: "latency-ratio", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "latency"},
			Compare:        &flaggerv1.MetricComparison{Against: flaggerv1.CompareBaseline, As: flaggerv1.CompareRatio},
			ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(1.3)}},
		{Name: "request-success-rate", Interval: "5s", Compare: &flaggerv1.MetricComparison{Against: flaggerv1.CompareBaseline, As: flaggerv1.CompareDifference},
			ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(-1.0)}},
	}
	judgedMetrics = []flaggerv1.CanaryMetric{
		{Name: "latency", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "latency"},
			Judge: &flaggerv1.MetricJudgement{Direction: "Increase", AllowedIncrease: ptr.To(1.1)}},
		{Name: "success", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "success"},
			Judge: &flaggerv1.MetricJudgement{Direction: "Decrease", AllowedDecrease: ptr.To(0.99)}},
	}
	dryRunMetric = flaggerv1.CanaryMetric{Name: "latency-strict", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "latency"},
		ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(5.0)}, DryRun: true}
)

// Against a real Prometheus and real podinfo processes posing as the
// primary's, the baseline's and the canary's pods: a canary identical to
// its baseline passes the relative checks and the judge, while a dry-run
// metric fails on every tick without stopping it and shows in the status
// and in kubectl canary history; a canary twice as slow as its baseline,
// but well under an absolute bar of 500 ms, is rolled back by a relative
// check, and by the judge.
func TestRelativeChecksAndJudgeAgainstRealPrometheus(t *testing.T) {
	ns := env.Namespace(t)
	sides := controllertest.StartSides(t, controllertest.SidesConfig{Namespace: ns, Target: "podinfo", Stable: controllertest.Delay(20, 40),
		Variants: map[string][]string{"same": controllertest.Delay(20, 40), "slow": controllertest.Delay(40, 80)}})
	sides.Canary("same", 0)
	logs := &logBuffer{}
	startController(t, logs, ns)
	c := canary(ns, "podinfo", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "2s", Threshold: 1, StepWeight: 25, MaxWeight: 50,
		Baseline: &flaggerv1.CanaryBaseline{Enabled: true}, Metrics: append(append(append([]flaggerv1.CanaryMetric{}, relativeMetrics...), judgedMetrics...), dryRunMetric)})
	c.Spec.MetricsServer = sides.Prometheus.URL
	create(t, append(sides.Templates(), deployment(ns, "podinfo", imageV1, 2), c)...)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	t.Run("an identical canary passes, whatever the dry run says", func(t *testing.T) {
		setImage(t, ns, "podinfo", imageV2)
		done := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 3*time.Minute, nil)
		dryRuns, judgements := 0, 0
		for _, ch := range done.Status.Checks {
			switch {
			case ch.Metric == "latency-strict":
				if !ch.DryRun || ch.Failed || ch.Verdict != flaggerv1.VerdictFail || ch.Value == nil || *ch.Value <= 5 {
					t.Errorf("dry-run check %+v: want a failure, recorded as a dry run and not counted", ch)
				}
				dryRuns++
			case ch.Metric == "judge" && ch.Judge != nil && ch.Judge.Score != nil:
				judgements++
			case ch.Relative != nil && ch.Verdict != flaggerv1.VerdictPass:
				t.Errorf("relative check %+v of identical versions did not pass", ch)
			}
		}
		if dryRuns == 0 || judgements == 0 {
			t.Fatalf("%d dry-run checks and %d judgements in the history: %+v", dryRuns, judgements, done.Status.Checks)
		}
		key := "podinfo." + ns
		waitEvent(t, ns, "podinfo", "Dry-run metric latency-strict of "+key+" failed, not counted")
		var out bytes.Buffer
		app := &canarycli.App{Stdout: &out, Stderr: &out, Getenv: func(k string) string { return map[string]string{"KUBECONFIG": env.Kubeconfig}[k] }}
		if code := app.Run(context.Background(), []string{"history", "podinfo", "-n", ns, "--metric", "latency-strict"}); code != 0 ||
			!strings.Contains(out.String(), "no (dry run)") || !strings.Contains(out.String(), "Fail") {
			t.Errorf("kubectl canary history (exit %d):\n%s\nwant the dry run's failures", code, out.String())
		}
	})

	t.Run("twice the latency is rolled back by a relative check", func(t *testing.T) {
		setMetrics(t, ns, append(append([]flaggerv1.CanaryMetric{}, relativeMetrics...), dryRunMetric))
		sides.Canary("slow", 0)
		setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
		failed := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 3*time.Minute, nil)
		ch := lastFailed(t, failed, "latency-ratio")
		if r := ch.Relative; ch.Value == nil || *ch.Value <= 1.3 || r == nil || r.Canary == nil || *r.Canary >= 500 || r.Reference == nil {
			t.Fatalf("failing check %+v (relative %+v): want the canary over 1.3× the baseline yet under 500 ms", ch, ch.Relative)
		}
		t.Logf("canary %.1f ms, baseline %.1f ms: %.2f×", *ch.Relative.Canary, *ch.Relative.Reference, *ch.Value)
		logs.waitLog(t, "podinfo."+ns, ch.Message, 10*time.Second)
	})

	t.Run("twice the latency is rolled back by the judge", func(t *testing.T) {
		setMetrics(t, ns, judgedMetrics)
		setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.3")
		// the previous release failed: wait for this one to start
		waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseProgressing, time.Minute, nil)
		failed := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 3*time.Minute, nil)
		j := lastFailed(t, failed, "judge")
		if j.Judge == nil || j.Judge.Score == nil || *j.Judge.Score >= 75 || j.Judge.Verdict != "Fail" {
			t.Fatalf("failing judgement %+v: want a score under the marginal 75", j)
		}
		var latency *flaggerv1.CheckResult
		for i := range failed.Status.Checks {
			if ch := failed.Status.Checks[i]; ch.Metric == "latency" && ch.Time.Equal(&j.Time) {
				latency = &failed.Status.Checks[i]
			}
		}
		if latency == nil || latency.Judge == nil || latency.Judge.Class != "High" || latency.Judge.PValue == nil || *latency.Judge.PValue >= 0.02 ||
			latency.Judge.EffectSize == nil || *latency.Judge.EffectSize < 1.5 {
			t.Fatalf("latency at the failing judgement %+v: want High, p < 0.02, effect size about 2", latency)
		}
		t.Logf("judgement: %s", j.Message)
	})
}

// setMetrics replaces the canary's metrics.
func setMetrics(t *testing.T, ns string, metrics []flaggerv1.CanaryMetric) {
	t.Helper()
	c := getCanary(t, ns, "podinfo")
	patch := client.MergeFrom(c.DeepCopy())
	c.Spec.Analysis.Metrics = metrics
	if err := env.Client.Patch(context.Background(), c, patch); err != nil {
		t.Fatal(err)
	}
}

// lastFailed is the last counted failure of a metric in the history.
func lastFailed(t *testing.T, c *flaggerv1.Canary, metric string) flaggerv1.CheckResult {
	t.Helper()
	for i := len(c.Status.Checks) - 1; i >= 0; i-- {
		if ch := c.Status.Checks[i]; ch.Metric == metric && ch.Failed {
			return ch
		}
	}
	t.Fatalf("no failed %s check in the history: %+v", metric, c.Status.Checks)
	return flaggerv1.CheckResult{}
}
