package v1beta1

import "github.com/warbler-dev/warbler/analysis"

// AnalysisCanary copies what the analysis decides from out of a Canary;
// provider is spec.provider or the controller's default. It lives with the
// API types, as Kubernetes keeps conversions beside the versioned types,
// so that the controller, kubectl canary and its dashboard convert alike
// while depending only on the API and the analysis.
func (c *Canary) AnalysisCanary(provider string) analysis.Canary {
	a := c.Spec.Analysis
	out := analysis.Canary{
		Name: c.Name, Namespace: c.Namespace, TargetKind: c.Spec.TargetRef.Kind, TargetName: c.Spec.TargetRef.Name,
		Provider: provider, SkipAnalysis: c.Spec.SkipAnalysis || a == nil, Suspend: c.Spec.Suspend,
	}
	if a == nil {
		return out
	}
	out.Interval, out.Threshold, out.MaxWeight = a.Interval, a.Threshold, a.MaxWeight
	out.StepWeight, out.StepWeights, out.StepWeightPromotion = a.StepWeight, a.StepWeights, a.StepWeightPromotion
	out.Iterations, out.Mirror, out.Match = a.Iterations, a.Mirror, len(a.Match) > 0
	for _, h := range a.Webhooks {
		out.Webhooks = append(out.Webhooks, analysis.Webhook{Name: h.Name, Type: string(h.Type), MuteAlert: h.MuteAlert, GateTimeout: h.GateTimeout,
			LoadTest: analysis.IsLoadTest(h.Metadata)})
	}
	for _, m := range a.Metrics {
		ms := analysis.MetricSpec{Name: m.Name, Threshold: m.Threshold, HasQuery: m.Query != "", HasTemplateRef: m.TemplateRef != nil,
			NoDataPolicy: m.NoDataPolicy, ErrorRetries: m.ErrorRetries, Provider: provider, Interval: m.Interval, DryRun: m.DryRun}
		if r := m.ThresholdRange; r != nil {
			ms.Min, ms.Max = r.Min, r.Max
		}
		if m.TemplateRef != nil {
			ms.Provider = "custom"
		}
		if cmp := m.Compare; cmp != nil {
			ms.Compare = &analysis.CompareSpec{Against: string(cmp.Against), As: string(cmp.As)}
		}
		if j := m.Judge; j != nil {
			ms.Judge = &analysis.JudgeMetricSpec{Direction: string(j.Direction), Critical: j.Critical,
				AllowedIncrease: j.AllowedIncrease, AllowedDecrease: j.AllowedDecrease}
			if j.Weight != 0 {
				ms.Judge.Weight = &j.Weight
			}
		}
		out.Metrics = append(out.Metrics, ms)
	}
	out.Baseline = c.BaselineEnabled()
	if j := a.Judge; j != nil {
		out.Judge = &analysis.JudgeSpec{}
		if j.PassScore != 0 {
			out.Judge.PassScore = &j.PassScore
		}
		if j.MarginalScore != 0 {
			out.Judge.MarginalScore = &j.MarginalScore
		}
	}
	return out
}
