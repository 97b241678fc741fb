// Package judge compares a canary with its baseline the way Kayenta's
// NetflixACAJudge does: each metric's canary samples are tested against the
// baseline's with a Mann-Whitney U test, the Hodges-Lehmann shift and an
// effect size (the ratio of the means); each metric is classified Pass,
// High or Low; the classifications are scored with weights, and the score
// is judged against pass and marginal thresholds.
//
// Like the rest of package analysis it is pure: no clock, no randomness, no
// I/O. Kayenta breaks the ties of two constant samples with random noise;
// the test here handles ties exactly instead, so the same samples always
// give the same verdict.
package judge

import (
	"fmt"
	"math"
	"slices"
)

// Direction is the change of a metric that counts as a failure.
type Direction string

// The directions.
const (
	// Increase: a canary higher than its baseline fails (latency, errors).
	Increase Direction = "Increase"
	// Decrease: a canary lower than its baseline fails (success rate).
	Decrease Direction = "Decrease"
	// Either: any significant difference fails.
	Either Direction = "Either"
)

// Class is a metric's classification.
type Class string

// The classes.
const (
	// Pass: no significant difference, or one smaller than allowed.
	Pass Class = "Pass"
	// High: the canary is significantly higher than its baseline.
	High Class = "High"
	// Low: the canary is significantly lower than its baseline.
	Low Class = "Low"
	// NoData: one side had no finite sample.
	NoData Class = "NoData"
)

// Verdict is the judgement of a whole comparison.
type Verdict string

// The verdicts.
const (
	VerdictPass     Verdict = "Pass"
	VerdictMarginal Verdict = "Marginal"
	VerdictFail     Verdict = "Fail"
)

// Settings are the judge's parameters. Zero values take Kayenta's
// defaults.
type Settings struct {
	// ConfidenceLevel of the shift's interval; default 0.98.
	ConfidenceLevel float64
	// Tolerance: a shift counts only when its whole interval lies beyond
	// this fraction of the estimated shift from zero; default 0.25.
	Tolerance float64
	// PassScore and MarginalScore, out of 100; defaults 95 and 75.
	PassScore, MarginalScore float64
}

// WithDefaults returns s with Kayenta's defaults for its zero fields.
func (s Settings) WithDefaults() Settings {
	if s.ConfidenceLevel == 0 {
		s.ConfidenceLevel = 0.98
	}
	if s.Tolerance == 0 {
		s.Tolerance = 0.25
	}
	if s.PassScore == 0 {
		s.PassScore = 95
	}
	if s.MarginalScore == 0 {
		s.MarginalScore = 75
	}
	return s
}

// Metric configures the judgement of one metric.
type Metric struct {
	Name string
	// Direction that fails; default Either.
	Direction Direction
	// Weight in the score; default 1.
	Weight float64
	// Critical: a failure of this metric fails the whole comparison.
	Critical bool
	// AllowedIncrease and AllowedDecrease bound the effect size (canary
	// mean / baseline mean) of a significant change that still passes:
	// AllowedIncrease 1.2 lets the canary be up to 20% higher,
	// AllowedDecrease 0.8 up to 20% lower. Defaults 1 (any significant
	// change fails).
	AllowedIncrease, AllowedDecrease float64
	// NoData is what the metric counts as in the score when it has no
	// data; NoDataExclude by default.
	NoData NoDataRule
}

// NoDataRule says what a metric without data counts as in the score.
type NoDataRule string

// The no-data rules.
const (
	// NoDataExclude leaves the metric out of the score (Kayenta's
	// default); half the metrics or more without data score 0.
	NoDataExclude NoDataRule = ""
	// NoDataFail counts the metric as failed (Kayenta's mustHaveData).
	NoDataFail NoDataRule = "Fail"
	// NoDataPass counts the metric as passed.
	NoDataPass NoDataRule = "Pass"
)

// Input is one metric with both sides' samples over the same window.
type Input struct {
	Metric
	Canary, Baseline []float64
}

