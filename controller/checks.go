package controller

import (
	"math"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/analysis"
	"github.com/warbler-dev/warbler/analysis/judge"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// checkResult is a check as status.checks records it. Numbers that JSON
// cannot carry (an infinite effect size over a zero baseline) are left
// out; the message says them in words.
func checkResult(ch analysis.Check) flaggerv1.CheckResult {
	out := flaggerv1.CheckResult{Metric: ch.Metric, Time: metav1.NewTime(ch.Time), Query: cut(ch.Query, maxTextBytes), Value: finite(ch.Value),
		Min: ch.Min, Max: ch.Max, Verdict: flaggerv1.CheckVerdict(ch.Verdict), Failed: ch.Failed, Message: cut(ch.Message, maxTextBytes),
		DryRun: ch.DryRun, ReleaseID: ch.ReleaseID}
	if r := ch.Relative; r != nil {
		out.Relative = &flaggerv1.RelativeCheckResult{Against: flaggerv1.ComparisonSide(r.Against), As: flaggerv1.ComparisonRelation(r.As),
			Canary: finite(r.Canary), Reference: finite(r.Reference), Query: cut(r.Query, maxTextBytes)}
	}
	if j := ch.Judged; j != nil {
		out.Judge = &flaggerv1.JudgeCheckResult{Class: flaggerv1.JudgeClass(j.Class), Verdict: flaggerv1.JudgeVerdict(j.Verdict)}
		if j.Class != "" {
			jr := out.Judge
			jr.PValue, jr.EffectSize, jr.Shift = finite(&j.PValue), finite(&j.EffectSize), finite(&j.Shift)
			jr.Lower, jr.Upper = finite(&j.Lower), finite(&j.Upper)
			jr.CanaryMedian, jr.BaselineMedian = finite(&j.CanaryMedian), finite(&j.BaselineMedian)
			jr.CanarySamples, jr.BaselineSamples = j.CanaryN, j.BaselineN
		} else {
			out.Judge.Score = finite(&j.Score)
		}
	}
	return out
}

// analysisCheck reads a recorded check back.
func analysisCheck(ch flaggerv1.CheckResult) analysis.Check {
	out := analysis.Check{Metric: ch.Metric, Time: ch.Time.Time, Query: ch.Query, Value: ch.Value, Min: ch.Min, Max: ch.Max,
		Verdict: analysis.Verdict(ch.Verdict), Failed: ch.Failed, Message: ch.Message, DryRun: ch.DryRun, ReleaseID: ch.ReleaseID}
	if r := ch.Relative; r != nil {
		out.Relative = &analysis.Relative{Against: analysis.Side(r.Against), As: analysis.Relation(r.As),
			Canary: r.Canary, Reference: r.Reference, Query: r.Query}
	}
	if j := ch.Judge; j != nil {
		out.Judged = &analysis.Judged{Class: judge.Class(j.Class), Verdict: judge.Verdict(j.Verdict), CanaryN: j.CanarySamples, BaselineN: j.BaselineSamples,
			PValue: val(j.PValue), EffectSize: val(j.EffectSize), Shift: val(j.Shift), Lower: val(j.Lower), Upper: val(j.Upper),
			CanaryMedian: val(j.CanaryMedian), BaselineMedian: val(j.BaselineMedian), Score: val(j.Score)}
	}
	return out
}

func finite(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	f := *v
	return &f
}

// val reads an optional number; an absent one is NaN, which checkResult
// leaves out again, so the history survives the round trip unchanged.
func val(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}
