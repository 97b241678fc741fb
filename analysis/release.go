package analysis

import (
	"fmt"
	"slices"
	"time"
)

// Reason says in one word why a release halted, or how it ended. Events
// expire after an hour; the reason stays in the status and in the release's
// history entry. The values are CamelCase, as the reasons of Kubernetes
// conditions and Pod statuses.
type Reason string

// Why a release halts and then, when the halt counts as a failed check that
// reaches the threshold, why it fails.
const (
	ReasonNone Reason = ""
	// ReasonWebhookFailed: a pre-rollout or rollout webhook failed.
	ReasonWebhookFailed Reason = "WebhookFailed"
	// ReasonLoadTestFailed: a webhook that runs a load test failed.
	ReasonLoadTestFailed Reason = "LoadTestFailed"
	// ReasonMetricCheckFailed: a metric was outside its threshold range.
	ReasonMetricCheckFailed Reason = "MetricCheckFailed"
	// ReasonMetricNoData: a metric query returned no value.
	ReasonMetricNoData Reason = "MetricNoData"
	// ReasonMetricProviderError: the metric provider did not answer, even
	// after the metric's retries.
	ReasonMetricProviderError Reason = "MetricProviderError"
	// ReasonMetricQueryInvalid: a metric's query or template is wrong.
	ReasonMetricQueryInvalid Reason = "MetricQueryInvalid"
	// ReasonThresholdReached: the status already counted as many failed
	// checks as the threshold allows (written by Flagger, or the threshold
	// was lowered).
	ReasonThresholdReached Reason = "ThresholdReached"
	// ReasonAwaitingApproval: a confirm-* gate holds the release.
	ReasonAwaitingApproval Reason = "AwaitingApproval"
	// ReasonNotReady: the canary or the primary is not ready yet.
	ReasonNotReady Reason = "NotReady"
)

// How a release ends without a failed check.
const (
	// ReasonGateTimeout: a gate kept the release waiting longer than its
	// gateTimeout.
	ReasonGateTimeout Reason = "GateTimeout"
	// ReasonProgressDeadlineExceeded: the canary did not become ready
	// within progressDeadlineSeconds.
	ReasonProgressDeadlineExceeded Reason = "ProgressDeadlineExceeded"
	// ReasonPromotionFailed: the primary did not become ready with the new
	// template.
	ReasonPromotionFailed Reason = "PromotionFailed"
	// ReasonAborted: kubectl canary abort.
	ReasonAborted Reason = "Aborted"
	// ReasonRejected: a rollback webhook signalled a rollback (kubectl
	// canary reject, or the loadtester's /rollback/open).
	ReasonRejected Reason = "Rejected"
	// ReasonSuperseded: a newer revision replaced the release before it
	// ended, or the target went back to the promoted revision.
	ReasonSuperseded Reason = "Superseded"
	// ReasonPromoted: the analysis passed and the primary runs the release.
	ReasonPromoted Reason = "Promoted"
	// ReasonAnalysisSkipped: promoted without analysis (spec.skipAnalysis,
	// or kubectl canary promote --skip-analysis).
	ReasonAnalysisSkipped Reason = "AnalysisSkipped"
)

// Why the controller cannot run a tick at all; these come from Hold.
const (
	// ReasonInvalidSpec: the Canary cannot be acted on until it is changed.
	ReasonInvalidSpec Reason = "InvalidSpec"
	// ReasonTargetNotFound: spec.targetRef names no workload.
	ReasonTargetNotFound Reason = "TargetNotFound"
	// ReasonReconcileError: reading or writing the cluster's objects failed
	// (the router's route, the services, the primary).
	ReasonReconcileError Reason = "ReconcileError"
)

// ReleaseOutcome is how a release ended.
type ReleaseOutcome string

// The outcomes; a release that runs has none yet.
const (
	ReleaseSucceeded  ReleaseOutcome = "Succeeded"
	ReleaseFailed     ReleaseOutcome = "Failed"
	ReleaseSuperseded ReleaseOutcome = "Superseded"
)

// Release is one entry of status.history: one attempt to release one
// revision, from its detection to its end.
type Release struct {
	// ID numbers the releases of a canary from 1; checks carry it.
	ID       int
	Revision string
	Images   []string
	// Start is when the revision was detected; End is zero while it runs.
	Start, End time.Time
	Outcome    ReleaseOutcome
	Reason     Reason
	Message    string
	// HighestWeight is the highest canary weight the release reached.
	HighestWeight int
	// FailedChecks counted during the release.
	FailedChecks int
	// Requests are the imperative requests carried out during the release
	// (who promoted, approved, paused or aborted it), oldest first.
	Requests []RequestRecord
}

// DefaultHistoryLimit is how many releases the history keeps by default.
const DefaultHistoryLimit = 10

// MaxRequestsPerRelease bounds the requests a release records.
const MaxRequestsPerRelease = 10

// Hold records why the controller could not run a tick (an invalid spec, a
// missing target, an API error): the status keeps its phase and says why.
func Hold(st Status, r Reason, msg string) Status {
	if st.Phase == PhaseNone {
		st.Phase = PhaseInitializing
	}
	st.Reason, st.Message = r, msg
	return st
}

// halt records why the release does not advance on this tick, and tells
// users with an event worded as Flagger's.
func (d *decider) halt(r Reason, sev Severity, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.st().Reason, d.st().Message = r, msg
	d.event(sev, "%s", msg)
}

