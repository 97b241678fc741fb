package routers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// TrafficRoutes are cluster-scoped: the tests name the apex service after
// their namespace so that they do not meet.
func kumaCanary(t *testing.T, ns string, edit func(*flaggerv1.Canary)) *flaggerv1.Canary {
	return createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Service.Name = ns
		c.Annotations = map[string]string{"kuma.io/mesh": "payments"}
		if edit != nil {
			edit(c)
		}
	})
}

func kumaSplitWeights(t *testing.T, c *flaggerv1.Canary, list []any, key func(map[string]any) string) [2]int {
	t.Helper()
	w, err := namedWeights(list, key)
	if err != nil {
		t.Fatal(err)
	}
	return [2]int{int(w[kumaService(c, primaryService(c))]), int(w[kumaService(c, canaryService(c))])}
}

func TestKumaTrafficRouteWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Kuma)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := kumaCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	r, _ := New(Kuma, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		list, _, _ := unstructured.NestedSlice(getUnstructured(t, d, trafficRouteGVK, "", ns).Object, "spec", "conf", "split")
		return kumaSplitWeights(t, c, list, func(m map[string]any) string { return field(m, "destination", "kuma.io/service") })
	})
	u := getUnstructured(t, d, trafficRouteGVK, "", ns)
	if u.Object["mesh"] != "payments" || u.GetAnnotations()[CreatedForAnnotation] != string(c.UID) || len(u.GetOwnerReferences()) != 0 {
		t.Errorf("TrafficRoute mesh %v annotations %v owners %v, want mesh payments and the Canary's UID in %s",
			u.Object["mesh"], u.GetAnnotations(), u.GetOwnerReferences(), CreatedForAnnotation)
	}
	wantSpec := map[string]any{
		"sources":      []any{map[string]any{"match": map[string]any{"kuma.io/service": "*"}}},
		"destinations": []any{map[string]any{"match": map[string]any{"kuma.io/service": ns + "_" + ns + "_svc_9898"}}},
		"conf": map[string]any{"split": []any{
			map[string]any{"weight": int64(100), "destination": map[string]any{"kuma.io/service": ns + "-primary_" + ns + "_svc_9898"}},
			map[string]any{"weight": int64(0), "destination": map[string]any{"kuma.io/service": ns + "-canary_" + ns + "_svc_9898"}},
		}},
	}
	if !equality.Semantic.DeepEqual(u.Object["spec"], wantSpec) {
		t.Errorf("TrafficRoute spec = %v\nwant %v", u.Object["spec"], wantSpec)
	}
	// Another canary cannot take the name over.
	other := createCanary(t, env.Namespace(t), func(o *flaggerv1.Canary) { o.Spec.Service.Name = ns })
	if err := r.Reconcile(testCtx(t), other); err == nil {
		t.Errorf("a second canary with the same apex service took TrafficRoute %s over", ns)
	}
	// Garbage collection cannot delete it (no owner reference), Finalize does.
	if err := r.Finalize(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	if err := d.Client.Get(testCtx(t), client.ObjectKeyFromObject(u), u); !apierrors.IsNotFound(err) {
		t.Errorf("TrafficRoute %s after Finalize: %v, want it deleted", ns, err)
	}
}

func TestKumaTrafficRouteFinalizeRestoresTrafficRoute(t *testing.T) {
	env.TrafficCRDs(t, testenv.Kuma)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	before := newUnstructured(trafficRouteGVK, "", ns)
	before.Object["mesh"] = "default"
	before.Object["spec"] = map[string]any{"conf": map[string]any{"destination": map[string]any{"kuma.io/service": "legacy"}}}
	if err := d.Client.Create(testCtx(t), before); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Client.Delete(testCtx(t), before) })
	before = getUnstructured(t, d, trafficRouteGVK, "", ns)
	c := kumaCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	checkTakeOverAndRestore(t, d, NewKumaTrafficRoute(d), c, before, nil)
}

func meshHTTPRules(t *testing.T, d Deps, ns string) []any {
	t.Helper()
	to, _, _ := unstructured.NestedSlice(getUnstructured(t, d, meshHTTPRouteGVK, ns, "podinfo").Object, "spec", "to")
	rules, _, _ := unstructured.NestedSlice(to[0].(map[string]any), "rules")
	return rules
}

