package v1beta1_test

import (
	"testing"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The plugin's tree and the demo's progress line show the checks of the
// latest release only: a new release starts with none, not with the values
// of the one before.
func TestLatestChecksAreThoseOfTheLatestRelease(t *testing.T) {
	c := &flaggerv1.Canary{Spec: flaggerv1.CanarySpec{Analysis: &flaggerv1.CanaryAnalysis{
		Metrics: []flaggerv1.CanaryMetric{{Name: "request-success-rate"}, {Name: "latency"}}}}}
	c.Status.Checks = []flaggerv1.CheckResult{
		{Metric: "latency", ReleaseID: 1, Verdict: flaggerv1.VerdictFail},
		{Metric: "request-success-rate", ReleaseID: 1, Verdict: flaggerv1.VerdictPass},
		{Metric: "request-success-rate", ReleaseID: 2, Verdict: flaggerv1.VerdictFail},
		{Metric: "extra", ReleaseID: 2, Verdict: flaggerv1.VerdictPass},
		{Metric: "request-success-rate", ReleaseID: 2, Verdict: flaggerv1.VerdictPass},
	}
	verdicts := func() []string {
		var out []string
		for _, ch := range c.LatestChecks() {
			out = append(out, ch.Metric+"="+string(ch.Verdict))
		}
		return out
	}
	// no history (a status written before releases were numbered): all checks
	if got := verdicts(); len(got) != 3 || got[0] != "request-success-rate=Pass" || got[1] != "latency=Fail" || got[2] != "extra=Pass" {
		t.Errorf("without history: %v", got)
	}
	c.Status.History = []flaggerv1.CanaryRelease{{ID: 1}, {ID: 2}}
	if got := verdicts(); len(got) != 2 || got[0] != "request-success-rate=Pass" || got[1] != "extra=Pass" {
		t.Errorf("release 2: %v, want its own checks only", got)
	}
	c.Status.History = append(c.Status.History, flaggerv1.CanaryRelease{ID: 3})
	if got := verdicts(); len(got) != 0 {
		t.Errorf("a release that just started shows %v, want no checks", got)
	}
}
