package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CanaryPhase is where a Canary is in its release lifecycle.
// +kubebuilder:validation:Enum="";Initializing;Initialized;Waiting;Progressing;WaitingPromotion;Promoting;Finalising;Succeeded;Failed;Terminating;Terminated
type CanaryPhase string

// The phases of a Canary, with Flagger's names.
const (
	CanaryPhaseInitializing     CanaryPhase = "Initializing"
	CanaryPhaseInitialized      CanaryPhase = "Initialized"
	CanaryPhaseWaiting          CanaryPhase = "Waiting"
	CanaryPhaseProgressing      CanaryPhase = "Progressing"
	CanaryPhaseWaitingPromotion CanaryPhase = "WaitingPromotion"
	CanaryPhasePromoting        CanaryPhase = "Promoting"
	CanaryPhaseFinalising       CanaryPhase = "Finalising"
	CanaryPhaseSucceeded        CanaryPhase = "Succeeded"
	CanaryPhaseFailed           CanaryPhase = "Failed"
	CanaryPhaseTerminating      CanaryPhase = "Terminating"
	CanaryPhaseTerminated       CanaryPhase = "Terminated"
)

// PromotedType is the type of the single condition a Canary carries; its
// reason is the phase.
const PromotedType = "Promoted"

// CanaryStatus is the observed state of a Canary. It is the controller's only
// memory: a restarted controller resumes from it.
type CanaryStatus struct {
	// Phase of the release.
	// +optional
	Phase CanaryPhase `json:"phase,omitempty"`

	// FailedChecks counted in the current run.
	// +optional
	FailedChecks int `json:"failedChecks"`

	// CanaryWeight is the traffic weight routed to the canary.
	// +optional
	CanaryWeight int `json:"canaryWeight"`

	// Iterations counted in the current blue/green or A/B run.
	// +optional
	Iterations int `json:"iterations"`

	// TrackedConfigs maps "configmap/<name>" and "secret/<name>" to a
	// checksum of their data.
	// +optional
	TrackedConfigs *map[string]string `json:"trackedConfigs,omitempty"`

	// LastAppliedSpec identifies the target revision under analysis.
	// +optional
	LastAppliedSpec string `json:"lastAppliedSpec,omitempty"`

	// LastPromotedSpec identifies the revision the primary runs.
	// +optional
	LastPromotedSpec string `json:"lastPromotedSpec,omitempty"`

	// LastTrackedRevision is kept for compatibility with Flagger's schema.
	// +optional
	LastTrackedRevision string `json:"lastTrackedRevision,omitempty"`

	// LastTransitionTime is when the status last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`

	// SessionAffinityCookie of the current run.
	// +optional
	SessionAffinityCookie string `json:"sessionAffinityCookie,omitempty"`

	// PrimarySessionAffinityCookie of the current run.
	// +optional
	PrimarySessionAffinityCookie string `json:"primarySessionAffinityCookie,omitempty"`

	// PreviousSessionAffinityCookie of the previous run, expired once the
	// canary weight returns to 0.
	// +optional
	PreviousSessionAffinityCookie string `json:"previousSessionAffinityCookie,omitempty"`

	// Conditions holds the single Promoted condition.
	// +optional
	Conditions []CanaryCondition `json:"conditions,omitempty"`

	// ObservedGeneration is the generation of the spec last acted on.
	// Warbler only.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// LastAnalysisTime is when the analysis last ran a tick; the next tick
	// is due one interval later. Microsecond precision: with second
	// precision a tick could come up to a second early. Warbler only.
	// +optional
	LastAnalysisTime *metav1.MicroTime `json:"lastAnalysisTime,omitempty"`

	// WaitingSince is when the canary began to wait for its gates (phase
	// Waiting or WaitingPromotion); webhooks' gateTimeout counts from it.
	// Microsecond precision, as lastAnalysisTime. Warbler only.
	// +optional
	WaitingSince *metav1.MicroTime `json:"waitingSince,omitempty"`

	// PreRolloutPassed records that the pre-rollout hooks of the current run
	// passed, so they are not run again (Flagger #1248). Warbler only.
	// +optional
	PreRolloutPassed bool `json:"preRolloutPassed,omitempty"`

	// Reason says in one CamelCase word why the release halted on its last
	// analysis step, or how the last release ended (see CanaryReason), as
	// a Pod's status.reason does; empty while all is well. Warbler only.
	// +optional
	Reason CanaryReason `json:"reason,omitempty"`

	// Message says the reason in words, naming the check, webhook, object
	// or field at fault. Warbler only.
	// +optional
	Message string `json:"message,omitempty"`

	// PendingGate names the confirm-rollout, confirm-traffic-increase or
	// confirm-promotion webhook that holds the release, while one does
	// (reason AwaitingApproval). Warbler only.
	// +optional
	PendingGate string `json:"pendingGate,omitempty"`

	// ObservedTargetGeneration is the metadata.generation of the target
	// workload when the controller last looked at it: a target whose
	// generation is higher holds a change the controller has not seen
	// yet. kubectl canary status waits for it. Warbler only.
	// +optional
	ObservedTargetGeneration int64 `json:"observedTargetGeneration,omitempty"`

	// Paused is set by a pause request and cleared by resume; a paused
	// canary holds where it is. Warbler only.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// LastRequest is the last imperative operation handled (see
	// RequestAnnotation). Warbler only.
	// +optional
	LastRequest *RequestRecord `json:"lastRequest,omitempty"`

	// Checks is a bounded history of the metric checks of the current and
	// previous runs, newest last. Warbler only.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Checks []CheckResult `json:"checks,omitempty"`

	// RunStartTime is when the current analysis run started: the canary
	// was scaled up, or the run restarted for a newer revision. The judge
	// takes its samples from then on. Warbler only.
	// +optional
	RunStartTime *metav1.Time `json:"runStartTime,omitempty"`
	// History holds the last releases, oldest first; the controller's
	// -release-history-limit (default 10) bounds it. The last entry has no
	// endTime while its release runs. Warbler only.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	History []CanaryRelease `json:"history,omitempty"`
}

