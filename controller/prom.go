package controller

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/warbler-dev/warbler/analysis"
	"github.com/warbler-dev/warbler/analysis/judge"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// promMetrics are Flagger's flagger_* series, with its names and labels
// ("name" is the target's name), plus the thresholds of each check, which
// Flagger does not export (#1304).
type promMetrics struct {
	info      *prometheus.GaugeVec
	statusVec *prometheus.GaugeVec
	weightVec *prometheus.GaugeVec
	analysis  *prometheus.GaugeVec
	threshold *prometheus.GaugeVec
	durations *prometheus.HistogramVec
	successes *prometheus.CounterVec
	failures  *prometheus.CounterVec
	lateness  prometheus.Histogram
	// Warbler's: both sides of relative checks, the judge's statistics,
	// and every check's verdict, dry runs included
	sides      *prometheus.GaugeVec
	score      *prometheus.GaugeVec
	pValue     *prometheus.GaugeVec
	effectSize *prometheus.GaugeVec
	class      *prometheus.GaugeVec
	checks     *prometheus.CounterVec
	canaries   atomic.Pointer[client.Reader]
}

// registry is where the series are registered: controller-runtime's, which
// the controller serves on -port with its own workqueue and client series.
var registry prometheus.Registerer = crmetrics.Registry

var (
	sharedProm     *promMetrics
	sharedPromOnce sync.Once
)

// newPromMetrics returns the process's series, registering them once;
// several reconcilers in one process (tests) share them, and
// flagger_canary_total counts through the latest one's cache.
func newPromMetrics(cache client.Reader, o Options) *promMetrics {
	sharedPromOnce.Do(func() {
		sharedProm = buildPromMetrics()
		for _, c := range []prometheus.Collector{sharedProm.info, sharedProm.statusVec, sharedProm.weightVec, sharedProm.analysis,
			sharedProm.threshold, sharedProm.durations, sharedProm.successes, sharedProm.failures, sharedProm.lateness, sharedProm.sides,
			sharedProm.score, sharedProm.pValue, sharedProm.effectSize, sharedProm.class, sharedProm.checks, sharedProm} {
			registry.MustRegister(c)
		}
	})
	sharedProm.info.WithLabelValues(o.Version, o.MeshProvider).Set(1)
	sharedProm.canaries.Store(&cache)
	return sharedProm
}

func buildPromMetrics() *promMetrics {
	return &promMetrics{
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_info", Help: "Information about the controller."},
			[]string{"version", "mesh_provider"}),
		statusVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_status", Help: "Last canary analysis result: 0 progressing, 1 other, 2 failed."},
			[]string{"name", "namespace"}),
		weightVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_weight", Help: "Traffic weight of the primary and the canary."},
			[]string{"workload", "namespace"}),
		analysis: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flagger_canary_metric_analysis", Help: "Last value of each metric check."},
			[]string{"name", "namespace", "metric"}),
		threshold: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warbler_canary_metric_threshold", Help: "Bounds of each metric check (bound=min|max)."},
			[]string{"name", "namespace", "metric", "bound"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "flagger_canary_duration_seconds", Help: "Seconds taken by one canary tick."},
			[]string{"name", "namespace"}),
		successes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flagger_canary_successes_total", Help: "Releases that were promoted."},
			[]string{"name", "namespace", "deployment_strategy", "analysis_status"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flagger_canary_failures_total", Help: "Releases that were rolled back."},
			[]string{"name", "namespace", "deployment_strategy", "analysis_status"}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "warbler_tick_lateness_seconds",
			Help:    "How late a tick started against when it was due: the time its previous tick started plus the requeue it asked for (the analysis interval, or the rest of it).",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30, 60, 120, 300}}),
		sides: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warbler_canary_metric_side_value", Help: "Last value of each side of a relative check (side=canary|baseline|primary)."},
			[]string{"name", "namespace", "metric", "side"}),
		score: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warbler_canary_judge_score", Help: "Score of the last judgement of the statistical judge, out of 100."},
			[]string{"name", "namespace"}),
		pValue: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warbler_canary_judge_p_value", Help: "p-value of the last Mann-Whitney test of each judged metric."},
			[]string{"name", "namespace", "metric"}),
		effectSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warbler_canary_judge_effect_size", Help: "Canary mean over baseline mean of each judged metric at its last judgement."},
			[]string{"name", "namespace", "metric"}),
		class: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "warbler_canary_judge_classification", Help: "1 for the last classification of each judged metric (class=Pass|High|Low|NoData), 0 for the others."},
			[]string{"name", "namespace", "metric", "class"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "warbler_canary_metric_checks_total", Help: "Metric checks by verdict; dry_run=true for dry-run metrics, which never count towards the threshold."},
			[]string{"name", "namespace", "metric", "verdict", "dry_run"}),
	}
}

