package routers

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// Calls that change nothing write nothing: the traffic objects keep their
// resourceVersion (and generation), so Gateways are not made to reconcile
// again and GetRoutes does not wait for them.
func TestUnchangedCallsWriteNothing(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	env.TrafficCRDs(t, testenv.SMI)
	env.TrafficCRDs(t, testenv.Emissary)
	env.TrafficCRDs(t, testenv.Istio)
	env.TrafficCRDs(t, testenv.Knative, testenv.Contour, testenv.Gloo, testenv.Traefik, testenv.Kuma, testenv.APISIX)
	cases := []struct {
		provider string
		edit     func(*flaggerv1.Canary)
		setup    func(t *testing.T, d Deps, ns string)
		objects  []schema.GroupVersionKind
		names    []string
	}{
		{provider: GatewayAPIV1, edit: func(c *flaggerv1.Canary) {
			c.Spec.Service.GatewayRefs = []flaggerv1.ParentReference{{Name: "gw"}}
			c.Spec.Service.Match = []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"b": {Exact: "1"}, "a": {Prefix: "x"}}}}
			c.Spec.Service.CorsPolicy = &flaggerv1.CorsPolicy{AllowOrigin: []string{"*"}}
			c.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "c", PrimaryCookieName: "p"}
		}, objects: []schema.GroupVersionKind{{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}}, names: []string{"podinfo"}},
		{provider: SMIV1alpha1, objects: []schema.GroupVersionKind{trafficSplitGVK("v1alpha1")}, names: []string{"podinfo"}},
		{provider: Emissary, objects: []schema.GroupVersionKind{mappingGVK("v3alpha1"), mappingGVK("v3alpha1")}, names: []string{"podinfo", "podinfo-canary"}},
		{provider: Istio, edit: func(c *flaggerv1.Canary) {
			c.Spec.Service.Match = []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"b": {Exact: "1"}, "a": {Suffix: "x"}}}}
		}, objects: []schema.GroupVersionKind{virtualServiceGVK, destinationRuleGVK}, names: []string{"podinfo", "podinfo-canary"}},
		{provider: Istio, edit: func(c *flaggerv1.Canary) {
			c.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "c", PrimaryCookieName: "p"}
		}, objects: []schema.GroupVersionKind{virtualServiceGVK}, names: []string{"podinfo"}},
		{provider: Istio, edit: func(c *flaggerv1.Canary) {
			c.Spec.Service.AppProtocol = ptr.To("tcp")
			c.Spec.Service.Match = []flaggerv1.HTTPMatchRequest{{Port: 9898}}
		}, objects: []schema.GroupVersionKind{virtualServiceGVK}, names: []string{"podinfo"}},
		{provider: Knative, edit: func(c *flaggerv1.Canary) {
			c.Spec.TargetRef = flaggerv1.LocalObjectReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "podinfo"}
		}, setup: func(t *testing.T, d Deps, ns string) { createKnativeService(t, d, ns, nil, "podinfo-00001") },
			objects: []schema.GroupVersionKind{KnativeServiceGVK}, names: []string{"podinfo"}},
		{provider: NGINX, edit: func(c *flaggerv1.Canary) {
			c.Spec.IngressRef = &flaggerv1.IngressReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		}, setup: func(t *testing.T, d Deps, ns string) { sourceIngress(t, d, ns) },
			objects: []schema.GroupVersionKind{{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}}, names: []string{"podinfo-canary"}},
		{provider: Contour, edit: func(c *flaggerv1.Canary) {
			c.Spec.Service.Timeout, c.Spec.Service.Retries = "10s", &flaggerv1.HTTPRetry{Attempts: 2}
		}, objects: []schema.GroupVersionKind{httpProxyGVK}, names: []string{"podinfo"}},
		{provider: Gloo, setup: func(t *testing.T, d Deps, ns string) { glooServices(t, d, ns) },
			objects: []schema.GroupVersionKind{routeTableGVK, upstreamGVK}, names: []string{"podinfo", "<ns>-podinfo-canaryupstream-9898"}},
		{provider: Traefik, objects: []schema.GroupVersionKind{traefikServiceGVK}, names: []string{"podinfo"}},
		{provider: Skipper, edit: func(c *flaggerv1.Canary) {
			c.Spec.IngressRef = &flaggerv1.IngressReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		}, setup: func(t *testing.T, d Deps, ns string) { sourceIngress(t, d, ns) },
			objects: []schema.GroupVersionKind{{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}}, names: []string{"podinfo-canary"}},
		{provider: Kuma, edit: func(c *flaggerv1.Canary) { c.Spec.Service.Name = c.Namespace },
			objects: []schema.GroupVersionKind{trafficRouteGVK}, names: []string{"<ns>"}},
		{provider: KumaMeshHTTPRoute, edit: func(c *flaggerv1.Canary) {
			c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 5, Match: []flaggerv1.HTTPMatchRequest{
				{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "1"}}}}}
		}, objects: []schema.GroupVersionKind{meshHTTPRouteGVK}, names: []string{"podinfo"}},
		{provider: APISIX, edit: func(c *flaggerv1.Canary) {
			c.Spec.RouteRef = &flaggerv1.RouteReference{APIVersion: "apisix.apache.org/v2", Kind: "ApisixRoute", Name: "podinfo"}
		}, setup: func(t *testing.T, d Deps, ns string) { userApisixRoute(t, d, ns) },
			objects: []schema.GroupVersionKind{apisixRouteGVK}, names: []string{"podinfo-podinfo-canary"}},
	}
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			ns := env.Namespace(t)
			d, _ := testDeps(t)
			if tc.setup != nil {
				tc.setup(t, d, ns)
			}
			c := createCanary(t, ns, tc.edit)
			r, _ := New(tc.provider, d)
			ctx := testCtx(t)
			if err := r.Reconcile(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := r.SetRoutes(ctx, c, 90, 10, false); err != nil {
				t.Fatal(err)
			}
			before := versions(t, d, ns, tc.objects, tc.names)
			for range 2 {
				if err := r.Reconcile(ctx, c); err != nil {
					t.Fatal(err)
				}
				if err := r.SetRoutes(ctx, c, 90, 10, false); err != nil {
					t.Fatal(err)
				}
			}
			if after := versions(t, d, ns, tc.objects, tc.names); after != before {
				t.Fatalf("repeated Reconcile and SetRoutes(90, 10) rewrote the objects: resourceVersions %v, then %v", before, after)
			}
		})
	}
}

func versions(t *testing.T, d Deps, ns string, gvks []schema.GroupVersionKind, names []string) [2]string {
	t.Helper()
	var out [2]string
	for i, gvk := range gvks {
		// "<ns>" stands for the namespace's name; TrafficRoutes are
		// cluster-scoped and named so that the tests do not meet.
		name, objNS := strings.ReplaceAll(names[i], "<ns>", ns), ns
		if gvk == trafficRouteGVK {
			objNS = ""
		}
		out[i] = getUnstructured(t, d, gvk, objNS, name).GetResourceVersion()
	}
	return out
}