func ruleWeights(t *testing.T, c *flaggerv1.Canary, rule any) [2]int {
	t.Helper()
	refs, _, _ := unstructured.NestedSlice(rule.(map[string]any), "default", "backendRefs")
	return kumaSplitWeights(t, c, refs, func(m map[string]any) string { return field(m, "name") })
}

func TestKumaMeshHTTPRouteWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Kuma)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Annotations = map[string]string{"kuma.io/mesh": "payments"} })
	r, _ := New(KumaMeshHTTPRoute, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int { return ruleWeights(t, c, meshHTTPRules(t, d, ns)[0]) })
	u := getUnstructured(t, d, meshHTTPRouteGVK, ns, "podinfo")
	checkOwned(t, c, u)
	svc := func(name string) string { return name + "_" + ns + "_svc_9898" }
	want := map[string]any{
		"targetRef": map[string]any{"kind": "Mesh"},
		"to": []any{map[string]any{
			"targetRef": map[string]any{"kind": "MeshService", "name": svc("podinfo")},
			"rules": []any{map[string]any{
				"matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/"}}},
				"default": map[string]any{"backendRefs": []any{
					map[string]any{"kind": "MeshService", "name": svc("podinfo-primary"), "weight": int64(100)},
					map[string]any{"kind": "MeshService", "name": svc("podinfo-canary"), "weight": int64(0)},
				}},
			}},
		}},
	}
	if !equality.Semantic.DeepEqual(u.Object["spec"], want) || u.GetLabels()["kuma.io/mesh"] != "payments" {
		t.Errorf("MeshHTTPRoute labels %v spec = %v\nwant %v", u.GetLabels(), u.Object["spec"], want)
	}
}

// A/B testing with MeshHTTPRoute, which Flagger cannot do with Kuma: a rule
// matching the conditions carries the split, a rule on the path alone
// keeps the rest on the primary.
func TestKumaMeshHTTPRouteABTesting(t *testing.T) {
	env.TrafficCRDs(t, testenv.Kuma)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 10, Match: []flaggerv1.HTTPMatchRequest{
			{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "insider"}, "x-region": {Prefix: "eu-"}}},
			{QueryParams: map[string]flaggerv1.StringMatch{"beta": {Regex: "^(1|yes)$"}}, Method: &flaggerv1.StringMatch{Exact: "GET"}},
		}}
	})
	r := NewKumaMeshHTTPRoute(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	rules := meshHTTPRules(t, d, ns)
	if len(rules) != 2 || ruleWeights(t, c, rules[0]) != [2]int{0, 100} || ruleWeights(t, c, rules[1]) != [2]int{100, 0} {
		t.Fatalf("rules = %v, want the A/B rule at 0/100 and the rest at 100/0", rules)
	}
	prefix := map[string]any{"type": "PathPrefix", "value": "/"}
	wantMatches := []any{
		map[string]any{"path": prefix, "headers": []any{
			map[string]any{"type": "Exact", "name": "x-canary", "value": "insider"},
			map[string]any{"type": "Prefix", "name": "x-region", "value": "eu-"},
		}},
		map[string]any{"path": prefix, "method": "GET", "queryParams": []any{map[string]any{"type": "RegularExpression", "name": "beta", "value": "^(1|yes)$"}}},
	}
	if m := rules[0].(map[string]any)["matches"]; !equality.Semantic.DeepEqual(m, wantMatches) {
		t.Errorf("A/B matches = %v\nwant %v", m, wantMatches)
	}
	if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || p != 0 || cw != 100 {
		t.Errorf("GetRoutes = %d, %d, %v", p, cw, err)
	}
}

func TestKumaMeshHTTPRouteFinalizeRestoresMeshHTTPRoute(t *testing.T) {
	env.TrafficCRDs(t, testenv.Kuma)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	before := createUnstructured(t, d, meshHTTPRouteGVK, ns, "podinfo", map[string]string{"kuma.io/mesh": "default"}, map[string]any{
		"targetRef": map[string]any{"kind": "Mesh"},
		"to": []any{map[string]any{"targetRef": map[string]any{"kind": "MeshService", "name": "podinfo_" + ns + "_svc_9898"},
			"rules": []any{map[string]any{"matches": []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/api"}}},
				"default": map[string]any{"backendRefs": []any{map[string]any{"kind": "MeshService", "name": "legacy", "weight": int64(1)}}}}}}},
	})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	checkTakeOverAndRestore(t, d, NewKumaMeshHTTPRoute(d), c, before, nil)
}
