package alerts

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Message is one alert about one canary, before a provider shapes it.
type Message struct {
	// Canary and Namespace name the Canary.
	Canary, Namespace string
	// Phase of the Canary after the tick that raised the alert.
	Phase string
	// Severity is info, warn or error.
	Severity analysis.Severity
	// Text is the alert, in Flagger's words.
	Text string
	// Target is "<Kind>/<target>.<namespace>".
	Target string
	// Cluster is the -cluster-name of the controller, if any.
	Cluster string
	// Weight is the canary weight.
	Weight int
	// FailedChecks counted in the run, and the Threshold that rolls back.
	FailedChecks, Threshold int
	// LastFailed is the newest failing check of the run, when checks
	// failed.
	LastFailed *flaggerv1.CheckResult
	// Fields are the details shown by chat providers, in order.
	Fields []Field
	// Time the alert was raised.
	Time time.Time
}

// Field is a titled detail of a chat message.
type Field struct {
	Title, Value string
	// Short fields may share a line (Slack).
	Short bool
}

// Key is "<canary>.<namespace>".
func (m Message) Key() string { return m.Canary + "." + m.Namespace }

// newMessage describes alert a about c. The status holds what the tick
// just wrote, including the checks that explain a failure.
func newMessage(c *flaggerv1.Canary, a analysis.Alert, spec analysis.Spec, cluster string, now time.Time) Message {
	m := Message{
		Canary: c.Name, Namespace: c.Namespace, Phase: string(c.Status.Phase), Severity: severity(a.Severity),
		Text: a.Message, Target: c.Spec.TargetRef.Kind + "/" + c.Spec.TargetRef.Name + "." + c.Namespace,
		Cluster: cluster, Weight: c.Status.CanaryWeight, FailedChecks: c.Status.FailedChecks, Threshold: spec.Threshold,
		Time: now,
	}
	if m.FailedChecks > 0 {
		m.LastFailed = lastFailed(c.Status.Checks)
	}
	m.Fields = fields(c, m, a.Details, spec)
	return m
}

// severity maps an empty severity to info.
func severity(s analysis.Severity) analysis.Severity {
	if s == "" {
		return analysis.SeverityInfo
	}
	return s
}

// lastFailed is the newest check that counted as failed.
func lastFailed(checks []flaggerv1.CheckResult) *flaggerv1.CheckResult {
	for i := len(checks) - 1; i >= 0; i-- {
		if checks[i].Failed {
			ch := checks[i]
			return &ch
		}
	}
	return nil
}

// fields are the chat details: with Details, Flagger's release fields
// (target, threshold, deadline, routing); always the cluster and, when
// checks failed, how many and the last one's value.
func fields(c *flaggerv1.Canary, m Message, details bool, spec analysis.Spec) []Field {
	var out []Field
	if m.Cluster != "" {
		out = append(out, Field{Title: "Cluster", Value: m.Cluster, Short: true})
	}
	if details {
		deadline := int32(600)
		if p := c.Spec.ProgressDeadlineSeconds; p != nil {
			deadline = *p
		}
		out = append(out,
			Field{Title: "Target", Value: m.Target, Short: true},
			Field{Title: "Failed checks threshold", Value: strconv.Itoa(spec.Threshold), Short: true},
			Field{Title: "Progress deadline", Value: fmt.Sprintf("%ds", deadline), Short: true},
			Field{Title: "Traffic routing", Value: Routing(spec), Short: false})
	}
	if m.FailedChecks > 0 {
		out = append(out, Field{Title: "Failed checks", Value: fmt.Sprintf("%d/%d", m.FailedChecks, m.Threshold), Short: true})
	}
	if m.LastFailed != nil {
		out = append(out, Field{Title: "Last failing check", Value: CheckSummary(*m.LastFailed), Short: false})
	}
	return out
}

// Routing describes the traffic schedule as Flagger's "Traffic routing"
// field does; for stepWeights it shows the real maximum where Flagger
// prints 0.
func Routing(spec analysis.Spec) string {
	switch {
	case spec.Strategy == analysis.StrategyABTesting:
		return "A/B Testing"
	case spec.Strategy == analysis.StrategyBlueGreen:
		return "Blue/Green"
	case len(spec.StepWeights) > 0:
		steps := make([]string, len(spec.StepWeights))
		for i, w := range spec.StepWeights {
			steps[i] = strconv.Itoa(w)
		}
		return fmt.Sprintf("Weight steps: %s max: %d", strings.Join(steps, ","), spec.MaxWeight)
	}
	return fmt.Sprintf("Weight step: %d max: %d", spec.StepWeight, spec.MaxWeight)
}

// CheckSummary is one check in a few words: "request-success-rate 69.17
// (min 99)", or its verdict when no value came back.
func CheckSummary(ch flaggerv1.CheckResult) string {
	if ch.Value == nil {
		s := ch.Metric + " " + strings.ToLower(string(ch.Verdict))
		if ch.Message != "" {
			s += ": " + ch.Message
		}
		return s
	}
	s := ch.Metric + " " + FormatValue(*ch.Value)
	if r := Range(ch.Min, ch.Max); r != "" {
		s += " (" + r + ")"
	}
	return s
}

// Range words a threshold range: "min 99", "max 500", "min 1, max 5", or ""
// when unbounded.
func Range(lo, hi *float64) string {
	var parts []string
	if lo != nil {
		parts = append(parts, "min "+FormatValue(*lo))
	}
	if hi != nil {
		parts = append(parts, "max "+FormatValue(*hi))
	}
	return strings.Join(parts, ", ")
}

// FormatValue prints a metric value rounded to two decimals, without
// trailing zeros.
func FormatValue(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
