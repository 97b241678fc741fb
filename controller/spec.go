package controller

import (
	"maps"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// AnalysisCanary copies what the analysis decides from out of a Canary;
// provider is spec.provider or the controller's default. kubectl canary
// uses it to lint and simulate as the controller would.
func AnalysisCanary(c *flaggerv1.Canary, provider string) analysis.Canary {
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
		out.Webhooks = append(out.Webhooks, analysis.Webhook{Name: h.Name, Type: string(h.Type), MuteAlert: h.MuteAlert, GateTimeout: h.GateTimeout})
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

// analysisStatus copies the status the analysis decides from.
func analysisStatus(s *flaggerv1.CanaryStatus) analysis.Status {
	out := analysis.Status{
		Phase: analysis.Phase(s.Phase), FailedChecks: s.FailedChecks, CanaryWeight: s.CanaryWeight, Iterations: s.Iterations,
		LastAppliedSpec: s.LastAppliedSpec, LastPromotedSpec: s.LastPromotedSpec,
		LastTransitionTime: s.LastTransitionTime.Time, PreRolloutPassed: s.PreRolloutPassed, Message: s.Message,
	}
	if s.TrackedConfigs != nil {
		out.TrackedConfigs = maps.Clone(*s.TrackedConfigs)
	}
	if s.LastAnalysisTime != nil {
		out.LastAnalysisTime = s.LastAnalysisTime.Time
	}
	if s.WaitingSince != nil {
		out.WaitingSince = s.WaitingSince.Time
	}
	out.Paused = s.Paused
	if r := s.LastRequest; r != nil {
		out.LastRequest = &analysis.RequestRecord{Op: string(r.Operation), ID: r.ID, Time: r.Time.Time, Accepted: r.Accepted, Message: r.Message}
	}
	for _, ch := range s.Checks {
		out.Checks = append(out.Checks, analysisCheck(ch))
	}
	if s.RunStartTime != nil {
		out.RunStart = s.RunStartTime.Time
	}
	return out
}

// writeStatus copies a decided status into the Canary's status, with the
// single Promoted condition whose reason is the phase.
func writeStatus(c *flaggerv1.Canary, s analysis.Status, now time.Time) {
	st := &c.Status
	st.Phase = flaggerv1.CanaryPhase(s.Phase)
	st.FailedChecks, st.CanaryWeight, st.Iterations = s.FailedChecks, s.CanaryWeight, s.Iterations
	st.LastAppliedSpec, st.LastPromotedSpec = s.LastAppliedSpec, s.LastPromotedSpec
	st.PreRolloutPassed, st.Message = s.PreRolloutPassed, s.Message
	st.ObservedGeneration = c.Generation
	if s.TrackedConfigs != nil {
		tc := maps.Clone(s.TrackedConfigs)
		st.TrackedConfigs = &tc
	} else {
		st.TrackedConfigs = nil
	}
	if !s.LastTransitionTime.IsZero() {
		st.LastTransitionTime = metav1.NewTime(s.LastTransitionTime)
	}
	st.LastAnalysisTime = nil
	if !s.LastAnalysisTime.IsZero() {
		t := metav1.NewMicroTime(s.LastAnalysisTime)
		st.LastAnalysisTime = &t
	}
	st.WaitingSince = nil
	if !s.WaitingSince.IsZero() {
		t := metav1.NewMicroTime(s.WaitingSince)
		st.WaitingSince = &t
	}
	st.Paused = s.Paused
	st.LastRequest = nil
	if r := s.LastRequest; r != nil {
		st.LastRequest = &flaggerv1.RequestRecord{Operation: flaggerv1.Request(r.Op), ID: r.ID, Time: metav1.NewTime(r.Time), Accepted: r.Accepted, Message: r.Message}
	}
	st.Checks = nil
	for _, ch := range s.Checks {
		st.Checks = append(st.Checks, checkResult(ch))
	}
	st.RunStartTime = nil
	if !s.RunStart.IsZero() {
		t := metav1.NewTime(s.RunStart)
		st.RunStartTime = &t
	}
	setPromoted(c, now)
}

// setPromoted keeps the one condition in step with the phase. It is
// replaced only when its status or reason change, so lastTransitionTime
// means what it says.
func setPromoted(c *flaggerv1.Canary, now time.Time) {
	status, msg := analysis.Promoted(analysis.Phase(c.Status.Phase), c.Spec.TargetRef.Kind)
	reason := string(c.Status.Phase)
	if reason == "" {
		reason = string(flaggerv1.CanaryPhaseInitializing)
	}
	want := flaggerv1.CanaryCondition{Type: flaggerv1.PromotedType, Status: metav1.ConditionStatus(status), Reason: reason, Message: msg,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now)}
	if have := c.Status.Condition(flaggerv1.PromotedType); have != nil {
		if have.Status == want.Status && have.Reason == want.Reason {
			return
		}
		if have.Status == want.Status {
			want.LastTransitionTime = have.LastTransitionTime
		}
	}
	c.Status.Conditions = []flaggerv1.CanaryCondition{want}
}

// pendingRequest reads the warbler.dev/request annotation: "<op>" or
// "<op>/<id>".
func pendingRequest(c *flaggerv1.Canary) *analysis.Request {
	v, ok := c.Annotations[flaggerv1.RequestAnnotation]
	if !ok {
		return nil
	}
	op, id, _ := strings.Cut(strings.TrimSpace(v), "/")
	return &analysis.Request{Op: op, ID: id}
}
