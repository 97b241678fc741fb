package routers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// userApisixRoute is the user's ApisixRoute podinfo: / to podinfo, and
// /static to another service.
func userApisixRoute(t *testing.T, d Deps, ns string) *unstructured.Unstructured {
	t.Helper()
	return createUnstructured(t, d, apisixRouteGVK, ns, "podinfo", map[string]string{"app": "podinfo"}, map[string]any{
		"ingressClassName": "apisix",
		"http": []any{
			map[string]any{"name": "main", "match": map[string]any{"hosts": []any{"app.example.com"}, "paths": []any{"/*"}},
				"backends": []any{map[string]any{"serviceName": "podinfo", "servicePort": int64(9898), "resolveGranularity": "service"}},
				"plugins":  []any{map[string]any{"name": "cors", "enable": true}}},
			map[string]any{"name": "static", "match": map[string]any{"paths": []any{"/static/*"}},
				"backends": []any{map[string]any{"serviceName": "static", "servicePort": int64(80)}}},
		},
	})
}

func apisixCanary(t *testing.T, ns string) *flaggerv1.Canary {
	return createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.RouteRef = &flaggerv1.RouteReference{APIVersion: "apisix.apache.org/v2", Kind: "ApisixRoute", Name: "podinfo"}
	})
}

// The canary ApisixRoute copies the user's route to the apex service at
// priority 10000 with two weighted backends; the user's route is left
// alone.
func TestAPISIXWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.APISIX)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	before := userApisixRoute(t, d, ns)
	c := apisixCanary(t, ns)
	r, _ := New(APISIX, d)
	canaryHTTP := func(t *testing.T) map[string]any {
		http, _, _ := unstructured.NestedSlice(getUnstructured(t, d, apisixRouteGVK, ns, "podinfo-podinfo-canary").Object, "spec", "http")
		if len(http) != 1 {
			t.Fatalf("canary ApisixRoute has %d HTTP routes, want the one to podinfo: %v", len(http), http)
		}
		return http[0].(map[string]any)
	}
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		backends, _, _ := unstructured.NestedSlice(canaryHTTP(t), "backends")
		return serviceWeights(t, backends, func(m map[string]any) string { return field(m, "serviceName") })
	})
	u := getUnstructured(t, d, apisixRouteGVK, ns, "podinfo-podinfo-canary")
	checkOwned(t, c, u)
	want := map[string]any{"name": "main", "priority": int64(10000), "match": map[string]any{"hosts": []any{"app.example.com"}, "paths": []any{"/*"}},
		"plugins": []any{map[string]any{"name": "cors", "enable": true}},
		"backends": []any{
			map[string]any{"serviceName": "podinfo-primary", "servicePort": int64(9898), "resolveGranularity": "service", "weight": int64(100)},
			map[string]any{"serviceName": "podinfo-canary", "servicePort": int64(9898), "resolveGranularity": "service", "weight": int64(0)},
		}}
	if got := canaryHTTP(t); !equality.Semantic.DeepEqual(got, want) || field(u.Object, "spec", "ingressClassName") != "apisix" || u.GetLabels()["app"] != "podinfo" {
		t.Errorf("canary ApisixRoute labels %v spec %v\nwant HTTP route %v", u.GetLabels(), u.Object["spec"], want)
	}
	if err := r.Finalize(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	if after := getUnstructured(t, d, apisixRouteGVK, ns, "podinfo"); !equality.Semantic.DeepEqual(after.Object["spec"], before.Object["spec"]) {
		t.Errorf("the user's ApisixRoute changed: %v", after.Object["spec"])
	}
}

// The route to split must have the apex service as its one backend.
func TestAPISIXNeedsOneBackend(t *testing.T) {
	env.TrafficCRDs(t, testenv.APISIX)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	createUnstructured(t, d, apisixRouteGVK, ns, "podinfo", nil, map[string]any{"http": []any{map[string]any{
		"name": "main", "match": map[string]any{"paths": []any{"/*"}},
		"backends": []any{map[string]any{"serviceName": "podinfo", "servicePort": int64(9898)}, map[string]any{"serviceName": "other", "servicePort": int64(80)}},
	}}})
	err := NewAPISIX(d).Reconcile(testCtx(t), apisixCanary(t, ns))
	want := `canary podinfo.` + ns + `: HTTP route "main" of spec.routeRef ApisixRoute podinfo.` + ns + ` has 2 backends; the apisix provider splits a route with the one backend podinfo`
	if err == nil || err.Error() != want {
		t.Fatalf("Reconcile = %v, want %s", err, want)
	}
}
