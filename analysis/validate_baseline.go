package analysis

import (
	"fmt"
	"time"

	"github.com/warbler-dev/warbler/analysis/judge"
)

// validateRelative checks a metric's compare and judge settings and
// applies their defaults.
func validateRelative(field string, m MetricSpec, out *Metric) error {
	if m.Compare != nil {
		if m.Judge != nil {
			return &SpecError{field + ".judge", "cannot be combined with compare: a judged metric compares samples with the judge, a compared one a value with thresholdRange"}
		}
		cmp, err := validateCompare(field+".compare", *m.Compare)
		if err != nil {
			return err
		}
		if m.Min == nil && m.Max == nil {
			return &SpecError{field + ".thresholdRange", fmt.Sprintf("compare needs thresholdRange: the accepted range of the canary's %s", relationWords(cmp))}
		}
		out.Compare = &cmp
	}
	if m.Judge != nil {
		if m.Min != nil || m.Max != nil || m.Threshold != 0 {
			return &SpecError{field + ".judge", "cannot be combined with thresholdRange or threshold: the judge compares the canary's samples with the baseline's, not a value with a bound; check the value with a second metric"}
		}
		jm, err := validateJudgeMetric(field+".judge", *m.Judge, out.Kind)
		if err != nil {
			return err
		}
		out.Judge = &jm
		if out.Step, err = sampleStep(field+".interval", m.Interval); err != nil {
			return err
		}
	}
	return nil
}

func validateCompare(field string, c CompareSpec) (Compare, error) {
	out := Compare{Against: Side(c.Against), As: Relation(c.As)}
	switch out.Against {
	case SideBaseline, SidePrimary:
	default:
		return Compare{}, &SpecError{field + ".against", fmt.Sprintf("unknown side %q; valid: %s, %s", c.Against, SideBaseline, SidePrimary)}
	}
	switch out.As {
	case "":
		out.As = RelationRatio
	case RelationRatio, RelationDifference:
	default:
		return Compare{}, &SpecError{field + ".as", fmt.Sprintf("unknown relation %q; valid: %s, %s", c.As, RelationRatio, RelationDifference)}
	}
	return out, nil
}

func relationWords(c Compare) string {
	if c.As == RelationDifference {
		return "difference from the " + c.side()
	}
	return "ratio to the " + c.side()
}

// validateJudgeMetric applies the judge's defaults to a metric: weight 1,
// no allowed change, and the direction that fails by the kind of metric
// (a higher latency, a lower success rate, any change of a custom one).
func validateJudgeMetric(field string, j JudgeMetricSpec, kind MetricKind) (judge.Metric, error) {
	out := judge.Metric{Direction: judge.Direction(j.Direction), Weight: 1, Critical: j.Critical, AllowedIncrease: 1, AllowedDecrease: 1}
	switch out.Direction {
	case judge.Increase, judge.Decrease, judge.Either:
	case "":
		out.Direction = map[MetricKind]judge.Direction{MetricSuccessRate: judge.Decrease, MetricDuration: judge.Increase}[kind]
		if out.Direction == "" {
			out.Direction = judge.Either
		}
	default:
		return judge.Metric{}, &SpecError{field + ".direction", fmt.Sprintf("unknown direction %q; valid: %s, %s, %s", j.Direction, judge.Increase, judge.Decrease, judge.Either)}
	}
	if w := j.Weight; w != nil {
		if *w < 1 || *w > 100 {
			return judge.Metric{}, &SpecError{field + ".weight", fmt.Sprintf("%d is not a weight from 1 to 100", *w)}
		}
		out.Weight = float64(*w)
	}
	if v := j.AllowedIncrease; v != nil {
		if !(*v >= 1) {
			return judge.Metric{}, &SpecError{field + ".allowedIncrease", fmt.Sprintf("%v is not a ratio of 1 or more (1.1 lets the canary's mean be 10%% higher)", *v)}
		}
		out.AllowedIncrease = *v
	}
	if v := j.AllowedDecrease; v != nil {
		if !(*v > 0 && *v <= 1) {
			return judge.Metric{}, &SpecError{field + ".allowedDecrease", fmt.Sprintf("%v is not a ratio above 0 and up to 1 (0.9 lets the canary's mean be 10%% lower)", *v)}
		}
		out.AllowedDecrease = *v
	}
	return out, nil
}

