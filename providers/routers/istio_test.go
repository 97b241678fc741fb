package routers

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// vsWeights reads the weights of the destinations of one http route of a
// stored VirtualService.
func vsWeights(t *testing.T, u *unstructured.Unstructured, route int) [2]int {
	t.Helper()
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	if len(http) <= route {
		t.Fatalf("VirtualService %s has %d http routes", u.GetName(), len(http))
	}
	var out [2]int
	dests, _, _ := unstructured.NestedSlice(http[route].(map[string]any), "route")
	for _, d := range dests {
		dm := d.(map[string]any)
		host, _, _ := unstructured.NestedString(dm, "destination", "host")
		port, _, _ := unstructured.NestedInt64(dm, "destination", "port", "number")
		w, _, _ := unstructured.NestedInt64(dm, "weight")
		switch {
		case host == "podinfo-primary" && port == 9898:
			out[0] = int(w)
		case host == "podinfo-canary" && port == 9898:
			out[1] = int(w)
		default:
			t.Fatalf("unexpected destination %v", dm)
		}
	}
	return out
}

func TestIstioWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Istio)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		s := &c.Spec.Service
		s.Hosts = []string{"app.example.com"}
		s.Gateways = []string{"public-gateway.istio-system.svc.cluster.local"}
		s.TrafficPolicy = &runtime.RawExtension{Raw: []byte(`{"tls":{"mode":"ISTIO_MUTUAL"},"connectionPool":{"http":{"http1MaxPendingRequests":1024}}}`)}
		s.Timeout = "15s"
		s.Retries = &flaggerv1.HTTPRetry{Attempts: 3, PerTryTimeout: "5s", RetryOn: "gateway-error"}
		s.Match = []flaggerv1.HTTPMatchRequest{{URI: &flaggerv1.StringMatch{Suffix: ".json"}}}
		s.CorsPolicy = &flaggerv1.CorsPolicy{AllowOrigins: []flaggerv1.StringMatchOrigin{{Prefix: "https://"}}, MaxAge: "24h"}
		s.Headers = &flaggerv1.Headers{Request: &flaggerv1.HeaderOperations{Set: map[string]string{"x-via": "warbler"}}}
	})
	r, _ := New(Istio, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		return vsWeights(t, getUnstructured(t, d, virtualServiceGVK, ns, "podinfo"), 0)
	})
	vs := getUnstructured(t, d, virtualServiceGVK, ns, "podinfo")
	checkOwned(t, c, vs)
	hosts, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "hosts")
	gateways, _, _ := unstructured.NestedStringSlice(vs.Object, "spec", "gateways")
	if fmt.Sprint(hosts) != "[app.example.com podinfo]" || fmt.Sprint(gateways) != "[public-gateway.istio-system.svc.cluster.local]" {
		t.Errorf("hosts %v gateways %v", hosts, gateways)
	}
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	route := http[0].(map[string]any)
	if route["timeout"] != "15s" || fmt.Sprint(route["retries"]) != "map[attempts:3 perTryTimeout:5s retryOn:gateway-error]" ||
		fmt.Sprint(route["match"]) != `[map[uri:map[regex:.*\.json$]]]` {
		t.Errorf("http route = %v", route)
	}
	for _, host := range []string{"podinfo-primary", "podinfo-canary"} {
		dr := getUnstructured(t, d, destinationRuleGVK, ns, host)
		checkOwned(t, c, dr)
		want := map[string]any{"host": host, "trafficPolicy": map[string]any{
			"tls": map[string]any{"mode": "ISTIO_MUTUAL"}, "connectionPool": map[string]any{"http": map[string]any{"http1MaxPendingRequests": int64(1024)}},
		}}
		if !equality.Semantic.DeepEqual(dr.Object["spec"], want) {
			t.Errorf("DestinationRule %s spec = %v, want %v", host, dr.Object["spec"], want)
		}
	}
}

// A/B puts the analysis match first; mirroring sets mirror and
// mirrorPercentage.
func TestIstioABTestingAndMirror(t *testing.T) {
	env.TrafficCRDs(t, testenv.Istio)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 10, MirrorWeight: 40,
			Match: []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"user-agent": {Regex: ".*Firefox.*"}}}}}
	})
	r := NewIstio(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 0, 100, true); err != nil {
		t.Fatal(err)
	}
	vs := getUnstructured(t, d, virtualServiceGVK, ns, "podinfo")
	if got := vsWeights(t, vs, 0); got != [2]int{0, 100} {
		t.Fatalf("A/B route routes %v", got)
	}
	if got := vsWeights(t, vs, 1); got != [2]int{100, 0} {
		t.Fatalf("the route for other requests routes %v", got)
	}
	http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
	first := http[0].(map[string]any)
	if fmt.Sprint(first["match"]) != "[map[headers:map[user-agent:map[regex:.*Firefox.*]]]]" ||
		fmt.Sprint(first["mirror"]) != "map[host:podinfo-canary port:map[number:9898]]" || fmt.Sprint(first["mirrorPercentage"]) != "map[value:40]" {
		t.Fatalf("A/B route = %v", first)
	}
	if p, cw, mirrored, err := r.GetRoutes(ctx, c); err != nil || p != 0 || cw != 100 || !mirrored {
		t.Fatalf("GetRoutes = %d, %d, %v, %v", p, cw, mirrored, err)
	}
}

// A VirtualService that existed before Warbler gets its spec back on
// Finalize.
func TestIstioFinalizeRestores(t *testing.T) {
	env.TrafficCRDs(t, testenv.Istio)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	before := createUnstructured(t, d, virtualServiceGVK, ns, "podinfo", nil, map[string]any{
		"hosts": []any{"podinfo"},
		"http":  []any{map[string]any{"route": []any{map[string]any{"destination": map[string]any{"host": "podinfo"}}}}},
	})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	r := NewIstio(d)
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoutes(ctx, c, 50, 50, false); err != nil {
		t.Fatal(err)
	}
	if got := vsWeights(t, getUnstructured(t, d, virtualServiceGVK, ns, "podinfo"), 0); got != [2]int{50, 50} {
		t.Fatalf("taken-over VirtualService routes %v", got)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	after := getUnstructured(t, d, virtualServiceGVK, ns, "podinfo")
	if !equality.Semantic.DeepEqual(after.Object["spec"], before.Object["spec"]) || len(after.GetAnnotations()) != 0 || len(after.GetOwnerReferences()) != 0 {
		t.Fatalf("Finalize left %v annotations %v owners %v, want %v", after.Object["spec"], after.GetAnnotations(), after.GetOwnerReferences(), before.Object["spec"])
	}
}
