package routers

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// glooServices creates the primary and canary Services the controller
// would have created before the router runs.
func glooServices(t *testing.T, d Deps, ns string) {
	t.Helper()
	for name, app := range map[string]string{"podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": app}, Ports: []corev1.ServicePort{{Port: 9898}},
		}}
		if err := d.Client.Create(testCtx(t), svc); err != nil {
			t.Fatal(err)
		}
	}
}

func routeTableRoutes(t *testing.T, d Deps, ns string) []any {
	t.Helper()
	routes, _, _ := unstructured.NestedSlice(getUnstructured(t, d, routeTableGVK, ns, "podinfo").Object, "spec", "routes")
	return routes
}

// destinationWeights reads the weights of a route's destinations on the
// Upstreams of canary podinfo in ns.
func destinationWeights(t *testing.T, ns string, route any) [2]int {
	t.Helper()
	dests, _, _ := unstructured.NestedSlice(route.(map[string]any), "routeAction", "multi", "destinations")
	w, err := namedWeights(dests, func(m map[string]any) string { return field(m, "destination", "upstream", "name") })
	if err != nil {
		t.Fatal(err)
	}
	names := glooUpstreamNames(ns)
	return [2]int{int(w[names[0]]), int(w[names[1]])}
}

func glooUpstreamNames(ns string) [2]string {
	return [2]string{ns + "-podinfo-primaryupstream-9898", ns + "-podinfo-canaryupstream-9898"}
}

// The Upstreams copy spec.upstreamRef's settings and select the Services'
// pods; the RouteTable splits between them.
func TestGlooWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Gloo)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	glooServices(t, d, ns)
	createUnstructured(t, d, upstreamGVK, ns, "podinfo-config", nil, map[string]any{
		"connectionConfig": map[string]any{"maxRequestsPerConnection": int64(10)},
		"useHttp2":         true,
		"kube":             map[string]any{"serviceName": "ignored", "servicePort": int64(1)},
	})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.UpstreamRef = &flaggerv1.UpstreamReference{APIVersion: "gloo.solo.io/v1", Kind: "Upstream", Name: "podinfo-config"}
	})
	r, _ := New(Gloo, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		routes := routeTableRoutes(t, d, ns)
		if inherit, _ := routes[0].(map[string]any)["inheritablePathMatchers"].(bool); !inherit || len(routes) != 1 {
			t.Fatalf("RouteTable routes = %v, want one route inheriting the VirtualService's path", routes)
		}
		return destinationWeights(t, ns, routes[0])
	})
	checkOwned(t, c, getUnstructured(t, d, routeTableGVK, ns, "podinfo"))
	for i, app := range []string{"podinfo-primary", "podinfo"} {
		u := getUnstructured(t, d, upstreamGVK, ns, glooUpstreamNames(ns)[i])
		checkOwned(t, c, u)
		want := map[string]any{
			"connectionConfig": map[string]any{"maxRequestsPerConnection": int64(10)},
			"useHttp2":         true,
			"kube": map[string]any{"serviceName": []string{"podinfo-primary", "podinfo-canary"}[i], "serviceNamespace": ns,
				"servicePort": int64(9898), "selector": map[string]any{"app": app}},
		}
		if !equality.Semantic.DeepEqual(u.Object["spec"], want) {
			t.Errorf("Upstream %s spec = %v\nwant %v", u.GetName(), u.Object["spec"], want)
		}
	}
}

// A/B testing: the conditions are the first route's matchers (ORed), a
// second route keeps everyone else on the primary (Flagger leaves them
// without a route).
func TestGlooABTesting(t *testing.T) {
	env.TrafficCRDs(t, testenv.Gloo)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	glooServices(t, d, ns)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 10, Match: []flaggerv1.HTTPMatchRequest{
			{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "insider"}}},
			{Headers: map[string]flaggerv1.StringMatch{"user-agent": {Regex: ".*Android.*"}}, Method: &flaggerv1.StringMatch{Exact: "GET"}},
		}}
	})
	r := NewGloo(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	routes := routeTableRoutes(t, d, ns)
	if len(routes) != 2 {
		t.Fatalf("RouteTable has %d routes, want the A/B route and the rest: %v", len(routes), routes)
	}
	wantMatchers := []any{
		map[string]any{"headers": []any{map[string]any{"name": "x-canary", "value": "insider"}}},
		map[string]any{"headers": []any{map[string]any{"name": "user-agent", "value": ".*Android.*", "regex": true}}, "methods": []any{"GET"}},
	}
	if m := routes[0].(map[string]any)["matchers"]; !equality.Semantic.DeepEqual(m, wantMatchers) {
		t.Errorf("A/B matchers = %v, want %v", m, wantMatchers)
	}
	if w := destinationWeights(t, ns, routes[0]); w != [2]int{0, 100} {
		t.Errorf("A/B route routes %v, want 0/100", w)
	}
	if _, has := routes[1].(map[string]any)["matchers"]; has || destinationWeights(t, ns, routes[1]) != [2]int{100, 0} {
		t.Errorf("second route = %v, want no matchers and everything on the primary", routes[1])
	}
}

func TestGlooFinalizeRestoresRouteTable(t *testing.T) {
	env.TrafficCRDs(t, testenv.Gloo)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	glooServices(t, d, ns)
	before := createUnstructured(t, d, routeTableGVK, ns, "podinfo", map[string]string{"team": "web"}, map[string]any{
		"routes": []any{map[string]any{"matchers": []any{map[string]any{"prefix": "/"}}, "routeAction": map[string]any{
			"single": map[string]any{"upstream": map[string]any{"name": "podinfo", "namespace": ns}}}}},
	})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	checkTakeOverAndRestore(t, d, NewGloo(d), c, before, nil)
}