// CanaryReason is a one-word cause of a halt or of the end of a release.
// The values are open-ended: consumers should show an unknown reason as it
// is.
type CanaryReason string

// Why a release halts; a halt that counts as a failed check and reaches the
// threshold also ends the release with its reason.
const (
	// ReasonWebhookFailed: a pre-rollout or rollout webhook failed.
	ReasonWebhookFailed CanaryReason = "WebhookFailed"
	// ReasonLoadTestFailed: a webhook that runs a load test (a loadtester
	// "load" task, or a "cmd" running hey, wrk, ghz, k6, vegeta or fortio)
	// failed.
	ReasonLoadTestFailed CanaryReason = "LoadTestFailed"
	// ReasonMetricCheckFailed: a metric was outside its threshold range.
	ReasonMetricCheckFailed CanaryReason = "MetricCheckFailed"
	// ReasonMetricNoData: a metric query returned no value.
	ReasonMetricNoData CanaryReason = "MetricNoData"
	// ReasonMetricProviderError: the metric provider did not answer.
	ReasonMetricProviderError CanaryReason = "MetricProviderError"
	// ReasonMetricQueryInvalid: a metric's query or template is wrong.
	ReasonMetricQueryInvalid CanaryReason = "MetricQueryInvalid"
	// ReasonThresholdReached: the status counted as many failed checks as
	// the threshold allows before this controller saw it.
	ReasonThresholdReached CanaryReason = "ThresholdReached"
	// ReasonAwaitingApproval: the gate in status.pendingGate holds the
	// release.
	ReasonAwaitingApproval CanaryReason = "AwaitingApproval"
	// ReasonNotReady: the canary or the primary is not ready yet.
	ReasonNotReady CanaryReason = "NotReady"
)

