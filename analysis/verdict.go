package analysis

import (
	"fmt"
	"time"
)

// MaxChecks bounds the history of checks kept in the status.
const MaxChecks = 30

// checkMetrics asks for this tick's metric results, judges each, records
// them in the history, and reports whether the tick passed. Every metric is
// queried and recorded, so the history explains a failure in full; as in
// Flagger, one tick counts at most one failed check, announced by the first
// failing metric, then by the judgement. Dry-run metrics are recorded and
// announced but never count.
func (d *decider) checkMetrics() bool {
	if len(d.spec.Metrics) == 0 {
		return true
	}
	if d.obs.Metrics == nil {
		if d.st().RunStart.IsZero() && d.spec.Judge != nil {
			// a run from before runs were timed (an upgrade): its
			// samples start now
			d.st().RunStart = d.now
		}
		d.out.Observe = &Need{Metrics: true, Window: Window{Start: d.st().RunStart, End: d.now}}
		return false
	}
	var failed *Check
	var held []string
	for _, m := range d.spec.Metrics {
		if m.Judge != nil {
			continue
		}
		c := d.dryRun(m, Judge(m, d.result(m.Name), d.key(), d.target(), d.now))
		d.record(c)
		switch {
		case c.Failed && failed == nil:
			failed = &c
		case c.Verdict == VerdictNoData && m.NoData == NoDataSkip && !m.DryRun:
			held = append(held, m.Name)
		}
	}
	jc, judged := d.judgement()
	if failed == nil && judged == judgeFail {
		failed = &jc
	}
	if failed != nil {
		sev := SeverityWarn
		if failed.Verdict == VerdictError {
			// a query that cannot run is something to fix, not a
			// measurement
			sev = SeverityError
		}
		d.failCheck(d.metricReason(*failed), sev, "%s", failed.Message)
		return false
	}
	if len(held) > 0 {
		msg := fmt.Sprintf("Holding %s advancement: no values for %v (noDataPolicy Skip)", d.key(), held)
		d.st().Reason, d.st().Message = ReasonMetricNoData, msg
		d.log("%s", msg)
	}
	if judged == judgeHold {
		d.log("%s", jc.Message)
	}
	if len(held) > 0 || judged == judgeHold {
		d.step()
		return false
	}
	if jc.marginal() {
		d.event(SeverityInfo, "%s", jc.Message)
	}
	return true
}

// dryRun marks the check of a dry-run metric: it never counts as failed,
// and a failure is announced as one of a dry run.
func (d *decider) dryRun(m Metric, c Check) Check {
	if !m.DryRun {
		return c
	}
	c.DryRun = true
	if c.Failed || c.Verdict == VerdictFail || c.Verdict == VerdictError {
		d.event(SeverityWarn, "Dry-run metric %s of %s failed, not counted: %s", m.Name, d.key(), c.Message)
	}
	c.Failed = false
	return c
}

func (d *decider) result(name string) MetricResult {
	for _, r := range d.obs.Metrics {
		if r.Name == name {
			return r
		}
	}
	return MetricResult{Name: name, Outcome: QueryProviderError, Err: "the metric was not queried"}
}

// metricReason classifies a failed check.
func (d *decider) metricReason(c Check) Reason {
	switch {
	case c.Verdict == VerdictNoData:
		return ReasonMetricNoData
	case c.Verdict != VerdictError:
		return ReasonMetricCheckFailed
	case d.result(c.Metric).Outcome == QueryInvalid:
		return ReasonMetricQueryInvalid
	}
	return ReasonMetricProviderError
}

// record adds a check to the history, numbered with the open release.
func (d *decider) record(c Check) {
	st := d.st()
	c.ReleaseID = d.releaseID()
	st.Checks = append(st.Checks, c)
	if n := len(st.Checks); n > MaxChecks {
		st.Checks = append([]Check(nil), st.Checks[n-MaxChecks:]...)
	}
}

// Judge decides the verdict of one metric result. canary and target are
// "<name>.<namespace>" of the Canary and of its target, for the messages,
// which keep Flagger's wording.
func Judge(m Metric, r MetricResult, canary, target string, now time.Time) Check {
	if m.Compare != nil {
		return judgeRelative(m, r, canary, target, now)
	}
	c := Check{Metric: m.Name, Time: now, Query: r.Query, Min: m.Min, Max: m.Max}
	switch r.Outcome {
	case QueryOK:
		v := r.Value
		c.Value = &v
		c.Verdict, c.Message = judgeValue(m, v, canary)
		c.Failed = c.Verdict == VerdictFail
	case QueryNoData:
		c.Verdict = VerdictNoData
		c.Failed = m.NoData == NoDataFail
		c.Message = noDataMessage(m, r, target)
	default:
		c.Verdict, c.Failed = VerdictError, true
		c.Message = fmt.Sprintf("Metric query failed for %s: %s", m.Name, r.Err)
	}
	return c
}

func judgeValue(m Metric, v float64, canary string) (Verdict, string) {
	switch m.Kind {
	case MetricSuccessRate:
		if m.Min != nil && v < *m.Min {
			return VerdictFail, fmt.Sprintf("Halt %s advancement success rate %.2f%% < %v%%", canary, v, *m.Min)
		}
		if m.Max != nil && v > *m.Max {
			return VerdictFail, fmt.Sprintf("Halt %s advancement success rate %.2f%% > %v%%", canary, v, *m.Max)
		}
		return VerdictPass, fmt.Sprintf("success rate %.2f%%", v)
	case MetricDuration:
		// Flagger truncates to whole milliseconds and prints Go durations
		// ("1.2s > 500ms").
		got := time.Duration(int64(v)) * time.Millisecond
		if m.Min != nil && v < *m.Min {
			return VerdictFail, fmt.Sprintf("Halt %s advancement request duration %v < %v", canary, got, ms(*m.Min))
		}
		if m.Max != nil && int64(v) > int64(*m.Max) {
			return VerdictFail, fmt.Sprintf("Halt %s advancement request duration %v > %v", canary, got, ms(*m.Max))
		}
		return VerdictPass, fmt.Sprintf("request duration %v", got)
	}
	if m.Min != nil && v < *m.Min {
		return VerdictFail, fmt.Sprintf("Halt %s advancement %s %.2f < %v", canary, m.Name, v, *m.Min)
	}
	if m.Max != nil && v > *m.Max {
		return VerdictFail, fmt.Sprintf("Halt %s advancement %s %.2f > %v", canary, m.Name, v, *m.Max)
	}
	return VerdictPass, fmt.Sprintf("%s %.2f", m.Name, v)
}

func ms(v float64) time.Duration { return time.Duration(int64(v)) * time.Millisecond }

func noDataMessage(m Metric, r MetricResult, target string) string {
	reason := r.Err
	if reason == "" {
		reason = "no values found"
	}
	if m.Kind == MetricCustom {
		return fmt.Sprintf("Halt advancement no values found for custom metric: %s: %s", m.Name, reason)
	}
	return fmt.Sprintf("Halt advancement no values found for %s metric %s probably %s is not receiving traffic: running query failed: %s",
		m.Provider, m.Name, target, reason)
}
