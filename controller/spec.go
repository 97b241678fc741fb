package controller

import (
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// analysisStatus copies the status the analysis decides from.
func analysisStatus(s *flaggerv1.CanaryStatus) analysis.Status {
	out := analysis.Status{
		Phase: analysis.Phase(s.Phase), FailedChecks: s.FailedChecks, CanaryWeight: s.CanaryWeight, Iterations: s.Iterations,
		LastAppliedSpec: s.LastAppliedSpec, LastPromotedSpec: s.LastPromotedSpec,
		LastTransitionTime: s.LastTransitionTime.Time, PreRolloutPassed: s.PreRolloutPassed,
		Reason: analysis.Reason(s.Reason), Message: s.Message, PendingGate: s.PendingGate,
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
		rec := fromRequestRecord(*r)
		out.LastRequest = &rec
	}
	for _, ch := range s.Checks {
		out.Checks = append(out.Checks, analysisCheck(ch))
	}
	for _, r := range s.History {
		rel := analysis.Release{ID: r.ID, Revision: r.Revision, Images: r.Images, Start: r.StartTime.Time,
			Outcome: analysis.ReleaseOutcome(r.Outcome), Reason: analysis.Reason(r.Reason), Message: r.Message,
			HighestWeight: r.HighestWeight, FailedChecks: r.FailedChecks}
		if r.EndTime != nil {
			rel.End = r.EndTime.Time
		}
		for _, q := range r.Requests {
			rel.Requests = append(rel.Requests, fromRequestRecord(q))
		}
		out.History = append(out.History, rel)
	}
	if s.RunStartTime != nil {
		out.RunStart = s.RunStartTime.Time
	}
	return out
}

func fromRequestRecord(r flaggerv1.RequestRecord) analysis.RequestRecord {
	return analysis.RequestRecord{Op: string(r.Operation), ID: r.ID, By: r.By, Time: r.Time.Time, Accepted: r.Accepted, Message: r.Message}
}

func toRequestRecord(r analysis.RequestRecord) flaggerv1.RequestRecord {
	return flaggerv1.RequestRecord{Operation: flaggerv1.Request(r.Op), ID: r.ID, By: cut(r.By, maxNameBytes), Time: metav1.NewTime(r.Time),
		Accepted: r.Accepted, Message: cut(r.Message, maxTextBytes)}
}

// Bounds of what the status keeps of texts that come from outside: a query,
// a message quoting a webhook's answer, a requester's name.
const (
	maxTextBytes = 1024
	maxNameBytes = 256
)

// cut shortens s to at most n bytes, at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// writeStatus copies a decided status into the Canary's status, with the
// single Promoted condition whose reason is the phase.
func writeStatus(c *flaggerv1.Canary, s analysis.Status, now time.Time) {
	st := &c.Status
	st.Phase = flaggerv1.CanaryPhase(s.Phase)
	st.FailedChecks, st.CanaryWeight, st.Iterations = s.FailedChecks, s.CanaryWeight, s.Iterations
	st.LastAppliedSpec, st.LastPromotedSpec = s.LastAppliedSpec, s.LastPromotedSpec
	st.PreRolloutPassed = s.PreRolloutPassed
	st.Reason, st.Message, st.PendingGate = flaggerv1.CanaryReason(s.Reason), cut(s.Message, maxTextBytes), s.PendingGate
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
		rec := toRequestRecord(*r)
		st.LastRequest = &rec
	}
	st.Checks = nil
	for _, ch := range s.Checks {
		st.Checks = append(st.Checks, checkResult(ch))
	}
	st.History = nil
	for _, r := range s.History {
		st.History = append(st.History, toRelease(r))
	}
	st.RunStartTime = nil
	if !s.RunStart.IsZero() {
		t := metav1.NewTime(s.RunStart)
		st.RunStartTime = &t
	}
	setPromoted(c, now)
}

func toRelease(r analysis.Release) flaggerv1.CanaryRelease {
	out := flaggerv1.CanaryRelease{ID: r.ID, Revision: r.Revision, Images: r.Images, StartTime: metav1.NewTime(r.Start),
		Outcome: flaggerv1.ReleaseOutcome(r.Outcome), Reason: flaggerv1.CanaryReason(r.Reason), Message: cut(r.Message, maxTextBytes),
		HighestWeight: r.HighestWeight, FailedChecks: r.FailedChecks}
	if !r.End.IsZero() {
		end := metav1.NewTime(r.End)
		out.EndTime = &end
	}
	for _, q := range r.Requests {
		out.Requests = append(out.Requests, toRequestRecord(q))
	}
	return out
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

// pendingRequest reads the warbler.dev/request annotation, "<op>" or
// "<op>/<id>", and who set it (warbler.dev/requested-by).
func pendingRequest(c *flaggerv1.Canary) *analysis.Request {
	v, ok := c.Annotations[flaggerv1.RequestAnnotation]
	if !ok {
		return nil
	}
	op, id, _ := strings.Cut(strings.TrimSpace(v), "/")
	return &analysis.Request{Op: op, ID: id, By: strings.TrimSpace(c.Annotations[flaggerv1.RequestedByAnnotation])}
}
