package analysis

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Canary is the part of a Canary manifest that decisions depend on, as the
// user wrote it. The controller copies it from the API object; Validate
// turns it into a Spec.
type Canary struct {
	Name, Namespace        string
	TargetKind, TargetName string
	// Provider is spec.provider, or the controller's default when empty.
	Provider            string
	Interval            string
	Threshold           int
	MaxWeight           int
	StepWeight          int
	StepWeights         []int
	StepWeightPromotion int
	Iterations          int
	Mirror              bool
	// Match: analysis.match is set (A/B testing).
	Match        bool
	SkipAnalysis bool
	Suspend      bool
	Webhooks     []Webhook
	Metrics      []MetricSpec
	// Baseline is analysis.baseline.enabled.
	Baseline bool
	// Judge is analysis.judge.
	Judge *JudgeSpec
}

// JudgeSpec is spec.analysis.judge: the judgement's score thresholds, out
// of 100; nil keeps the defaults (95 and 75).
type JudgeSpec struct {
	PassScore, MarginalScore *int
}

// CompareSpec is a spec.analysis.metrics[].compare entry.
type CompareSpec struct {
	Against, As string
}

// JudgeMetricSpec is a spec.analysis.metrics[].judge entry.
type JudgeMetricSpec struct {
	Direction                        string
	Weight                           *int
	Critical                         bool
	AllowedIncrease, AllowedDecrease *float64
}

// Webhook is a spec.analysis.webhooks entry.
type Webhook struct {
	Name        string
	Type        string
	MuteAlert   bool
	GateTimeout string
	// LoadTest: the webhook asks the loadtester for a load test (see
	// IsLoadTest).
	LoadTest bool
}

// MetricSpec is a spec.analysis.metrics entry.
type MetricSpec struct {
	Name string
	// Threshold is the deprecated single bound.
	Threshold float64
	Min, Max  *float64
	// Query and TemplateRef say where a custom metric comes from.
	HasQuery, HasTemplateRef bool
	NoDataPolicy             string
	ErrorRetries             *int
	// Provider names the source in messages: the mesh provider for builtin
	// metrics, the template's provider type otherwise.
	Provider string
	// Interval is metrics[].interval ("1m" when empty).
	Interval string
	Compare  *CompareSpec
	Judge    *JudgeMetricSpec
	DryRun   bool
}

// Limits are controller-wide settings that bound a spec.
type Limits struct {
	// MinInterval is the shortest analysis interval; shorter ones are
	// raised to it. Flagger uses 10s.
	MinInterval time.Duration
	// HistoryLimit is how many releases status.history keeps;
	// DefaultHistoryLimit when 0.
	HistoryLimit int
}

// DefaultLimits are Flagger's, and the default history.
var DefaultLimits = Limits{MinInterval: 10 * time.Second, HistoryLimit: DefaultHistoryLimit}

// SpecError is a spec that cannot be acted on. Retrying does not help; the
// user must change the Canary.
type SpecError struct {
	Field string
	Msg   string
}

func (e *SpecError) Error() string { return e.Field + ": " + e.Msg }

// Builtin metric names, judged by the mesh's own queries.
const (
	BuiltinSuccessRate = "request-success-rate"
	BuiltinDuration    = "request-duration"
)

// Validate checks a canary and applies Flagger's defaults: interval 60s when
// empty, raised to Limits.MinInterval; threshold at least 1; maxWeight 100
// or the last of stepWeights. The kubernetes provider cannot split traffic,
// so as in Flagger its canaries run as blue/green with 10 iterations when
// they ask for weights, and without A/B matches.
func Validate(c Canary, lim Limits) (Spec, error) {
	s := Spec{
		Name: c.Name, Namespace: c.Namespace, TargetKind: c.TargetKind, TargetName: c.TargetName,
		Provider: c.Provider, Threshold: max(c.Threshold, 1), StepWeight: c.StepWeight,
		StepWeights: c.StepWeights, StepWeightPromotion: c.StepWeightPromotion, Iterations: c.Iterations,
		Mirror: c.Mirror, SkipAnalysis: c.SkipAnalysis, Suspend: c.Suspend, Traffic: TrafficOf(c.Provider),
		HistoryLimit: lim.HistoryLimit,
	}
	if s.HistoryLimit <= 0 {
		s.HistoryLimit = DefaultHistoryLimit
	}
	var err error
	if s.Interval, err = interval(c.Interval, lim); err != nil {
		return Spec{}, err
	}
	if err := checkLadder(c.StepWeights); err != nil {
		return Spec{}, err
	}
	s.MaxWeight = maxWeight(c)
	s.Strategy, s.Notes = strategy(c, &s)
	for i, h := range c.Webhooks {
		t := HookType(h.Type)
		if t == "" {
			t = HookRollout
		}
		if !knownHook(t) {
			return Spec{}, &SpecError{fmt.Sprintf("spec.analysis.webhooks[%d].type", i), fmt.Sprintf("unknown type %q; valid: %s", h.Type, strings.Join(hookTypes(), ", "))}
		}
		hook := Hook{Name: h.Name, Type: t, MuteAlert: h.MuteAlert, LoadTest: h.LoadTest}
		if h.GateTimeout != "" {
			field := fmt.Sprintf("spec.analysis.webhooks[%d].gateTimeout", i)
			if t != HookConfirmRollout && t != HookConfirmPromotion {
				return Spec{}, &SpecError{field, fmt.Sprintf("only confirm-rollout and confirm-promotion gates time out, not %s", t)}
			}
			d, err := time.ParseDuration(h.GateTimeout)
			if err != nil || d <= 0 {
				return Spec{}, &SpecError{field, fmt.Sprintf("%q is not a positive duration such as 30m or 24h", h.GateTimeout)}
			}
			hook.GateTimeout = d
		}
		s.Hooks = append(s.Hooks, hook)
	}
	for i, m := range c.Metrics {
		metric, err := validateMetric(i, m)
		if err != nil {
			return Spec{}, err
		}
		s.Metrics = append(s.Metrics, metric)
	}
	if err := validateBaseline(c, &s); err != nil {
		return Spec{}, err
	}
	return s, nil
}