// How a release ends otherwise.
const (
	ReasonGateTimeout              CanaryReason = "GateTimeout"
	ReasonProgressDeadlineExceeded CanaryReason = "ProgressDeadlineExceeded"
	ReasonPromotionFailed          CanaryReason = "PromotionFailed"
	// ReasonAborted: kubectl canary abort.
	ReasonAborted CanaryReason = "Aborted"
	// ReasonRejected: a rollback webhook signalled a rollback (kubectl
	// canary reject).
	ReasonRejected CanaryReason = "Rejected"
	// ReasonSuperseded: a newer revision replaced the release.
	ReasonSuperseded      CanaryReason = "Superseded"
	ReasonPromoted        CanaryReason = "Promoted"
	ReasonAnalysisSkipped CanaryReason = "AnalysisSkipped"
)

// Why the controller cannot run the analysis at all.
const (
	ReasonInvalidSpec    CanaryReason = "InvalidSpec"
	ReasonTargetNotFound CanaryReason = "TargetNotFound"
	ReasonReconcileError CanaryReason = "ReconcileError"
)

// ReleaseOutcome is how a release ended.
// +kubebuilder:validation:Enum=Succeeded;Failed;Superseded
type ReleaseOutcome string

// The outcomes of a release.
const (
	ReleaseSucceeded  ReleaseOutcome = "Succeeded"
	ReleaseFailed     ReleaseOutcome = "Failed"
	ReleaseSuperseded ReleaseOutcome = "Superseded"
)

