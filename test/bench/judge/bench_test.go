// Package judge calibrates the statistical judge and the relative checks
// on the local stack, against a real Prometheus scraping real podinfo
// processes that pose as the pods of the primary, the baseline and the
// canary: the false positives of identical versions (A/A releases), and
// how many ticks a regression takes to be caught. It prints numbers; it
// never fails on them.
//
//	make bench                      # or:
//	go test -run '^$' -bench Judge -benchtime 1x ./test/bench/judge
//
// WARBLER_BENCH_AA_RUNS sets the number of A/A releases (default 20; 0
// measures the regressions only).
package judge

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/controllertest"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	env = testenv.New()
	os.Exit(env.Run(m))
}

func aaRuns() int {
	if n, err := strconv.Atoi(os.Getenv("WARBLER_BENCH_AA_RUNS")); err == nil && n >= 0 {
		return n
	}
	return 20
}

// The settings under test: a tick every 2s, judged samples of 5s windows
// (1s scrapes, 20 requests per second per side), the judge's defaults
// (98% confidence, tolerance 0.25, pass 95, marginal 75) with an allowance
// of 10% more latency and 1% less success; relative checks that allow 1.5×
// the baseline's latency and one point less success. Threshold 1: the first
// failed check rolls back, the strictest setting for false positives.
var (
	judged = []flaggerv1.CanaryMetric{
		{Name: "latency", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "latency"},
			Judge: &flaggerv1.MetricJudgement{Direction: "Increase", AllowedIncrease: ptr.To(1.1)}},
		{Name: "success", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "success"},
			Judge: &flaggerv1.MetricJudgement{Direction: "Decrease", AllowedDecrease: ptr.To(0.99)}},
	}
	relative = []flaggerv1.CanaryMetric{
		{Name: "latency", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "latency"},
			Compare: &flaggerv1.MetricComparison{Against: flaggerv1.CompareBaseline, As: flaggerv1.CompareRatio}, ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(1.5)}},
		{Name: "success", Interval: "5s", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "success"},
			Compare: &flaggerv1.MetricComparison{Against: flaggerv1.CompareBaseline, As: flaggerv1.CompareDifference}, ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(-1.0)}},
	}
)

func BenchmarkJudgeCalibration(b *testing.B) {
	for range b.N {
		calibrate(b)
	}
}