// MetricResult explains one metric's classification.
type MetricResult struct {
	Name  string
	Class Class
	// Failed: the class is in the metric's failing direction, or the
	// metric has no data and its NoData rule is NoDataFail.
	Failed bool
	// PValue of the two-sided Mann-Whitney test (1 when not tested).
	PValue float64
	// EffectSize is the canary's mean over the baseline's.
	EffectSize float64
	// Shift is the Hodges-Lehmann estimate of canary - baseline, within
	// [Lower, Upper] at the confidence level.
	Shift, Lower, Upper float64
	// Sizes and medians of the samples that were compared (finite values
	// only).
	CanaryN, BaselineN           int
	CanaryMedian, BaselineMedian float64
	// Reason says in a sentence why the metric was classified so.
	Reason string
}

// Result is the judgement of every metric.
type Result struct {
	// Score out of 100.
	Score   float64
	Verdict Verdict
	Metrics []MetricResult
	// Reason explains the score.
	Reason string
}

// Judge classifies every input and scores the classifications.
func Judge(s Settings, inputs []Input) Result {
	metrics := make([]Metric, len(inputs))
	results := make([]MetricResult, len(inputs))
	for i, in := range inputs {
		metrics[i], results[i] = in.Metric, Classify(s, in)
	}
	return Score(s, metrics, results)
}

// Score scores classifications, made by Classify or by NoDataResult, of
// the metrics in the same order, and judges the score.
func Score(s Settings, metrics []Metric, results []MetricResult) Result {
	s = s.WithDefaults()
	r := Result{Metrics: slices.Clone(results)}
	for i := range r.Metrics {
		if r.Metrics[i].Class == NoData {
			r.Metrics[i].Failed = metrics[i].NoData == NoDataFail
		}
	}
	r.Score, r.Reason = score(metrics, r.Metrics)
	switch {
	case r.Score >= s.PassScore:
		r.Verdict = VerdictPass
	case r.Score >= s.MarginalScore:
		r.Verdict = VerdictMarginal
	default:
		r.Verdict = VerdictFail
	}
	return r
}

// Classify compares one metric's canary samples with its baseline's.
// Samples that are NaN or infinite are left out.
func Classify(s Settings, in Input) MetricResult {
	s = s.WithDefaults()
	canary, baseline := Finite(in.Canary), Finite(in.Baseline)
	res := MetricResult{Name: in.Name, Class: Pass, PValue: 1, EffectSize: 1,
		CanaryN: len(canary), BaselineN: len(baseline)}
	switch {
	case len(canary) == 0 && len(baseline) == 0:
		return noData(res, "neither the canary nor the baseline has samples")
	case len(canary) == 0:
		return noData(res, "the canary has no samples")
	case len(baseline) == 0:
		return noData(res, "the baseline has no samples")
	}
	res.CanaryMedian, res.BaselineMedian = sortedMedian(canary), sortedMedian(baseline)
	res.EffectSize = meanRatio(canary, baseline)
	mw, err := MannWhitney(canary, baseline, s.ConfidenceLevel)
	if err != nil { // every value equal: nothing differs
		res.Reason = fmt.Sprintf("canary and baseline are the same constant %g", canary[0])
		return res
	}
	res.PValue, res.Shift, res.Lower, res.Upper = mw.PValue, mw.Estimate, mw.Lower, mw.Upper
	bound := s.Tolerance * math.Abs(mw.Estimate)
	switch {
	case mw.Lower > bound:
		res.Class = High
	case mw.Upper < -bound:
		res.Class = Low
	}
	res.Failed = fails(in.Metric, res)
	res.Reason = explain(s, in.Metric, res)
	return res
}

func noData(res MetricResult, why string) MetricResult {
	res.Class, res.Reason = NoData, why
	return res
}

