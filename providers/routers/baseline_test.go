package routers

import (
	"strconv"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// weightsOf reads "service -> weight" from a list of backends or
// destinations, with name and weight found by the two functions.
func weightsOf(items []any, name func(map[string]any) string, weight func(map[string]any) int) [3]int {
	var out [3]int
	for _, it := range items {
		m := it.(map[string]any)
		switch name(m) {
		case "podinfo-primary":
			out[0] = weight(m)
		case "podinfo-canary":
			out[1] = weight(m)
		case "podinfo-baseline":
			out[2] = weight(m)
		}
	}
	return out
}

func intWeight(key ...string) func(map[string]any) int {
	return func(m map[string]any) int {
		switch v := nestedAny(m, key...).(type) {
		case int64:
			return int(v)
		case string:
			n, _ := strconv.Atoi(v)
			return n
		}
		return -1
	}
}

func stringAt(key ...string) func(map[string]any) string {
	return func(m map[string]any) string { s, _ := nestedAny(m, key...).(string); return s }
}

func nestedAny(m map[string]any, key ...string) any {
	v, _, _ := unstructured.NestedFieldNoCopy(m, key...)
	return v
}

// The routers that split three ways give the baseline its share out of the
// primary's, keep it when they correct drift, read it back, and drop it
// when a two-way split comes; the others are not BaselineRouters.
func TestBaselineSplits(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI, testenv.Istio, testenv.SMI, testenv.Emissary)
	type observer func(t *testing.T, d Deps, ns string) [3]int
	unstructuredList := func(gvk schema.GroupVersionKind, name string, path ...string) func(t *testing.T, d Deps, ns string) []any {
		return func(t *testing.T, d Deps, ns string) []any {
			u := getUnstructured(t, d, gvk, ns, name)
			items, _, _ := unstructured.NestedSlice(u.Object, path...)
			return items
		}
	}
	vs := unstructuredList(virtualServiceGVK, "podinfo", "spec", "http")
	cases := map[string]observer{
		GatewayAPIV1: func(t *testing.T, d Deps, ns string) [3]int {
			rule := ruleNamed(t, getRoute(t, d, ns, "podinfo"), ruleWeighted)
			var out [3]int
			for _, b := range rule.BackendRefs {
				w := int(ptr.Deref(b.Weight, 1))
				switch b.Name {
				case "podinfo-primary":
					out[0] = w
				case "podinfo-canary":
					out[1] = w
				case "podinfo-baseline":
					out[2] = w
				}
			}
			return out
		},
		Istio: func(t *testing.T, d Deps, ns string) [3]int {
			http := vs(t, d, ns)
			routes, _, _ := unstructured.NestedSlice(http[0].(map[string]any), "route")
			return weightsOf(routes, stringAt("destination", "host"), intWeight("weight"))
		},
		SMIV1alpha2: func(t *testing.T, d Deps, ns string) [3]int {
			return weightsOf(unstructuredList(trafficSplitGVK("v1alpha2"), "podinfo", "spec", "backends")(t, d, ns), stringAt("service"), intWeight("weight"))
		},
		Linkerd: func(t *testing.T, d Deps, ns string) [3]int {
			return weightsOf(unstructuredList(trafficSplitGVK("v1alpha1"), "podinfo", "spec", "backends")(t, d, ns), stringAt("service"), intWeight("weight"))
		},
		Emissary: func(t *testing.T, d Deps, ns string) [3]int {
			canary := mappingWeights(t, getUnstructured(t, d, mappingGVK("v3alpha1"), ns, "podinfo-canary"))
			b := newUnstructured(mappingGVK("v3alpha1"), ns, "podinfo-baseline")
			err := d.Client.Get(testCtx(t), client.ObjectKeyFromObject(b), b)
			if apierrors.IsNotFound(err) {
				return [3]int{canary[0], canary[1], 0}
			}
			if err != nil {
				t.Fatal(err)
			}
			if svc, _, _ := unstructured.NestedString(b.Object, "spec", "service"); svc != "podinfo-baseline."+ns+":9898" {
				t.Errorf("baseline Mapping service %q", svc)
			}
			w := mappingWeights(t, b)[1]
			return [3]int{canary[0] - w, canary[1], w}
		},
	}
	for provider, observe := range cases {
		t.Run(provider, func(t *testing.T) {
			ns := env.Namespace(t)
			d, _ := testDeps(t)
			c := createCanary(t, ns, func(c *flaggerv1.Canary) {
				c.Spec.Service.GatewayRefs = []flaggerv1.ParentReference{{Name: "public"}}
				c.Spec.Analysis.Baseline = &flaggerv1.CanaryBaseline{Enabled: true}
			})
			r, err := New(provider, d)
			if err != nil {
				t.Fatal(err)
			}
			br, ok := r.(BaselineRouter)
			if !ok {
				t.Fatalf("%s is not a BaselineRouter", provider)
			}
			ctx := testCtx(t)
			if err := r.Reconcile(ctx, c); err != nil {
				t.Fatal(err)
			}
			for _, step := range [][3]int{{80, 10, 10}, {60, 20, 20}, {0, 50, 50}} {
				if err := br.SetBaselineRoutes(ctx, c, step[0], step[1], step[2]); err != nil {
					t.Fatal(err)
				}
				if err := r.Reconcile(ctx, c); err != nil {
					t.Fatal(err)
				}
				if got := observe(t, d, ns); got != step {
					t.Fatalf("after SetBaselineRoutes%v and Reconcile the object routes %v", step, got)
				}
				if provider == GatewayAPIV1 {
					acceptRoute(t, d, ns, "podinfo", metav1.ConditionTrue, current)
				}
				p, cw, _, err := r.GetRoutes(ctx, c)
				b, berr := br.GetBaselineRoute(ctx, c)
				if err != nil || berr != nil || [3]int{p, cw, b} != step {
					t.Fatalf("read back %d/%d/%d (%v, %v), want %v", p, cw, b, err, berr, step)
				}
			}
			if err := r.SetRoutes(ctx, c, 50, 50, false); err != nil {
				t.Fatal(err)
			}
			if got := observe(t, d, ns); got != [3]int{50, 50, 0} {
				t.Fatalf("a two-way split after the baseline's routes %v", got)
			}
			if err := br.SetBaselineRoutes(ctx, c, 50, 30, 30); err == nil {
				t.Error("weights adding up to 110 were accepted")
			}
		})
	}
	for _, p := range []string{Kubernetes, NGINX} {
		if _, ok := constructors[p](Deps{}).(BaselineRouter); ok {
			t.Errorf("%s claims to split traffic three ways", p)
		}
	}
	if got := BaselineProviders(); len(got) != 15 {
		t.Errorf("BaselineProviders() = %v", got)
	}
}
