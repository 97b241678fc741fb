package analysis

import (
	"time"

	"github.com/warbler-dev/warbler/analysis/judge"
)

// Phase is where a canary is in its lifecycle; the values are Flagger's.
type Phase string

// The phases.
const (
	PhaseNone             Phase = ""
	PhaseInitializing     Phase = "Initializing"
	PhaseInitialized      Phase = "Initialized"
	PhaseWaiting          Phase = "Waiting"
	PhaseProgressing      Phase = "Progressing"
	PhaseWaitingPromotion Phase = "WaitingPromotion"
	PhasePromoting        Phase = "Promoting"
	PhaseFinalising       Phase = "Finalising"
	PhaseSucceeded        Phase = "Succeeded"
	PhaseFailed           Phase = "Failed"
	PhaseTerminating      Phase = "Terminating"
	PhaseTerminated       Phase = "Terminated"
)

// Strategy is how traffic reaches the canary.
type Strategy string

// The strategies, named as in Flagger's deployment_strategy metric label.
const (
	StrategyCanary    Strategy = "canary"
	StrategyBlueGreen Strategy = "blue-green"
	StrategyABTesting Strategy = "ab-testing"
)

// HookType is the kind of a webhook.
type HookType string

// The webhook types.
const (
	HookConfirmRollout         HookType = "confirm-rollout"
	HookPreRollout             HookType = "pre-rollout"
	HookRollout                HookType = "rollout"
	HookConfirmTrafficIncrease HookType = "confirm-traffic-increase"
	HookConfirmPromotion       HookType = "confirm-promotion"
	HookPostRollout            HookType = "post-rollout"
	HookRollback               HookType = "rollback"
	HookEvent                  HookType = "event"
)

// Spec is the validated, defaulted view of a Canary that decisions read.
// Build it with Validate.
type Spec struct {
	Name, Namespace string
	// TargetKind is Deployment or DaemonSet; TargetName the workload.
	TargetKind, TargetName string
	Provider               string
	Strategy               Strategy
	// Interval between analysis ticks.
	Interval time.Duration
	// Threshold of failed checks that rolls the release back.
	Threshold           int
	MaxWeight           int
	StepWeight          int
	StepWeights         []int
	StepWeightPromotion int
	Iterations          int
	Mirror              bool
	SkipAnalysis        bool
	Suspend             bool
	// Traffic tells what the provider can do with traffic.
	Traffic Traffic
	Hooks   []Hook
	Metrics []Metric
	// HistoryLimit is how many releases status.history keeps.
	HistoryLimit int
	// Baseline runs <target>-baseline, the primary's version at the
	// canary's size and with the canary's share of traffic, for relative
	// checks and the judge (analysis.baseline).
	Baseline bool
	// Judge holds the statistical judge's settings; nil when no metric is
	// judged.
	Judge *judge.Settings
	// Notes are remarks made while validating (for example the kubernetes
	// provider turning stepWeight into 10 iterations); they are logged.
	Notes []string
}

// Traffic describes a provider's traffic capabilities.
type Traffic struct {
	// Weighted: the provider splits traffic by weight. The kubernetes
	// provider cannot: it switches the apex service at promotion.
	Weighted bool
	// Mirror: the provider can copy traffic to the canary.
	Mirror bool
}

// Hook is a webhook of the spec.
type Hook struct {
	Name      string
	Type      HookType
	MuteAlert bool
	// GateTimeout, for a confirm-rollout or confirm-promotion gate, is how
	// long it may keep the canary waiting before the release is rolled
	// back; 0 waits forever.
	GateTimeout time.Duration
	// LoadTest: the hook runs a load test, so its failure is reported as
	// one (ReasonLoadTestFailed).
	LoadTest bool
}

// MetricKind tells how a metric's value is judged and worded.
type MetricKind int

// The kinds of metrics.
const (
	// MetricCustom: a MetricTemplate or inline query.
	MetricCustom MetricKind = iota
	// MetricSuccessRate: builtin request-success-rate, in percent.
	MetricSuccessRate
	// MetricDuration: builtin request-duration, in milliseconds.
	MetricDuration
)

// NoDataPolicy says what a query without data means.
type NoDataPolicy string

// The no-data policies.
const (
	// NoDataFail counts a failed check, as Flagger does.
	NoDataFail NoDataPolicy = "Fail"
	// NoDataPass treats the check as passed.
	NoDataPass NoDataPolicy = "Pass"
	// NoDataSkip neither fails nor passes: the tick holds (no failed check,
	// no advance).
	NoDataSkip NoDataPolicy = "Skip"
)