var canaryTotalDesc = prometheus.NewDesc("flagger_canary_total", "Canaries per namespace.", []string{"namespace"}, nil)

// Describe and Collect make flagger_canary_total count the cached Canaries
// at scrape time.
func (m *promMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- canaryTotalDesc }

func (m *promMetrics) Collect(ch chan<- prometheus.Metric) {
	var list flaggerv1.CanaryList
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reader := m.canaries.Load()
	if reader == nil || (*reader).List(ctx, &list, client.UnsafeDisableDeepCopy) != nil {
		return
	}
	per := map[string]int{}
	for _, c := range list.Items {
		per[c.Namespace]++
	}
	for ns, n := range per {
		ch <- prometheus.MustNewConstMetric(canaryTotalDesc, prometheus.GaugeValue, float64(n), ns)
	}
}

func (m *promMetrics) duration(c *flaggerv1.Canary, d time.Duration) {
	m.durations.WithLabelValues(c.Spec.TargetRef.Name, c.Namespace).Observe(d.Seconds())
}

func (m *promMetrics) weight(c *flaggerv1.Canary, primary, canary int) {
	m.weightVec.WithLabelValues(c.PrimaryName(), c.Namespace).Set(float64(primary))
	m.weightVec.WithLabelValues(c.Spec.TargetRef.Name, c.Namespace).Set(float64(canary))
}

func (m *promMetrics) status(c *flaggerv1.Canary, p analysis.Phase) {
	m.statusVec.WithLabelValues(c.Spec.TargetRef.Name, c.Namespace).Set(analysis.StatusGauge(p))
}

// check exports one check recorded this tick: its value (a relative
// check's ratio or difference, a judged metric's effect size, the
// judgement's score) in Flagger's series, its bounds, both sides of a
// relative check, the judge's statistics, and its verdict.
func (m *promMetrics) check(c *flaggerv1.Canary, ch analysis.Check) {
	name := c.Spec.TargetRef.Name
	if v := finite(ch.Value); v != nil {
		m.analysis.WithLabelValues(name, c.Namespace, ch.Metric).Set(*v)
	}
	for bound, v := range map[string]*float64{"min": ch.Min, "max": ch.Max} {
		if v != nil {
			m.threshold.WithLabelValues(name, c.Namespace, ch.Metric, bound).Set(*v)
		}
	}
	if r := ch.Relative; r != nil {
		for side, v := range map[string]*float64{"canary": r.Canary, strings.ToLower(string(r.Against)): r.Reference} {
			if v != nil {
				m.sides.WithLabelValues(name, c.Namespace, ch.Metric, side).Set(*v)
			}
		}
	}
	if j := ch.Judged; j != nil && j.Class == "" {
		m.score.WithLabelValues(name, c.Namespace).Set(j.Score)
	} else if j != nil {
		m.pValue.WithLabelValues(name, c.Namespace, ch.Metric).Set(j.PValue)
		if v := finite(&j.EffectSize); v != nil {
			m.effectSize.WithLabelValues(name, c.Namespace, ch.Metric).Set(*v)
		}
		for _, class := range []judge.Class{judge.Pass, judge.High, judge.Low, judge.NoData} {
			m.class.WithLabelValues(name, c.Namespace, ch.Metric, string(class)).Set(map[bool]float64{true: 1}[class == j.Class])
		}
	}
	m.checks.WithLabelValues(name, c.Namespace, ch.Metric, string(ch.Verdict), strconv.FormatBool(ch.DryRun)).Inc()
}

func (m *promMetrics) outcome(c *flaggerv1.Canary, s analysis.Strategy, o analysis.Outcome) {
	switch o {
	case analysis.OutcomeCompleted, analysis.OutcomeSkipped:
		m.successes.WithLabelValues(c.Spec.TargetRef.Name, c.Namespace, string(s), string(o)).Inc()
	case analysis.OutcomeFailed:
		m.failures.WithLabelValues(c.Spec.TargetRef.Name, c.Namespace, string(s), string(analysis.OutcomeCompleted)).Inc()
	}
}

// forget drops the series of a deleted canary. The target's name is not
// known any more, so series are matched on the namespace and the names the
// canary's target usually shares.
func (m *promMetrics) forget(ns, name string) {
	labels := prometheus.Labels{"namespace": ns, "name": name}
	m.statusVec.DeletePartialMatch(labels)
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{m.analysis, m.threshold, m.sides, m.score,
		m.pValue, m.effectSize, m.class, m.checks} {
		v.DeletePartialMatch(labels)
	}
	m.weightVec.DeletePartialMatch(prometheus.Labels{"namespace": ns, "workload": name})
	m.weightVec.DeletePartialMatch(prometheus.Labels{"namespace": ns, "workload": name + flaggerv1.PrimarySuffix})
}
