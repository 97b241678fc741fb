package routers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// proxyRoutes reads the routes of the stored HTTPProxy podinfo.
func proxyRoutes(t *testing.T, d Deps, ns string) []any {
	t.Helper()
	routes, _, _ := unstructured.NestedSlice(getUnstructured(t, d, httpProxyGVK, ns, "podinfo").Object, "spec", "routes")
	return routes
}

// serviceWeights reads the weights of podinfo-primary and podinfo-canary
// in a list of backends, the name under key.
func serviceWeights(t *testing.T, list []any, key func(map[string]any) string) [2]int {
	t.Helper()
	w, err := namedWeights(list, key)
	if err != nil {
		t.Fatal(err)
	}
	return [2]int{int(w["podinfo-primary"]), int(w["podinfo-canary"])}
}

func TestContourWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Contour)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	d.IngressClass = "contour-internal"
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Service.Timeout = "15s"
		c.Spec.Service.Retries = &flaggerv1.HTTPRetry{Attempts: 3, PerTryTimeout: "5s"}
	})
	r, _ := New(Contour, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		routes := proxyRoutes(t, d, ns)
		services, _, _ := unstructured.NestedSlice(routes[0].(map[string]any), "services")
		return serviceWeights(t, services, func(m map[string]any) string { return field(m, "name") })
	})
	u := getUnstructured(t, d, httpProxyGVK, ns, "podinfo")
	checkOwned(t, c, u)
	if class := field(u.Object, "spec", "ingressClassName"); class != "contour-internal" {
		t.Errorf("ingressClassName = %q, want -ingress-class", class)
	}
	route := proxyRoutes(t, d, ns)[0].(map[string]any)
	want := map[string]any{
		"conditions":    []any{map[string]any{"prefix": "/"}},
		"timeoutPolicy": map[string]any{"response": "15s", "idle": "5m"},
		"retryPolicy":   map[string]any{"count": int64(3), "perTryTimeout": "5s"},
		"services": []any{
			map[string]any{"name": "podinfo-primary", "port": int64(9898), "weight": int64(100), "requestHeadersPolicy": map[string]any{
				"set": []any{map[string]any{"name": "l5d-dst-override", "value": "podinfo-primary." + ns + ".svc.cluster.local:9898"}}}},
			map[string]any{"name": "podinfo-canary", "port": int64(9898), "weight": int64(0), "requestHeadersPolicy": map[string]any{
				"set": []any{map[string]any{"name": "l5d-dst-override", "value": "podinfo-canary." + ns + ".svc.cluster.local:9898"}}}},
		},
	}
	if !equality.Semantic.DeepEqual(route, want) {
		t.Errorf("HTTPProxy route = %v\nwant %v", route, want)
	}
}

// A/B testing: one route per condition carries the split, a last route
// keeps everyone else on the primary.
func TestContourABTesting(t *testing.T) {
	env.TrafficCRDs(t, testenv.Contour)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 10, Match: []flaggerv1.HTTPMatchRequest{
			{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "insider"}}},
			{Headers: map[string]flaggerv1.StringMatch{"user-agent": {Regex: ".*Firefox.*"}}, QueryParams: map[string]flaggerv1.StringMatch{"beta": {Prefix: "y"}}},
		}}
	})
	r := NewContour(d)
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	routes := proxyRoutes(t, d, ns)
	if len(routes) != 3 {
		t.Fatalf("HTTPProxy has %d routes, want one per condition and one for the rest: %v", len(routes), routes)
	}
	wantConditions := [][]any{
		{map[string]any{"prefix": "/"}, map[string]any{"header": map[string]any{"name": "x-canary", "exact": "insider"}}},
		{map[string]any{"prefix": "/"}, map[string]any{"header": map[string]any{"name": "user-agent", "regex": ".*Firefox.*"}},
			map[string]any{"queryParameter": map[string]any{"name": "beta", "regex": "^y.*"}}},
		{map[string]any{"prefix": "/"}},
	}
	for i, want := range [][2]int{{0, 100}, {0, 100}, {100, 0}} {
		route := routes[i].(map[string]any)
		services, _, _ := unstructured.NestedSlice(route, "services")
		if got := serviceWeights(t, services, func(m map[string]any) string { return field(m, "name") }); got != want {
			t.Errorf("route %d routes %v, want %v", i, got, want)
		}
		if !equality.Semantic.DeepEqual(route["conditions"], wantConditions[i]) {
			t.Errorf("route %d conditions = %v, want %v", i, route["conditions"], wantConditions[i])
		}
	}
	if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || p != 0 || cw != 100 {
		t.Errorf("GetRoutes = %d, %d, %v", p, cw, err)
	}
}

// An HTTPProxy the user wrote is taken over (its virtual host stays) and
// given back by Finalize.
func TestContourFinalizeRestoresHTTPProxy(t *testing.T) {
	env.TrafficCRDs(t, testenv.Contour)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	before := createUnstructured(t, d, httpProxyGVK, ns, "podinfo", map[string]string{"team": "web"}, map[string]any{
		"virtualhost": map[string]any{"fqdn": "app.example.com"},
		"routes":      []any{map[string]any{"services": []any{map[string]any{"name": "podinfo", "port": int64(9898)}}}},
	})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	checkTakeOverAndRestore(t, d, NewContour(d), c, before, func(u *unstructured.Unstructured) {
		if field(u.Object, "spec", "virtualhost", "fqdn") != "app.example.com" {
			t.Errorf("the virtual host of the taken-over HTTPProxy is gone: %v", u.Object["spec"])
		}
	})
}
