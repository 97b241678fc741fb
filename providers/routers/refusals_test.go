package routers

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// What a router cannot do is refused with an error that names the field
// and what would work, and nothing is written.
func TestRoutersRefuseWhatTheyCannotDo(t *testing.T) {
	env.TrafficCRDs(t, testenv.SMI)
	for _, tc := range []struct {
		provider string
		edit     func(*flaggerv1.Canary)
		setup    func(t *testing.T, d Deps, ns string)
		want     []string
	}{
		// Flagger's SMI routers (v1alpha1..v1alpha3) have no A/B testing
		// either: a TrafficSplit only weighs backends
		{provider: SMIV1alpha3, edit: func(c *flaggerv1.Canary) {
			c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "30s", Threshold: 5, Iterations: 5,
				Match: []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "insider"}}}}}
		}, want: []string{"analysis.match (A/B testing) is not supported", "smi:v1alpha3", "gatewayapi:v1"}},
		{provider: Linkerd, edit: func(c *flaggerv1.Canary) {
			c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "30s", Threshold: 5, Iterations: 5,
				Match: []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "insider"}}}}}
		}, want: []string{"analysis.match (A/B testing) is not supported", "smi:v1alpha1"}},
		// ingress-nginx ignores mirror annotations on a canary Ingress
		{provider: NGINX, edit: func(c *flaggerv1.Canary) {
			c.Spec.IngressRef = &flaggerv1.IngressReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
			c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "30s", Threshold: 5, Iterations: 5, Mirror: true}
		}, setup: func(t *testing.T, d Deps, ns string) { sourceIngress(t, d, ns) },
			want: []string{"analysis.mirror is not supported by provider nginx", "canary Ingress", "gatewayapi:v1 or istio"}},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			ns := env.Namespace(t)
			d, _ := testDeps(t)
			if tc.setup != nil {
				tc.setup(t, d, ns)
			}
			c := createCanary(t, ns, tc.edit)
			r, _ := New(tc.provider, d)
			ctx := testCtx(t)
			for name, call := range map[string]func() error{
				"Reconcile": func() error { return r.Reconcile(ctx, c) },
				"SetRoutes": func() error { return r.SetRoutes(ctx, c, 0, 100, true) },
			} {
				err := call()
				for _, w := range tc.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("%s = %v, want an error containing %q", name, err, w)
					}
				}
			}
			if _, _, _, err := r.GetRoutes(ctx, c); !apierrors.IsNotFound(err) {
				t.Errorf("GetRoutes after the refusals = %v, want not found: nothing may be written", err)
			}
		})
	}
}
