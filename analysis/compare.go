package analysis

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Side is the workload a relative check compares the canary with.
type Side string

// The sides.
const (
	// SideBaseline: <target>-baseline, the primary's version started with
	// the canary (analysis.baseline).
	SideBaseline Side = "Baseline"
	// SidePrimary: <target>-primary, which serves the rest of the traffic.
	SidePrimary Side = "Primary"
)

// Relation is how a relative check combines the canary's value with the
// other side's.
type Relation string

// The relations.
const (
	// RelationRatio: canary / other (latency: max 1.2 allows 20% more).
	RelationRatio Relation = "Ratio"
	// RelationDifference: canary - other (error rate: max 1 allows one
	// point more).
	RelationDifference Relation = "Difference"
)

// Compare makes a check relative: Min and Max bound the canary's value
// relative to the other side's.
type Compare struct {
	Against Side
	As      Relation
}

// Relative records both sides of a relative check.
type Relative struct {
	Against Side
	As      Relation
	// Canary and Reference are the canary's and the other side's values;
	// nil when the query returned nothing.
	Canary, Reference *float64
	// Query is the query as rendered for the other side.
	Query string
}

// side is the other side in messages: "baseline" or "primary".
func (c Compare) side() string { return strings.ToLower(string(c.Against)) }

// relate combines the canary's value with the other side's. A ratio over a
// zero reference is 1 when the canary is zero too, and infinite otherwise:
// errors that appear where the baseline has none fail a maximum.
func relate(as Relation, canary, other float64) float64 {
	if as == RelationDifference {
		return canary - other
	}
	switch {
	case other != 0:
		return canary / other
	case canary == 0:
		return 1
	case canary > 0:
		return math.Inf(1)
	}
	return math.Inf(-1)
}

// judgeRelative judges a relative check: the canary's result r and the
// other side's, r.Against. Either side without data follows the metric's
// no-data policy; either side's error is an error.
func judgeRelative(m Metric, r MetricResult, canary, target string, now time.Time) Check {
	c := Check{Metric: m.Name, Time: now, Query: r.Query, Min: m.Min, Max: m.Max,
		Relative: &Relative{Against: m.Compare.Against, As: m.Compare.As}}
	other := MetricResult{Outcome: QueryProviderError, Err: "the " + m.Compare.side() + " was not queried"}
	if r.Against != nil {
		other = *r.Against
		c.Relative.Query = other.Query
	}
	if r.Outcome == QueryOK {
		c.Relative.Canary = ptr(r.Value)
	}
	if other.Outcome == QueryOK {
		c.Relative.Reference = ptr(other.Value)
	}
	switch {
	case r.Outcome != QueryOK && r.Outcome != QueryNoData:
		c.Verdict, c.Failed = VerdictError, true
		c.Message = fmt.Sprintf("Metric query failed for %s: %s", m.Name, r.Err)
	case other.Outcome != QueryOK && other.Outcome != QueryNoData:
		c.Verdict, c.Failed = VerdictError, true
		c.Message = fmt.Sprintf("Metric query failed for %s of the %s: %s", m.Name, m.Compare.side(), other.Err)
	case r.Outcome == QueryNoData:
		c.Verdict, c.Failed = VerdictNoData, m.NoData == NoDataFail
		c.Message = noDataMessage(m, r, target)
	case other.Outcome == QueryNoData:
		c.Verdict, c.Failed = VerdictNoData, m.NoData == NoDataFail
		reason := other.Err
		if reason == "" {
			reason = "no values found"
		}
		c.Message = fmt.Sprintf("Halt advancement no values found for the %s of metric %s: %s", m.Compare.side(), m.Name, reason)
	default:
		v := relate(m.Compare.As, r.Value, other.Value)
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			c.Value = ptr(v)
		}
		c.Verdict, c.Message = relativeVerdict(m, v, r.Value, other.Value, canary)
		c.Failed = c.Verdict == VerdictFail
	}
	return c
}

// relativeVerdict words a relative value in Flagger's voice:
// "Halt podinfo.test advancement request-duration 2.03× baseline > 1.2×
// (canary 203ms, baseline 100ms)".
func relativeVerdict(m Metric, v, canary, other float64, key string) (Verdict, string) {
	cmp := *m.Compare
	rel := fmt.Sprintf("%s×", formatNumber(v))
	bound := func(b float64) string { return formatNumber(b) + "×" }
	if cmp.As == RelationDifference {
		rel, bound = signedIn(m, v), func(b float64) string { return signedIn(m, b) }
	}
	values := fmt.Sprintf("(canary %s, %s %s)", formatValue(m, canary), cmp.side(), formatValue(m, other))
	what := fmt.Sprintf("%s %s vs %s", m.Name, rel, cmp.side())
	if cmp.As == RelationRatio {
		what = fmt.Sprintf("%s %s %s", m.Name, rel, cmp.side())
	}
	if m.Min != nil && v < *m.Min {
		return VerdictFail, fmt.Sprintf("Halt %s advancement %s < %s %s", key, what, bound(*m.Min), values)
	}
	if m.Max != nil && v > *m.Max {
		return VerdictFail, fmt.Sprintf("Halt %s advancement %s > %s %s", key, what, bound(*m.Max), values)
	}
	return VerdictPass, what + " " + values
}

// formatValue prints a value in its metric's unit.
func formatValue(m Metric, v float64) string {
	switch m.Kind {
	case MetricSuccessRate:
		return fmt.Sprintf("%.2f%%", v)
	case MetricDuration:
		return ms(v).String()
	}
	return formatNumber(v)
}

// signedIn prints a difference with its sign, in points of a success rate
// or as a duration.
func signedIn(m Metric, v float64) string {
	switch m.Kind {
	case MetricSuccessRate:
		return signed(v) + " points"
	case MetricDuration:
		if v < 0 {
			return "-" + ms(-v).String()
		}
		return "+" + ms(v).String()
	}
	return signed(v)
}

func formatNumber(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "∞"
	case math.IsInf(v, -1):
		return "-∞"
	case v == 0 || math.IsNaN(v):
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	// three significant digits, never in e-notation
	scale := math.Pow(10, 2-math.Floor(math.Log10(math.Abs(v))))
	return strconv.FormatFloat(math.Round(v*scale)/scale, 'f', -1, 64)
}

func signed(v float64) string {
	if v >= 0 || math.IsNaN(v) {
		return "+" + formatNumber(v)
	}
	return formatNumber(v)
}

func ptr(v float64) *float64 { return &v }