// sampleStep is the window and spacing of a judged metric's samples: its
// interval.
func sampleStep(field, v string) (time.Duration, error) {
	if v == "" {
		return time.Minute, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return 0, &SpecError{field, fmt.Sprintf("%q is not a duration of a second or more, such as 30s or 1m", v)}
	}
	return d, nil
}

// validateBaseline checks analysis.baseline and analysis.judge against the
// rest of the spec, once the metrics are validated.
func validateBaseline(c Canary, s *Spec) error {
	s.Baseline = c.Baseline
	judged := 0
	for i, m := range s.Metrics {
		field := fmt.Sprintf("spec.analysis.metrics[%d]", i)
		switch {
		case m.Judge != nil && !c.Baseline:
			return &SpecError{field + ".judge", "needs analysis.baseline.enabled: the judge compares the canary with its baseline"}
		case m.Compare != nil && m.Compare.Against == SideBaseline && !c.Baseline:
			return &SpecError{field + ".compare.against", "Baseline needs analysis.baseline.enabled; compare against Primary, or enable the baseline"}
		}
		if m.Judge != nil {
			judged++
		}
	}
	if err := validateJudge(c, s, judged); err != nil {
		return err
	}
	if !c.Baseline {
		return nil
	}
	switch {
	case c.TargetKind != "Deployment":
		return &SpecError{"spec.analysis.baseline", fmt.Sprintf("needs a Deployment target, not a %s: the baseline runs at the canary's size", c.TargetKind)}
	case !s.Traffic.Weighted:
		return &SpecError{"spec.analysis.baseline", fmt.Sprintf("provider %s cannot split traffic, so the baseline could get no share of it", s.Provider)}
	case s.Strategy != StrategyCanary:
		return &SpecError{"spec.analysis.baseline", "needs a progressive canary (stepWeight or stepWeights): blue/green and A/B testing (iterations) give the canary no share of traffic for the baseline to match"}
	case c.Mirror:
		return &SpecError{"spec.analysis.mirror", "cannot be combined with analysis.baseline: a mirror copies traffic to the canary only"}
	case s.MaxWeight > 50:
		field := "spec.analysis.maxWeight"
		if len(c.StepWeights) > 0 {
			field = "spec.analysis.stepWeights"
		}
		return &SpecError{field, fmt.Sprintf("the highest canary weight is %d; with analysis.baseline it must be 50 or less, since the canary and the baseline each take it from the primary's share", s.MaxWeight)}
	}
	return nil
}

// validateJudge checks analysis.judge and keeps the name of the
// judgement's record free.
func validateJudge(c Canary, s *Spec, judged int) error {
	if judged == 0 {
		if c.Judge != nil {
			return &SpecError{"spec.analysis.judge", "no metric is judged: set judge on at least one of spec.analysis.metrics"}
		}
		return nil
	}
	set := judge.Settings{}
	if j := c.Judge; j != nil {
		if j.PassScore != nil {
			set.PassScore = float64(*j.PassScore)
		}
		if j.MarginalScore != nil {
			set.MarginalScore = float64(*j.MarginalScore)
		}
	}
	set = set.WithDefaults()
	switch {
	case set.PassScore < 1 || set.PassScore > 100:
		return &SpecError{"spec.analysis.judge.passScore", fmt.Sprintf("%v is not a score from 1 to 100", set.PassScore)}
	case set.MarginalScore < 1 || set.MarginalScore > set.PassScore:
		return &SpecError{"spec.analysis.judge.marginalScore", fmt.Sprintf("%v is not a score from 1 to passScore %v", set.MarginalScore, set.PassScore)}
	}
	for i, m := range s.Metrics {
		if m.Name == JudgeCheck {
			return &SpecError{fmt.Sprintf("spec.analysis.metrics[%d].name", i), fmt.Sprintf("%q names the judgement in status.checks when metrics are judged; rename the metric", JudgeCheck)}
		}
	}
	s.Judge = &set
	return nil
}