func interval(v string, lim Limits) (time.Duration, error) {
	if v == "" {
		return max(time.Minute, lim.MinInterval), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, &SpecError{"spec.analysis.interval", fmt.Sprintf("%q is not a duration such as 30s or 1m", v)}
	}
	return max(d, lim.MinInterval), nil
}

func checkLadder(steps []int) error {
	for i := 1; i < len(steps); i++ {
		if steps[i] <= steps[i-1] {
			return &SpecError{"spec.analysis.stepWeights", fmt.Sprintf("must increase step by step, but %d follows %d", steps[i], steps[i-1])}
		}
	}
	return nil
}

// maxWeight is min(100, the last step) with a ladder, else maxWeight or 100.
func maxWeight(c Canary) int {
	if n := len(c.StepWeights); n > 0 {
		return min(100, c.StepWeights[n-1])
	}
	if c.MaxWeight > 0 {
		return min(100, c.MaxWeight)
	}
	return 100
}

func strategy(c Canary, s *Spec) (Strategy, []string) {
	var notes []string
	if !s.Traffic.Weighted {
		if c.Match {
			notes = append(notes, "A/B testing is not supported when using the kubernetes provider")
		}
		if c.Iterations < 1 {
			notes = append(notes, "Progressive traffic is not supported when using the kubernetes provider",
				"Setting canaryAnalysis.iterations: 10")
			s.Iterations = 10
		}
		return StrategyBlueGreen, notes
	}
	switch {
	case c.Iterations > 0 && c.Match:
		return StrategyABTesting, nil
	case c.Iterations > 0:
		return StrategyBlueGreen, nil
	}
	return StrategyCanary, nil
}

func validateMetric(i int, m MetricSpec) (Metric, error) {
	field := fmt.Sprintf("spec.analysis.metrics[%d]", i)
	out := Metric{Name: m.Name, Min: m.Min, Max: m.Max, NoData: NoDataFail, ErrorRetries: 2, Provider: m.Provider}
	// The name decides, even when a templateRef is also set, as in Flagger.
	switch m.Name {
	case BuiltinSuccessRate:
		out.Kind = MetricSuccessRate
	case BuiltinDuration:
		out.Kind = MetricDuration
	default:
		if !m.HasQuery && !m.HasTemplateRef {
			return Metric{}, &SpecError{field, fmt.Sprintf("metric %q has no templateRef and no query; set templateRef, or name it %s or %s", m.Name, BuiltinSuccessRate, BuiltinDuration)}
		}
	}
	// The deprecated threshold is the minimum of a success rate and the
	// maximum of anything else.
	if m.Min == nil && m.Max == nil && m.Threshold != 0 {
		t := m.Threshold
		if out.Kind == MetricSuccessRate {
			out.Min = &t
		} else {
			out.Max = &t
		}
	}
	switch p := NoDataPolicy(m.NoDataPolicy); p {
	case "":
	case NoDataFail, NoDataPass, NoDataSkip:
		out.NoData = p
	default:
		return Metric{}, &SpecError{field + ".noDataPolicy", fmt.Sprintf("unknown policy %q; valid: Fail, Pass, Skip", m.NoDataPolicy)}
	}
	if m.ErrorRetries != nil {
		out.ErrorRetries = *m.ErrorRetries
	}
	out.DryRun = m.DryRun
	if err := validateRelative(field, m, &out); err != nil {
		return Metric{}, err
	}
	return out, nil
}

func hookTypes() []string {
	return []string{string(HookConfirmRollout), string(HookPreRollout), string(HookRollout), string(HookConfirmTrafficIncrease),
		string(HookConfirmPromotion), string(HookPostRollout), string(HookRollback), string(HookEvent)}
}

func knownHook(t HookType) bool {
	for _, k := range hookTypes() {
		if string(t) == k {
			return true
		}
	}
	return false
}

// TrafficOf tells what a provider can do with traffic. The kubernetes
// provider switches the apex service at promotion and cannot split;
// kubernetes:replicas splits by replica counts; meshes and gateways split by
// weight, and Istio and Gateway API can also mirror.
func TrafficOf(provider string) Traffic {
	switch {
	case provider == "kubernetes":
		return Traffic{}
	case provider == "istio", strings.HasPrefix(provider, "gatewayapi"):
		return Traffic{Weighted: true, Mirror: true}
	}
	return Traffic{Weighted: true}
}

// loadGenerators are the commands that make a loadtester "cmd" task a load
// test.
var loadGenerators = []string{"hey", "wrk", "ghz", "k6", "vegeta", "fortio"}

// IsLoadTest tells from a webhook's metadata whether it asks the loadtester
// for a load test: a typed "load" task, or a command that runs a load
// generator (Flagger's "hey -z 1m ...").
func IsLoadTest(metadata map[string]string) bool {
	if metadata["type"] == "load" {
		return true
	}
	if t := metadata["type"]; t != "" && t != "cmd" {
		return false
	}
	f := strings.Fields(metadata["cmd"])
	return len(f) > 0 && slices.Contains(loadGenerators, f[0])
}