// Metric is a check of the spec.
type Metric struct {
	Name string
	Kind MetricKind
	// Min and Max bound the accepted value; nil means unbounded.
	Min, Max *float64
	NoData   NoDataPolicy
	// ErrorRetries is how many extra attempts the controller makes within
	// a tick when the provider fails.
	ErrorRetries int
	// Provider names the source in messages ("istio", "custom").
	Provider string
	// Compare, when set, makes the check relative: the thresholds bound
	// the canary's value relative to the baseline's or the primary's.
	Compare *Compare
	// Judge, when set, has the statistical judge compare the canary's
	// samples with the baseline's instead of checking a value.
	Judge *judge.Metric
	// Step is the spacing and the window of a judged metric's samples
	// (metrics[].interval).
	Step time.Duration
	// DryRun: the check runs and is recorded, but never counts as a
	// failed check nor holds the release.
	DryRun bool
}

// Status is the canary's memory: the controller stores it in the Canary's
// status and hands it back on every tick.
type Status struct {
	Phase              Phase
	FailedChecks       int
	CanaryWeight       int
	Iterations         int
	LastAppliedSpec    string
	LastPromotedSpec   string
	TrackedConfigs     map[string]string
	LastTransitionTime time.Time
	// LastAnalysisTime is when the last analysis step ran; the next is due
	// one interval later.
	LastAnalysisTime time.Time
	// WaitingSince is when the canary entered Waiting or WaitingPromotion;
	// zero in the other phases.
	WaitingSince time.Time
	// PreRolloutPassed records that the pre-rollout hooks of this run
	// passed, so that they are not run again (Flagger #1248).
	PreRolloutPassed bool
	// Reason says in one word why the release halted on the last tick, or
	// how the last release ended; Message says it in words. Both are empty
	// while all is well.
	Reason  Reason
	Message string
	// PendingGate names the confirm-* webhook that holds the release.
	PendingGate string
	// Checks is the bounded history of metric checks, newest last.
	Checks []Check
	// History holds the last releases, oldest first; the last one is open
	// (End zero) while a release runs.
	History []Release
	// Paused holds the canary where it is (a pause request).
	Paused bool
	// LastRequest is the last imperative request handled.
	LastRequest *RequestRecord
	// RunStart is when the current run started (the canary was scaled up,
	// or restarted for a newer revision); the judge samples from then on.
	RunStart time.Time
}

// Request is an imperative operation asked of a canary (kubectl canary
// promote, abort, retry, pause, resume).
type Request struct {
	Op string
	ID string
	// By names the requester, as the client reported it.
	By string
}

// The operations.
const (
	OpPromote    = "promote"
	OpPromoteNow = "promote-skip-analysis"
	OpAbort      = "abort"
	OpRetry      = "retry"
	OpPause      = "pause"
	OpResume     = "resume"
)

// RequestRecord is how a request was handled.
type RequestRecord struct {
	Op       string
	ID       string
	By       string
	Time     time.Time
	Accepted bool
	Message  string
}

// Check is one judged metric check.
type Check struct {
	Metric   string
	Time     time.Time
	Query    string
	Value    *float64
	Min, Max *float64
	Verdict  Verdict
	Failed   bool
	Message  string
	// ReleaseID is the Release the check belongs to; 0 when it was
	// recorded before releases were numbered.
	ReleaseID int
	// DryRun: the metric is a dry run; Failed is never set.
	DryRun bool
	// Relative holds both sides of a relative check; Value is then the
	// ratio or difference that Min and Max bound.
	Relative *Relative
	// Judged holds the statistics of a metric judged by the judge, or of
	// the judgement itself (metric JudgeCheck).
	Judged *Judged
}

// Verdict is the outcome of a check.
type Verdict string

// The verdicts.
const (
	VerdictPass    Verdict = "Pass"
	VerdictFail    Verdict = "Fail"
	VerdictNoData  Verdict = "NoData"
	VerdictError   Verdict = "Error"
	VerdictSkipped Verdict = "Skipped"
)

// Observations are what the controller saw in the cluster this tick.
type Observations struct {
	// Revision identifies the target's pod template now.
	Revision string
	// Images are the container images of the target's pod template, which
	// a new release records.
	Images []string
	// Configs are the checksums of the tracked ConfigMaps and Secrets now.
	Configs map[string]string
	// TargetMatchesPrimary: the target's template, rewritten as it would
	// be for the primary, equals the primary's. Used to adopt canaries
	// whose recorded revision was computed differently (by Flagger, or by
	// an older Warbler) without starting a release.
	TargetMatchesPrimary bool
	PrimaryReady         Readiness
	CanaryReady          Readiness
	// BaselineRunning: <target>-baseline exists; BaselineReady is its
	// readiness (analysis.baseline).
	BaselineRunning bool
	BaselineReady   Readiness
	// Routes is the split read back from the router.
	Routes Routes
	// Deleting: the Canary is being deleted and holds the finalizer.
	Deleting bool
	// Request is an imperative operation waiting to be handled, if any.
	Request *Request
	// Hooks holds the results of the hooks run so far this tick, by type.
	Hooks map[HookType][]HookResult
	// Metrics holds the results of the metric queries of this tick; nil
	// until they ran.
	Metrics []MetricResult
}

// Readiness of a workload.
type Readiness struct {
	Ready bool
	// Deadline: not ready and past its progress deadline; waiting longer
	// will not help.
	Deadline bool
	// Message explains what is not ready.
	Message string
}

