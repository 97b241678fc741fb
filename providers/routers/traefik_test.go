package routers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

func traefikWeighted(t *testing.T, d Deps, ns string) []any {
	t.Helper()
	services, _, _ := unstructured.NestedSlice(getUnstructured(t, d, traefikServiceGVK, ns, "podinfo").Object, "spec", "weighted", "services")
	return services
}

// The canary is listed only while it gets traffic (Traefik fails a
// TraefikService whose Kubernetes service has no endpoints); the primary
// always, with an explicit weight.
func TestTraefikWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Traefik)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, nil)
	r, _ := New(Traefik, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		services := traefikWeighted(t, d, ns)
		w := serviceWeights(t, services, func(m map[string]any) string { return field(m, "name") })
		if listed := len(services) == 2; listed != (w[1] > 0) {
			t.Fatalf("TraefikService lists %v at %v: the canary belongs there exactly while it gets traffic", services, w)
		}
		return w
	})
	checkOwned(t, c, getUnstructured(t, d, traefikServiceGVK, ns, "podinfo"))
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	want := []any{
		map[string]any{"name": "podinfo-primary", "namespace": ns, "port": int64(9898), "weight": int64(0)},
		map[string]any{"name": "podinfo-canary", "namespace": ns, "port": int64(9898), "weight": int64(100)},
	}
	if got := traefikWeighted(t, d, ns); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("weighted services at 0/100 = %v, want %v", got, want)
	}
}

// A TraefikService the user wrote keeps its sticky cookie and comes back
// with Finalize.
func TestTraefikFinalizeRestoresTraefikService(t *testing.T) {
	env.TrafficCRDs(t, testenv.Traefik)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	before := createUnstructured(t, d, traefikServiceGVK, ns, "podinfo", nil, map[string]any{"weighted": map[string]any{
		"services": []any{map[string]any{"name": "podinfo", "port": int64(9898)}},
		"sticky":   map[string]any{"cookie": map[string]any{"name": "lvl"}},
	}})
	c := createCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.RevertOnDeletion = true })
	checkTakeOverAndRestore(t, d, NewTraefik(d), c, before, func(u *unstructured.Unstructured) {
		if field(u.Object, "spec", "weighted", "sticky", "cookie", "name") != "lvl" {
			t.Errorf("the sticky cookie of the taken-over TraefikService is gone: %v", u.Object["spec"])
		}
	})
}
