package routers

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

func trafficSplitGVK(version string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "split.smi-spec.io", Version: version, Kind: "TrafficSplit"}
}

// splitWeights reads the primary and canary weights of a TrafficSplit as
// stored (v1alpha1 weights are quantities).
func splitWeights(t *testing.T, u *unstructured.Unstructured) [2]int {
	t.Helper()
	backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
	var out [2]int
	for _, b := range backends {
		m := b.(map[string]any)
		w := 0
		switch v := m["weight"].(type) {
		case int64:
			w = int(v)
		case string:
			q := resource.MustParse(v)
			w = int(q.Value())
		default:
			t.Fatalf("TrafficSplit weight %#v", v)
		}
		switch m["service"] {
		case "podinfo-primary":
			out[0] = w
		case "podinfo-canary":
			out[1] = w
		}
	}
	return out
}

func TestSMIWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.SMI)
	for provider, version := range map[string]string{
		SMIV1alpha1: "v1alpha1", SMIV1alpha2: "v1alpha2", SMIV1alpha3: "v1alpha3", Linkerd: "v1alpha1", OSM: "v1alpha2",
	} {
		t.Run(provider, func(t *testing.T) {
			ns := env.Namespace(t)
			d, _ := testDeps(t)
			c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.Service.Hosts = []string{"podinfo.example"} })
			r, err := New(provider, d)
			if err != nil {
				t.Fatal(err)
			}
			driveWeights(t, r, c, func(t *testing.T) [2]int {
				return splitWeights(t, getUnstructured(t, d, trafficSplitGVK(version), ns, "podinfo"))
			})
			u := getUnstructured(t, d, trafficSplitGVK(version), ns, "podinfo")
			if svc, _, _ := unstructured.NestedString(u.Object, "spec", "service"); svc != "podinfo.example" {
				t.Errorf("TrafficSplit service = %q, want hosts[0]", svc)
			}
			if version == "v1alpha1" {
				backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
				if w := backends[0].(map[string]any)["weight"]; w != "0" {
					t.Errorf("v1alpha1 weight = %#v, want the quantity \"0\"", w)
				}
			}
			checkOwned(t, c, u)
		})
	}
}

// A TrafficSplit that existed before Warbler gets its spec back on
// Finalize.
func TestSMIFinalizeRestores(t *testing.T) {
	env.TrafficCRDs(t, testenv.SMI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	gvk := trafficSplitGVK("v1alpha2")
	before := createUnstructured(t, d, gvk, ns, "podinfo", map[string]string{"owner": "team-a"}, map[string]any{
		"service": "podinfo", "backends": []any{map[string]any{"service": "podinfo-v1", "weight": int64(100)}},
	})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	r := NewSMIV1alpha2(d)
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoutes(ctx, c, 60, 40, false); err != nil {
		t.Fatal(err)
	}
	if got := splitWeights(t, getUnstructured(t, d, gvk, ns, "podinfo")); got != [2]int{60, 40} {
		t.Fatalf("taken-over TrafficSplit routes %v", got)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	after := getUnstructured(t, d, gvk, ns, "podinfo")
	if !equality.Semantic.DeepEqual(after.Object["spec"], before.Object["spec"]) || fmt.Sprint(after.GetLabels()) != fmt.Sprint(before.GetLabels()) || len(after.GetAnnotations()) != 0 {
		t.Fatalf("Finalize left spec %v labels %v annotations %v, want %v", after.Object["spec"], after.GetLabels(), after.GetAnnotations(), before.Object["spec"])
	}
}
