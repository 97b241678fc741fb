package analysis

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/analysis/judge"
)

// JudgeCheck is the metric name under which the history records the
// judgement of a tick: its score and verdict.
const JudgeCheck = "judge"

// Judged records the statistics of a judged metric, or of a judgement.
type Judged struct {
	// Class, PValue, EffectSize (canary mean / baseline mean, infinite over
	// a zero baseline), the Hodges-Lehmann Shift within [Lower, Upper],
	// the sample sizes and medians of a metric.
	Class                        judge.Class
	PValue, EffectSize           float64
	Shift, Lower, Upper          float64
	CanaryN, BaselineN           int
	CanaryMedian, BaselineMedian float64
	// Score and Verdict of the judgement (metric JudgeCheck).
	Score   float64
	Verdict judge.Verdict
}

// judgeOutcome is what a judgement means for the tick.
type judgeOutcome int

const (
	// judgeNone: no metric is judged, or a judged metric could not be
	// queried (its error check fails the tick instead).
	judgeNone judgeOutcome = iota
	// judgePass: the release may advance.
	judgePass
	// judgeHold: the judge waits for samples; the release holds.
	judgeHold
	// judgeFail: the judgement counts as a failed check.
	judgeFail
)

// judged lists the judged metrics that count (dry runs do not).
func (d *decider) judged() (counted, dryRun []Metric) {
	for _, m := range d.spec.Metrics {
		switch {
		case m.Judge == nil:
		case m.DryRun:
			dryRun = append(dryRun, m)
		default:
			counted = append(counted, m)
		}
	}
	return counted, dryRun
}

// judgement asks the judge about this tick's samples, records a check per
// judged metric and one for the judgement (JudgeCheck), and tells what it
// means for the tick. How a judgement maps onto ticks follows Kayenta's
// rule over several intervals: every judgement must reach the marginal
// score, and the last one (the tick that would promote) the pass score. A
// judgement below marginal, or a marginal one at the top of the schedule,
// counts as a failed check.
func (d *decider) judgement() (Check, judgeOutcome) {
	counted, dryRun := d.judged()
	if len(counted)+len(dryRun) == 0 {
		return Check{}, judgeNone
	}
	settings := *d.spec.Judge
	for _, m := range dryRun {
		if d.warmingUp([]Metric{m}, settings) != "" {
			continue
		}
		if res, errc := d.classify(m, settings); errc == nil {
			d.recordJudged(m, judge.Score(settings, []judge.Metric{judgeMetric(m)}, []judge.MetricResult{res}).Metrics[0])
		}
	}
	if len(counted) == 0 {
		return Check{}, judgeNone
	}
	if waiting := d.warmingUp(counted, settings); waiting != "" {
		c := Check{Metric: JudgeCheck, Time: d.now, Verdict: VerdictNoData,
			Message: fmt.Sprintf("Holding %s advancement: the judge waits for samples: %s", d.key(), waiting)}
		d.record(c)
		return c, judgeHold
	}
	metrics := make([]judge.Metric, 0, len(counted))
	results := make([]judge.MetricResult, 0, len(counted))
	var queryErr *Check
	for _, m := range counted {
		res, errc := d.classify(m, settings)
		if errc != nil {
			queryErr = cmp.Or(queryErr, errc)
			continue
		}
		metrics, results = append(metrics, judgeMetric(m)), append(results, res)
	}
	if queryErr != nil {
		// no judgement without every metric: the error fails the tick
		return *queryErr, judgeFail
	}
	r := judge.Score(settings, metrics, results)
	for i, m := range counted {
		d.recordJudged(m, r.Metrics[i])
	}
	return d.recordJudgement(r, settings)
}

// classify classifies one judged metric. A query error is recorded as an
// Error check, which is returned. Fewer samples than the test needs (after
// the warm-up) is no data.
func (d *decider) classify(m Metric, s judge.Settings) (judge.MetricResult, *Check) {
	r := d.result(m.Name)
	if r.Outcome != QueryOK && r.Outcome != QueryNoData {
		c := d.dryRun(m, Judge(m, r, d.key(), d.target(), d.now))
		d.record(c)
		return judge.MetricResult{}, &c
	}
	var canary, baseline []float64
	if r.Samples != nil {
		canary, baseline = judge.Finite(r.Samples.Canary), judge.Finite(r.Samples.Baseline)
	}
	need := judge.MinSamples(s.ConfidenceLevel)
	if len(canary) < need || len(baseline) < need {
		why := fmt.Sprintf("%d canary and %d baseline samples, the test needs %d of each", len(canary), len(baseline), need)
		return judge.NoDataResult(m.Name, why, len(canary), len(baseline)), nil
	}
	return judge.Classify(s, judge.Input{Metric: judgeMetric(m), Canary: canary, Baseline: baseline}), nil
}

