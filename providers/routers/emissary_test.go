package routers

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

func mappingGVK(version string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: "getambassador.io", Version: version, Kind: "Mapping"}
}

// mappingWeights reads the split off the canary Mapping as stored: its
// weight goes to the canary, the rest to the primary Mapping.
func mappingWeights(t *testing.T, u *unstructured.Unstructured) [2]int {
	t.Helper()
	w, found, err := unstructured.NestedInt64(u.Object, "spec", "weight")
	if err != nil || !found {
		t.Fatalf("Mapping %s has no integer weight: %v", u.GetName(), u.Object["spec"])
	}
	return [2]int{100 - int(w), int(w)}
}

func TestEmissaryWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Emissary)
	for provider, version := range map[string]string{Emissary: "v3alpha1", AmbassadorV2: "v2"} {
		t.Run(provider, func(t *testing.T) {
			ns := env.Namespace(t)
			d, _ := testDeps(t)
			c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.Service.Hosts = []string{"podinfo.example.com"} })
			r, err := New(provider, d)
			if err != nil {
				t.Fatal(err)
			}
			driveWeights(t, r, c, func(t *testing.T) [2]int {
				return mappingWeights(t, getUnstructured(t, d, mappingGVK(version), ns, "podinfo-canary"))
			})
			primary := getUnstructured(t, d, mappingGVK(version), ns, "podinfo")
			canary := getUnstructured(t, d, mappingGVK(version), ns, "podinfo-canary")
			hostKey := map[string]string{"v3alpha1": "hostname", "v2": "host"}[version]
			for _, m := range []struct {
				u       *unstructured.Unstructured
				service string
			}{{primary, "podinfo-primary." + ns + ":9898"}, {canary, "podinfo-canary." + ns + ":9898"}} {
				spec := m.u.Object["spec"].(map[string]any)
				if spec["service"] != m.service || spec["prefix"] != "/" || spec[hostKey] != "podinfo.example.com" {
					t.Errorf("Mapping %s spec = %v, want prefix /, %s podinfo.example.com, service %s", m.u.GetName(), spec, hostKey, m.service)
				}
				checkOwned(t, c, m.u)
			}
		})
	}
}

// Seed 001: the user's Mapping sampleapp keeps its prefix and routes to
// the primary; Warbler adds sampleapp-canary with the weight, as
// canarize.py did by hand; Finalize gives the user's Mapping back.
func TestEmissarySeed001(t *testing.T) {
	env.TrafficCRDs(t, testenv.Emissary)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	gvk := mappingGVK("v2")
	before := createUnstructured(t, d, gvk, ns, "sampleapp", map[string]string{"app": "sampleapp"}, map[string]any{
		"prefix": "/", "service": "sampleapp", "timeout_ms": int64(10000),
	})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Name, c.Spec.TargetRef.Name, c.Spec.RevertOnDeletion = "sampleapp", "sampleapp", true
		c.Spec.Service.Port = 8080
	})
	r, _ := New(AmbassadorV2, d)
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	primary := getUnstructured(t, d, gvk, ns, "sampleapp")
	if s := primary.Object["spec"].(map[string]any); s["service"] != "sampleapp-primary."+ns+":8080" || s["prefix"] != "/" || s["timeout_ms"] != int64(10000) {
		t.Fatalf("taken-over Mapping spec = %v", s)
	}
	if len(primary.GetOwnerReferences()) != 0 || primary.GetAnnotations()[OriginalAnnotation] == "" {
		t.Fatalf("a Mapping that predates Warbler must keep no owner and carry %s: %v %v", OriginalAnnotation, primary.GetOwnerReferences(), primary.GetAnnotations())
	}
	for _, w := range []int{10, 20, 30} {
		if err := r.SetRoutes(ctx, c, 100-w, w, false); err != nil {
			t.Fatal(err)
		}
		canary := getUnstructured(t, d, gvk, ns, "sampleapp-canary")
		want := map[string]any{"prefix": "/", "service": "sampleapp-canary." + ns + ":8080", "timeout_ms": int64(10000), "weight": int64(w)}
		if !equality.Semantic.DeepEqual(canary.Object["spec"], want) || canary.GetLabels()["app"] != "sampleapp" {
			t.Fatalf("canary Mapping at %d%% = %v labels %v, want %v", w, canary.Object["spec"], canary.GetLabels(), want)
		}
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	after := getUnstructured(t, d, gvk, ns, "sampleapp")
	if !equality.Semantic.DeepEqual(after.Object["spec"], before.Object["spec"]) || fmt.Sprint(after.GetLabels()) != fmt.Sprint(before.GetLabels()) || len(after.GetAnnotations()) != 0 {
		t.Fatalf("Finalize left %v %v %v, want %v", after.Object["spec"], after.GetLabels(), after.GetAnnotations(), before.Object["spec"])
	}
}

// Mirroring turns the canary Mapping into a shadow of mirrorWeight
// percent; A/B conditions become its headers.
func TestEmissaryMirrorAndABTesting(t *testing.T) {
	env.TrafficCRDs(t, testenv.Emissary)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 5, Mirror: true, MirrorWeight: 25,
			Match: []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"x-user": {Exact: "beta"}, "x-region": {Prefix: "eu-"}}}}}
	})
	r := NewEmissaryV3alpha1(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 100, 0, true); err != nil {
		t.Fatal(err)
	}
	spec := getUnstructured(t, d, mappingGVK("v3alpha1"), ns, "podinfo-canary").Object["spec"].(map[string]any)
	if spec["shadow"] != true || spec["weight"] != int64(25) {
		t.Fatalf("mirroring canary Mapping = %v, want shadow with weight 25", spec)
	}
	if p, cw, mirrored, err := r.GetRoutes(ctx, c); err != nil || p != 100 || cw != 0 || !mirrored {
		t.Fatalf("GetRoutes = %d, %d, %v, %v", p, cw, mirrored, err)
	}
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	spec = getUnstructured(t, d, mappingGVK("v3alpha1"), ns, "podinfo-canary").Object["spec"].(map[string]any)
	headers, _ := spec["headers"].(map[string]any)
	regex, _ := spec["regex_headers"].(map[string]any)
	if spec["shadow"] != nil || spec["weight"] != int64(100) || headers["x-user"] != "beta" || regex["x-region"] != "^eu-.*" {
		t.Fatalf("A/B canary Mapping = %v", spec)
	}
}