// NoDataResult is the classification of a metric the caller found to
// have too little data to test, such as fewer samples than MinSamples.
func NoDataResult(name, why string, canaryN, baselineN int) MetricResult {
	return noData(MetricResult{Name: name, PValue: 1, EffectSize: 1, CanaryN: canaryN, BaselineN: baselineN}, why)
}

// fails tells whether a classification fails the metric: a change in the
// failing direction whose effect size is beyond what is allowed.
func fails(m Metric, res MetricResult) bool {
	dir := m.Direction
	if dir == "" {
		dir = Either
	}
	switch res.Class {
	case High:
		return dir != Decrease && res.EffectSize >= orOne(m.AllowedIncrease)
	case Low:
		return dir != Increase && res.EffectSize <= orOne(m.AllowedDecrease)
	}
	return false
}

// orOne returns v, or 1 when v is zero or not a number.
func orOne(v float64) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	return v
}

func explain(s Settings, m Metric, res MetricResult) string {
	stats := fmt.Sprintf("shift %+.4g (%g%% CI %.4g … %.4g), p=%.3g, mean ratio %.3g, n=%d/%d",
		res.Shift, s.ConfidenceLevel*100, res.Lower, res.Upper, res.PValue, res.EffectSize, res.CanaryN, res.BaselineN)
	switch {
	case res.Class == Pass:
		return "no significant difference: " + stats
	case res.Failed:
		return fmt.Sprintf("canary %s than baseline: %s", higherLower(res.Class), stats)
	case (res.Class == High && m.Direction == Decrease) || (res.Class == Low && m.Direction == Increase):
		return fmt.Sprintf("canary %s than baseline, which is not a failure for direction %s: %s", higherLower(res.Class), m.Direction, stats)
	}
	return fmt.Sprintf("canary %s than baseline, within the allowed effect size: %s", higherLower(res.Class), stats)
}

func higherLower(c Class) string {
	if c == High {
		return "higher"
	}
	return "lower"
}

// score is Kayenta's weighted sum: the weight of the metrics that did not
// fail over the weight of those counted, times 100. A metric without data
// is left out, unless its NoData rule counts it as failed or passed. A
// failed critical metric, or half of the metrics or more left out for lack
// of data, scores 0.
func score(metrics []Metric, results []MetricResult) (float64, string) {
	var withData, passed float64
	noData := 0
	for i, res := range results {
		w := metrics[i].Weight
		if w <= 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			w = 1
		}
		switch {
		case res.Class == NoData && metrics[i].NoData == NoDataExclude:
			noData++
			continue
		case res.Failed && metrics[i].Critical:
			return 0, fmt.Sprintf("critical metric %s failed: %s", res.Name, res.Reason)
		case !res.Failed:
			passed += w
		}
		withData += w
	}
	if len(results) == 0 || 2*noData >= len(results) || withData == 0 {
		return 0, fmt.Sprintf("%d of %d metrics have no data", noData, len(results))
	}
	sc := math.Round(passed/withData*10000) / 100
	failed := 0
	for _, res := range results {
		if res.Failed {
			failed++
		}
	}
	return sc, fmt.Sprintf("%d of %d metrics failed, %d without data", failed, len(results), noData)
}

// Finite returns the values of v that are neither NaN nor infinite.
func Finite(v []float64) []float64 {
	out := make([]float64, 0, len(v))
	for _, f := range v {
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, f)
		}
	}
	return out
}

// meanRatio is mean(canary)/mean(baseline). A zero baseline mean gives 1
// when the canary's mean is zero too and ±Inf otherwise (Kayenta divides
// and gets NaN, which then passes: kayenta#377).
func meanRatio(canary, baseline []float64) float64 {
	c, b := mean(canary), mean(baseline)
	switch {
	case b == 0 && c == 0:
		return 1
	case b == 0:
		return math.Inf(int(sign(c)))
	}
	return c / b
}

// mean without overflow for huge values.
func mean(v []float64) float64 {
	m := 0.0
	for i, f := range v {
		m += (f - m) / float64(i+1)
	}
	return m
}

func sortedMedian(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return median(s)
}