// endHold forgets why the controller could not run earlier ticks (see
// Hold), now that it runs one: the status says again how the last release
// ended, or nothing until this tick halts.
func (d *decider) endHold() {
	st := d.st()
	switch st.Reason {
	case ReasonInvalidSpec, ReasonTargetNotFound, ReasonReconcileError:
	default:
		return
	}
	d.clearHalt()
	if h := st.History; len(h) > 0 && !h[len(h)-1].End.IsZero() && !running(st.Phase) {
		st.Reason, st.Message = h[len(h)-1].Reason, h[len(h)-1].Message
	}
}

// clearHalt forgets the halt of an earlier tick; a halt of this tick sets
// it again.
func (d *decider) clearHalt() {
	st := d.st()
	st.Reason, st.Message, st.PendingGate = ReasonNone, "", ""
}

// current is the open release, or nil.
func (d *decider) current() *Release {
	h := d.st().History
	if n := len(h); n > 0 && h[n-1].End.IsZero() {
		return &h[n-1]
	}
	return nil
}

// openRelease starts a history entry for revision rev. An open entry for
// the same revision is kept, unless restart (a new run of the analysis)
// supersedes it.
func (d *decider) openRelease(rev string, restart bool) {
	st := d.st()
	if cur := d.current(); cur != nil {
		if !restart && cur.Revision == rev {
			return
		}
		d.closeRelease(ReleaseSuperseded, ReasonSuperseded, "superseded by revision "+rev)
	}
	id := 1
	if n := len(st.History); n > 0 {
		id = st.History[n-1].ID + 1
	}
	st.History = append(st.History, Release{ID: id, Revision: rev, Images: slices.Clone(d.obs.Images), Start: d.now})
	if limit := max(d.spec.HistoryLimit, 1); len(st.History) > limit {
		st.History = slices.Clone(st.History[len(st.History)-limit:])
	}
}

// adoptRelease opens an entry for a release that runs without one, so that
// a status written by Flagger (or by a Warbler without history) keeps its
// run and gains a record of it.
func (d *decider) adoptRelease() {
	st := d.st()
	if !running(st.Phase) && st.Phase != PhaseWaiting || d.current() != nil {
		return
	}
	rev := st.LastAppliedSpec
	if st.Phase == PhaseWaiting || rev == "" {
		rev = d.obs.Revision
	}
	d.openRelease(rev, false)
}

// running: the phases of an analysis run, where its counters are live.
func running(p Phase) bool {
	switch p {
	case PhaseProgressing, PhaseWaitingPromotion, PhasePromoting, PhaseFinalising:
		return true
	}
	return false
}

// closeRelease ends the open release, and records how in the status too.
// Call it before the phase changes, while the run's counters are live.
func (d *decider) closeRelease(o ReleaseOutcome, r Reason, msg string) {
	st := d.st()
	st.Reason, st.Message, st.PendingGate = r, msg, ""
	cur := d.current()
	if cur == nil {
		return
	}
	d.track(cur)
	cur.End, cur.Outcome, cur.Reason, cur.Message = d.now, o, r, msg
}

// track keeps the open release's highest weight and failed checks, which
// the status counts only while the analysis runs.
func (d *decider) track(cur *Release) {
	st := d.st()
	if running(st.Phase) {
		cur.HighestWeight = max(cur.HighestWeight, st.CanaryWeight)
		cur.FailedChecks = st.FailedChecks
	}
}

// recordRequest adds a request carried out to the release it concerns: the
// open one, or the one it just ended.
func (d *decider) recordRequest(rec RequestRecord) {
	h := d.st().History
	n := len(h)
	if n == 0 || (!h[n-1].End.IsZero() && !h[n-1].End.Equal(d.now)) {
		return
	}
	r := &h[n-1]
	r.Requests = append(slices.Clone(r.Requests), rec)
	if len(r.Requests) > MaxRequestsPerRelease {
		r.Requests = r.Requests[len(r.Requests)-MaxRequestsPerRelease:]
	}
}

// requested tells whether the open release carried out a request.
func (d *decider) requested(op string) bool {
	if cur := d.current(); cur != nil {
		for _, r := range cur.Requests {
			if r.Op == op && r.Accepted {
				return true
			}
		}
	}
	return false
}

// releaseID is the id of the open release, 0 without one.
func (d *decider) releaseID() int {
	if cur := d.current(); cur != nil {
		return cur.ID
	}
	return 0
}

// gateHalt records that the gate f holds the release. Waiting and
// WaitingPromotion time the wait from the phase change; in Progressing (a
// confirm-traffic-increase gate) it is timed from when this gate began to
// hold.
func (d *decider) gateHalt(f HookResult, format string, args ...any) {
	d.halt(ReasonAwaitingApproval, SeverityInfo, format, args...)
	st := d.st()
	st.PendingGate = f.Name
	if st.Phase == PhaseProgressing && (d.in.PendingGate != f.Name || st.WaitingSince.IsZero()) {
		st.WaitingSince = d.now
	}
}

// describeRequest names a request in a sentence: "abort/<id> by alice".
func describeRequest(r Request) string {
	s := r.Op
	if r.ID != "" {
		s += "/" + r.ID
	}
	if r.By != "" {
		s += " by " + r.By
	}
	return s
}
