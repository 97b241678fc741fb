package metrics

import (
	"testing"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The builtin queries of a Knative target select the canary revision, the
// latest created one that the controller records as the revision under
// analysis, as Flagger's {{ route }} does.
func TestKnativeBuiltinQuerySelectsTheCanaryRevision(t *testing.T) {
	c := &flaggerv1.Canary{}
	c.Name, c.Namespace = "podinfo", "test"
	c.Spec.TargetRef = flaggerv1.LocalObjectReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "podinfo"}
	c.Status.LastAppliedSpec = "podinfo-00002"
	q, err := BuiltinQuery("knative", RequestDuration, NewModel(c, flaggerv1.CanaryMetric{Name: RequestDuration, Interval: "1m"}))
	if err != nil {
		t.Fatal(err)
	}
	want := `histogram_quantile(0.99, sum(rate(envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name=~"test/podinfo-00002"}[1m])) by (le))`
	if q != want {
		t.Errorf("query\n  %s\nwant\n  %s", q, want)
	}
}