// Routes is a traffic split. Baseline is the share of the baseline
// (analysis.baseline), taken from the primary's; the three add up to 100.
type Routes struct {
	Primary, Canary, Baseline int
	Mirrored                  bool
}

// HookResult is the outcome of one webhook call.
type HookResult struct {
	Name string
	OK   bool
	// Err is the error text of a failed call.
	Err string
}

// MetricResult is what a metric query returned.
type MetricResult struct {
	Name  string
	Query string
	Value float64
	// Outcome classifies the result.
	Outcome QueryOutcome
	// Err is the error text when Outcome is not QueryOK.
	Err string
	// Against is the same query's result for the other side of a
	// relative check (Metric.Compare): the baseline or the primary.
	Against *MetricResult
	// Samples of a judged metric (Metric.Judge) over the Need's window,
	// one per step; a side without data has none.
	Samples *Samples
}

// Samples are both sides of a judged metric.
type Samples struct {
	Canary, Baseline []float64
}

// QueryOutcome classifies a metric query.
type QueryOutcome int

// The query outcomes.
const (
	// QueryOK: a value came back.
	QueryOK QueryOutcome = iota
	// QueryNoData: the query ran and returned nothing.
	QueryNoData
	// QueryProviderError: the provider did not answer, even after the
	// metric's retries.
	QueryProviderError
	// QueryInvalid: the query or its template is wrong.
	QueryInvalid
)

// Need asks the controller for observations Decide cannot do without.
type Need struct {
	// Hooks of this type must be run, in spec order, sending Phase; the
	// controller stops at the first result that equals StopOn.
	Hooks  HookType
	Phase  Phase
	StopOn StopRule
	// Metrics: every metric must be queried; judged metrics over
	// Window.
	Metrics bool
	Window  Window
}

// Window is the time range of a judged metric's samples.
type Window struct {
	Start, End time.Time
}

// StopRule tells when to stop running a list of hooks.
type StopRule int

// The stop rules.
const (
	// RunAll runs every hook.
	RunAll StopRule = iota
	// StopOnFailure stops at the first failing hook (gates, pre-rollout,
	// rollout).
	StopOnFailure
	// StopOnSuccess stops at the first passing hook (rollback hooks).
	StopOnSuccess
)

// Outcome is how a release ended on this tick.
type Outcome string

// The outcomes, as in the analysis_status label of Flagger's metrics.
const (
	OutcomeNone      Outcome = ""
	OutcomeCompleted Outcome = "completed"
	OutcomeSkipped   Outcome = "skipped"
	OutcomeFailed    Outcome = "failed"
)

// Severity of an event or alert.
type Severity string

// The severities.
const (
	SeverityInfo  Severity = "info"
	SeverityWarn  Severity = "warn"
	SeverityError Severity = "error"
)

// Event is something to tell users: a Kubernetes event (reason Synced) and
// a JSON log line with the same message.
type Event struct {
	Severity Severity
	Message  string
	// LogOnly events are log lines without a Kubernetes event.
	LogOnly bool
}

// Alert is a notification for the canary's alert providers.
type Alert struct {
	Severity Severity
	Message  string
	// Details asks for the release details (target, traffic routing,
	// failed checks threshold, progress deadline) to be attached.
	Details bool
}

// Decision is the result of a tick. The controller acts on its fields in
// the order they are declared, stopping at the first error: scaling and
// routing first, the promotion copy, scaling the canary down only after
// traffic left it, then the status patch, then what only informs (hooks
// after the fact, events, alerts).
type Decision struct {
	// Observe, when set, means Decide needs more observations before it
	// can decide; every other field is empty.
	Observe *Need

	// ScaleTargetDown scales the target to zero after initialisation.
	ScaleTargetDown bool
	// ScaleCanaryUp scales the target up from zero for a new revision.
	ScaleCanaryUp bool
	// Routes, when set, is the split to apply.
	Routes *Routes
	// Promote copies the target's template (and configs, autoscaler) to
	// the primary.
	Promote bool
	// StartBaseline creates <target>-baseline (and its service) from the
	// primary's template at the canary's size, unless it exists.
	StartBaseline bool
	// ScaleCanaryDown scales the target to zero after a promotion or a
	// rollback; traffic has left it by then.
	ScaleCanaryDown bool
	// StopBaseline scales the baseline to zero and removes it with its
	// service; traffic has left it by then.
	StopBaseline bool
	// Finalize reverts what Warbler changed, for a Canary being deleted
	// with revertOnDeletion; the finalizer is removed once it succeeds.
	Finalize bool

	// Status is the next status; the controller writes it once.
	Status Status

	// PostHooks run after the status is written, with Status.Phase as the
	// payload phase; their failures are only logged.
	PostHooks bool
	Events    []Event
	Alerts    []Alert
	Outcome   Outcome

	// Requeue is when the canary wants its next tick.
	Requeue time.Duration
}