// warmingUp tells which metrics still lack the samples the test
// needs, while the run is young enough for them to come: the minimum
// number of steps plus two, and two analysis intervals for the first
// traffic to arrive. Past that, a metric without enough samples has no
// data, and its noDataPolicy decides.
func (d *decider) warmingUp(counted []Metric, s judge.Settings) string {
	need := judge.MinSamples(s.ConfidenceLevel)
	var waiting []string
	for _, m := range counted {
		r := d.result(m.Name)
		if r.Outcome != QueryOK && r.Outcome != QueryNoData {
			continue
		}
		n := 0
		if r.Samples != nil {
			n = min(len(judge.Finite(r.Samples.Canary)), len(judge.Finite(r.Samples.Baseline)))
		}
		if n < need && d.now.Before(d.warmUpEnd(m, need)) {
			waiting = append(waiting, fmt.Sprintf("%s has %d of the %d needed on each side", m.Name, n, need))
		}
	}
	return strings.Join(waiting, "; ")
}

// warmUpEnd is when a judged metric must have its samples.
func (d *decider) warmUpEnd(m Metric, need int) time.Time {
	return d.st().RunStart.Add(time.Duration(need+2)*m.Step + 2*d.spec.Interval)
}

// judgeMetric is a metric's settings for the judge, with its no-data
// policy: Fail counts it as failed, Pass as passed, Skip leaves it out.
func judgeMetric(m Metric) judge.Metric {
	jm := *m.Judge
	jm.Name = m.Name
	switch m.NoData {
	case NoDataFail:
		jm.NoData = judge.NoDataFail
	case NoDataPass:
		jm.NoData = judge.NoDataPass
	default:
		jm.NoData = judge.NoDataExclude
	}
	return jm
}

// recordJudged records the classification of one judged metric; Value is
// the effect size.
func (d *decider) recordJudged(m Metric, res judge.MetricResult) {
	c := Check{Metric: m.Name, Time: d.now, Query: d.result(m.Name).Query, Message: m.Name + ": " + res.Reason,
		Judged: &Judged{Class: res.Class, PValue: res.PValue, EffectSize: res.EffectSize, Shift: res.Shift, Lower: res.Lower,
			Upper: res.Upper, CanaryN: res.CanaryN, BaselineN: res.BaselineN, CanaryMedian: res.CanaryMedian, BaselineMedian: res.BaselineMedian}}
	switch {
	case res.Failed:
		c.Verdict = VerdictFail
	case res.Class == judge.NoData:
		c.Verdict = VerdictNoData
	default:
		c.Verdict = VerdictPass
	}
	if res.Class != judge.NoData && !math.IsInf(res.EffectSize, 0) {
		c.Value = ptr(res.EffectSize)
	}
	// the judgement counts, not each metric
	d.record(d.dryRun(m, c))
}

// recordJudgement records the judgement and maps its verdict onto the
// tick.
func (d *decider) recordJudgement(r judge.Result, s judge.Settings) (Check, judgeOutcome) {
	s = s.WithDefaults()
	c := Check{Metric: JudgeCheck, Time: d.now, Value: ptr(r.Score), Min: ptr(s.MarginalScore),
		Judged: &Judged{Score: r.Score, Verdict: r.Verdict}, Verdict: VerdictPass}
	failures := failedReasons(r)
	final := d.spec.Strategy == StrategyCanary && d.st().CanaryWeight >= d.spec.MaxWeight
	out := judgePass
	switch {
	case r.Verdict == judge.VerdictFail:
		c.Message = fmt.Sprintf("Halt %s advancement judge score %s < %s: %s%s", d.key(), formatNumber(r.Score), formatNumber(s.MarginalScore), r.Reason, failures)
		c.Verdict, c.Failed, out = VerdictFail, true, judgeFail
	case r.Verdict == judge.VerdictMarginal && final:
		c.Min = ptr(s.PassScore)
		c.Message = fmt.Sprintf("Halt %s advancement judge score %s < %s before promotion: %s%s", d.key(), formatNumber(r.Score), formatNumber(s.PassScore), r.Reason, failures)
		c.Verdict, c.Failed, out = VerdictFail, true, judgeFail
	case r.Verdict == judge.VerdictMarginal:
		c.Message = fmt.Sprintf("Judge score %s of %s is marginal (pass %s, needed before promotion): %s%s", formatNumber(r.Score), d.key(), formatNumber(s.PassScore), r.Reason, failures)
	default:
		c.Message = fmt.Sprintf("Judge score %s of %s: %s", formatNumber(r.Score), d.key(), r.Reason)
	}
	d.record(c)
	return c, out
}

// failedReasons lists why the metrics that failed did.
func failedReasons(r judge.Result) string {
	var out []string
	for _, m := range r.Metrics {
		if m.Failed && !strings.Contains(r.Reason, m.Reason) {
			out = append(out, m.Name+": "+m.Reason)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; " + strings.Join(out, "; ")
}

// marginal tells a passing judgement with a marginal score.
func (c Check) marginal() bool {
	return c.Verdict == VerdictPass && c.Judged != nil && c.Judged.Verdict == judge.VerdictMarginal
}