func calibrate(b *testing.B) {
	ns := env.Namespace(b)
	sides := controllertest.StartSides(b, controllertest.SidesConfig{Namespace: ns, Target: "podinfo", Stable: controllertest.Delay(20, 40),
		Variants: map[string][]string{"same": controllertest.Delay(20, 40), "slow": controllertest.Delay(40, 80)}, Duration: 90 * time.Minute})
	controllertest.Start(b, env, controllertest.Config{Namespaces: []string{ns}})
	c := testenv.Canary(ns, "podinfo", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "2s", Threshold: 1, StepWeight: 25, MaxWeight: 50,
		Baseline: &flaggerv1.CanaryBaseline{Enabled: true}, Metrics: judged})
	env.Create(b, append(sides.Templates(), testenv.Deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0", 2), c)...)
	r := &releaser{b: b, ns: ns}
	r.wait(flaggerv1.CanaryPhaseInitialized)

	// A/A: identical versions, judged
	sides.Canary("same", 0)
	n := aaRuns()
	failed, unguarded := 0, 0
	for i := range n {
		run := r.release(judged)
		if run.phase == flaggerv1.CanaryPhaseFailed {
			failed++
			b.Logf("A/A release %d failed: %s", i+1, run.failure)
		}
		// a judged metric classified in its failing direction, which only
		// the allowance kept from failing
		if run.classified {
			unguarded++
		}
	}
	b.Logf("A/A: %d of %d identical releases rolled back by the judge; %d would have been without the allowances of 1.1 and 0.99", failed, n, unguarded)
	b.ReportMetric(float64(n), "aa-releases")
	b.ReportMetric(float64(failed), "aa-failed")
	b.ReportMetric(float64(unguarded), "aa-failed-without-allowance")

	// regressions: ticks from the first tick that checks metrics to the
	// first failed check
	for _, reg := range []struct {
		name, variant string
		errors        int
	}{{"2x-latency", "slow", 0}, {"5pt-errors", "same", 5}} {
		sides.Canary(reg.variant, reg.errors)
		for _, mode := range []struct {
			name    string
			metrics []flaggerv1.CanaryMetric
		}{{"relative", relative}, {"judge", judged}} {
			run := r.release(mode.metrics)
			if run.phase != flaggerv1.CanaryPhaseFailed {
				b.Logf("%s with %s: not caught (%s)", reg.name, mode.name, run.phase)
				continue
			}
			b.Logf("%s with %s: caught after %d ticks with metrics, %s after the run started: %s", reg.name, mode.name, run.ticks, run.delay, run.failure)
			b.ReportMetric(float64(run.ticks), reg.name+"-"+mode.name+"-ticks")
		}
	}
}

// releaser runs releases of the canary podinfo one after the other.
type releaser struct {
	b   *testing.B
	ns  string
	rev int
}

// run is how a release went.
type run struct {
	phase flaggerv1.CanaryPhase
	// ticks with metric checks up to the first failed one; delay from the
	// run's start to it; failure is its message
	ticks   int
	delay   time.Duration
	failure string
	// classified: a judged metric was High or Low in its failing direction
	classified bool
}

// release sets the metrics, changes the image and follows the release to
// its end, collecting its checks as they are recorded (the history in the
// status is bounded).
func (r *releaser) release(metrics []flaggerv1.CanaryMetric) run {
	r.b.Helper()
	c := r.get()
	patch := client.MergeFrom(c.DeepCopy())
	c.Spec.Analysis.Metrics = metrics
	if err := env.Client.Patch(context.Background(), c, patch); err != nil {
		r.b.Fatal(err)
	}
	r.rev++
	var d appsv1.Deployment
	env.Get(r.b, r.ns, "podinfo", &d)
	patch = client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = fmt.Sprintf("ghcr.io/stefanprodan/podinfo:6.1.%d", r.rev)
	if err := env.Client.Patch(context.Background(), &d, patch); err != nil {
		r.b.Fatal(err)
	}
	start := time.Now()
	var out run
	seen := map[string]bool{}
	var ticks []time.Time
	testenv.Eventually(r.b, 10*time.Minute, func() error {
		c := r.get()
		runStart := c.Status.RunStartTime
		if runStart == nil || runStart.Time.Before(start.Truncate(time.Second)) {
			return fmt.Errorf("release %d has not started", r.rev)
		}
		for _, ch := range c.Status.Checks {
			// the run's first checks come two ticks after its start; a
			// check at its start (to the second) ended the previous run
			if !ch.Time.After(runStart.Time) {
				continue
			}
			key := ch.Metric + ch.Time.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			if !slices.ContainsFunc(ticks, ch.Time.Time.Equal) {
				ticks = append(ticks, ch.Time.Time)
			}
			if j := ch.Judge; j != nil && (j.Class == "High" && ch.Metric == "latency" || j.Class == "Low" && ch.Metric == "success") {
				out.classified = true
			}
			if ch.Failed && out.failure == "" {
				slices.SortFunc(ticks, func(a, b time.Time) int { return a.Compare(b) })
				out.ticks = slices.IndexFunc(ticks, ch.Time.Time.Equal) + 1
				out.delay = ch.Time.Sub(runStart.Time).Round(time.Second)
				out.failure = ch.Message
			}
		}
		if p := c.Status.Phase; p == flaggerv1.CanaryPhaseSucceeded || p == flaggerv1.CanaryPhaseFailed {
			out.phase = p
			return nil
		}
		return fmt.Errorf("release %d is %s", r.rev, c.Status.Phase)
	})
	return out
}

func (r *releaser) get() *flaggerv1.Canary {
	var c flaggerv1.Canary
	env.Get(r.b, r.ns, "podinfo", &c)
	return &c
}

func (r *releaser) wait(phase flaggerv1.CanaryPhase) {
	testenv.Eventually(r.b, 2*time.Minute, func() error {
		if p := r.get().Status.Phase; p != phase {
			return fmt.Errorf("phase %s, want %s", p, phase)
		}
		return nil
	})
}