// CanaryRelease is one release of a Canary: one attempt to bring one
// revision of the target into production, from its detection to its end.
type CanaryRelease struct {
	// ID numbers the releases of this Canary from 1;
	// status.checks[].releaseID refers to it.
	// +required
	ID int `json:"id"`
	// Revision identifies the target's pod template (and tracked configs)
	// of the release, as status.lastAppliedSpec does.
	// +required
	Revision string `json:"revision"`
	// Images of the target's containers.
	// +optional
	Images []string `json:"images,omitempty"`
	// StartTime is when the revision was detected.
	// +required
	StartTime metav1.Time `json:"startTime"`
	// EndTime is when the release ended; unset while it runs.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// Outcome of the release; unset while it runs.
	// +optional
	Outcome ReleaseOutcome `json:"outcome,omitempty"`
	// Reason and Message say why it ended so.
	// +optional
	Reason CanaryReason `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// HighestWeight is the highest canary weight the release reached.
	// +optional
	HighestWeight int `json:"highestWeight"`
	// FailedChecks counted during the release.
	// +optional
	FailedChecks int `json:"failedChecks"`
	// Requests lists the imperative requests carried out during the
	// release (promote, abort, retry, pause, resume), oldest first, with
	// who asked.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Requests []RequestRecord `json:"requests,omitempty"`
}

// CanaryCondition is the state of a Canary at one point in time.
type CanaryCondition struct {
	// +required
	Type string `json:"type"`
	// +required
	Status metav1.ConditionStatus `json:"status"`
	// +optional
	LastUpdateTime metav1.Time `json:"lastUpdateTime,omitempty"`
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// +required
	Reason string `json:"reason"`
	// +optional
	Message string `json:"message,omitempty"`
}

// CheckVerdict is the outcome of one metric check.
// +kubebuilder:validation:Enum=Pass;Fail;NoData;Error;Skipped
type CheckVerdict string

// The outcomes of a metric check.
const (
	// VerdictPass: the value is within the threshold range.
	VerdictPass CheckVerdict = "Pass"
	// VerdictFail: the value is outside the threshold range.
	VerdictFail CheckVerdict = "Fail"
	// VerdictNoData: the query returned no value; the metric's no-data
	// policy decided whether it counted as a failure.
	VerdictNoData CheckVerdict = "NoData"
	// VerdictError: the provider failed even after its retries.
	VerdictError CheckVerdict = "Error"
	// VerdictSkipped: the check did not run on this tick.
	VerdictSkipped CheckVerdict = "Skipped"
)

// CheckResult records one evaluated metric check: what was asked, what came
// back, and what it was judged against.
type CheckResult struct {
	// Metric is the name of the check in spec.analysis.metrics.
	// +required
	Metric string `json:"metric"`
	// Time the check ran.
	// +required
	Time metav1.Time `json:"time"`
	// Query as rendered and sent to the provider (at most 1 KiB kept).
	// +optional
	Query string `json:"query,omitempty"`
	// Value returned by the provider, in the unit of the threshold.
	// +optional
	Value *float64 `json:"value,omitempty"`
	// Min and Max of the accepted range.
	// +optional
	Min *float64 `json:"min,omitempty"`
	// +optional
	Max *float64 `json:"max,omitempty"`
	// Verdict of the check.
	// +required
	Verdict CheckVerdict `json:"verdict"`
	// Failed tells whether the check counted as a failed check.
	// +optional
	Failed bool `json:"failed,omitempty"`
	// Message explains the verdict in words.
	// +optional
	Message string `json:"message,omitempty"`
	// ReleaseID is the id of the release (status.history[].id) the check
	// belongs to; 0 for checks recorded before releases were numbered.
	// +optional
	ReleaseID int `json:"releaseID,omitempty"`
	// DryRun: the metric is a dry run; its failures are recorded but never
	// counted.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// Relative holds both sides of a relative check (metrics[].compare);
	// value is then the ratio or difference that min and max bound.
	// +optional
	Relative *RelativeCheckResult `json:"relative,omitempty"`
	// Judge holds the statistics of a judged metric (value is then its
	// effect size), or the score of the judgement (metric "judge", value
	// the score).
	// +optional
	Judge *JudgeCheckResult `json:"judge,omitempty"`
}

// RelativeCheckResult records both sides of a relative check.
type RelativeCheckResult struct {
	// Against is the side compared with: Baseline or Primary.
	// +required
	Against ComparisonSide `json:"against"`
	// As is Ratio or Difference.
	// +required
	As ComparisonRelation `json:"as"`
	// Canary and Reference are the values of the canary and of the other
	// side.
	// +optional
	Canary *float64 `json:"canary,omitempty"`
	// +optional
	Reference *float64 `json:"reference,omitempty"`
	// Query as rendered for the other side (at most 1 KiB kept).
	// +optional
	Query string `json:"query,omitempty"`
}

// JudgeClass is the judge's classification of a metric.
// +kubebuilder:validation:Enum=Pass;High;Low;NoData
type JudgeClass string

// JudgeVerdict is the judge's verdict on a score.
// +kubebuilder:validation:Enum=Pass;Marginal;Fail
type JudgeVerdict string

// JudgeCheckResult records the statistics of a judged metric, or the
// score of a judgement.
type JudgeCheckResult struct {
	// Class of the metric: Pass, High (the canary is significantly
	// higher than the baseline), Low, or NoData.
	// +optional
	Class JudgeClass `json:"class,omitempty"`
	// PValue of the two-sided Mann-Whitney U test.
	// +optional
	PValue *float64 `json:"pValue,omitempty"`
	// EffectSize is the canary's mean over the baseline's; absent when the
	// baseline's mean is 0 and the canary's is not.
	// +optional
	EffectSize *float64 `json:"effectSize,omitempty"`
	// Shift is the Hodges-Lehmann estimate of canary - baseline, within
	// [lower, upper] at the judge's confidence level (98%).
	// +optional
	Shift *float64 `json:"shift,omitempty"`
	// +optional
	Lower *float64 `json:"lower,omitempty"`
	// +optional
	Upper *float64 `json:"upper,omitempty"`
	// CanaryMedian and BaselineMedian are the medians of the samples.
	// +optional
	CanaryMedian *float64 `json:"canaryMedian,omitempty"`
	// +optional
	BaselineMedian *float64 `json:"baselineMedian,omitempty"`
	// CanarySamples and BaselineSamples are the sample sizes compared.
	// +optional
	CanarySamples int `json:"canarySamples,omitempty"`
	// +optional
	BaselineSamples int `json:"baselineSamples,omitempty"`
	// Score of the judgement, out of 100.
	// +optional
	Score *float64 `json:"score,omitempty"`
	// Verdict of the judgement: Pass, Marginal or Fail by the scores of
	// analysis.judge.
	// +optional
	Verdict JudgeVerdict `json:"verdict,omitempty"`
}
