package v1beta1

import "slices"

// LatestChecks is the newest result of each metric in status.checks: the
// spec's metrics first, in spec order, then any others found in the
// history.
func (c *Canary) LatestChecks() []CheckResult {
	latest := map[string]CheckResult{}
	var order []string
	if c.Spec.Analysis != nil {
		for _, m := range c.Spec.Analysis.Metrics {
			order = append(order, m.Name)
		}
	}
	for _, ch := range c.Status.Checks {
		if _, seen := latest[ch.Metric]; !seen && !slices.Contains(order, ch.Metric) {
			order = append(order, ch.Metric)
		}
		latest[ch.Metric] = ch
	}
	var out []CheckResult
	for _, m := range order {
		if ch, ok := latest[m]; ok {
			out = append(out, ch)
		}
	}
	return out
}
