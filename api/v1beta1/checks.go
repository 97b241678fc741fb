package v1beta1

import "slices"

// LatestRelease is the last entry of status.history: the release that runs,
// or the one that ended last; nil without history.
func (s *CanaryStatus) LatestRelease() *CanaryRelease {
	if n := len(s.History); n > 0 {
		return &s.History[n-1]
	}
	return nil
}

// ReleaseChecks are the checks of status.checks recorded for release id.
func (s *CanaryStatus) ReleaseChecks(id int) []CheckResult {
	var out []CheckResult
	for _, ch := range s.Checks {
		if ch.ReleaseID == id {
			out = append(out, ch)
		}
	}
	return out
}

// LatestChecks is the newest result of each metric of the latest release
// (of every check in status.checks, for a status without history): the
// spec's metrics first, in spec order, then any others.
func (c *Canary) LatestChecks() []CheckResult {
	checks := c.Status.Checks
	if r := c.Status.LatestRelease(); r != nil {
		checks = c.Status.ReleaseChecks(r.ID)
	}
	latest := map[string]CheckResult{}
	var order []string
	if c.Spec.Analysis != nil {
		for _, m := range c.Spec.Analysis.Metrics {
			order = append(order, m.Name)
		}
	}
	for _, ch := range checks {
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
