package routers

import (
	"context"
	"strings"
	"testing"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// A router refuses a Canary that asks for what it cannot do, naming the
// field, before it writes anything; the same Canary without the field
// gets past that check.
func TestNewRoutersRefuseWhatFlaggersCannot(t *testing.T) {
	match := func(c *flaggerv1.Canary) {
		c.Spec.Analysis.Iterations, c.Spec.Analysis.StepWeight = 5, 0
		c.Spec.Analysis.Match = []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "insider"}}}}
	}
	affinity := func(c *flaggerv1.Canary) {
		c.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "canary"}
	}
	mirror := func(c *flaggerv1.Canary) {
		c.Spec.Analysis.Iterations, c.Spec.Analysis.StepWeight, c.Spec.Analysis.Mirror = 5, 0, true
	}
	method := func(c *flaggerv1.Canary) {
		match(c)
		c.Spec.Analysis.Match[0].Method = &flaggerv1.StringMatch{Exact: "POST"}
	}
	cases := []struct {
		provider string
		edit     func(*flaggerv1.Canary)
		field    string
	}{
		{Contour, affinity, "analysis.sessionAffinity"},
		{Contour, mirror, "analysis.mirror"},
		{Contour, method, "analysis.match[0].method"},
		{Gloo, affinity, "analysis.sessionAffinity"},
		{Gloo, mirror, "analysis.mirror"},
		{Traefik, match, "analysis.match"},
		{Traefik, affinity, "analysis.sessionAffinity"},
		{Traefik, mirror, "analysis.mirror"},
		{Skipper, match, "analysis.match"},
		{Skipper, affinity, "analysis.sessionAffinity"},
		{Skipper, mirror, "analysis.mirror"},
		{Kuma, match, "analysis.match"},
		{Kuma, affinity, "analysis.sessionAffinity"},
		{Kuma, mirror, "analysis.mirror"},
		{KumaMeshHTTPRoute, affinity, "analysis.sessionAffinity"},
		{KumaMeshHTTPRoute, mirror, "analysis.mirror"},
		{APISIX, match, "analysis.match"},
		{APISIX, affinity, "analysis.sessionAffinity"},
		{APISIX, mirror, "analysis.mirror"},
	}
	for _, tc := range cases {
		t.Run(tc.provider+" "+tc.field, func(t *testing.T) {
			c := &flaggerv1.Canary{Spec: flaggerv1.CanarySpec{
				TargetRef: flaggerv1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
				Service:   flaggerv1.CanaryService{Port: 9898},
				Analysis:  &flaggerv1.CanaryAnalysis{Threshold: 5, StepWeight: 10},
			}}
			c.Name, c.Namespace = "podinfo", "prod"
			tc.edit(c)
			r, err := New(tc.provider, Deps{})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Reconcile(context.Background(), c)
			want := "canary podinfo.prod: " + tc.field
			if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "provider "+tc.provider) {
				t.Fatalf("Reconcile = %v, want an error starting %q that names provider %s", err, want, tc.provider)
			}
			if err := r.SetRoutes(context.Background(), c, 90, 10, false); err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("SetRoutes = %v, want the same refusal", err)
			}
		})
	}
}
