package routers

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The canary Ingress repeats the user's path to the apex service for the
// primary and the canary; backend-weights carries the split, and the
// route is preferred (Weight(100)) while the canary gets traffic and off
// (False()) otherwise; the user's predicates follow.
func TestSkipperWeightSteps(t *testing.T) {
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	src := sourceIngress(t, d, ns)
	src.Annotations[skipperPredicate] = `Header("X-Env", "prod")`
	if err := d.Client.Update(testCtx(t), src); err != nil {
		t.Fatal(err)
	}
	c := ingressCanary(t, ns, nil)
	r, _ := New(Skipper, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		a := getIngress(t, d, ns, "podinfo-canary").Annotations
		var w map[string]int
		if err := json.Unmarshal([]byte(a[skipperWeights]), &w); err != nil || len(w) != 2 {
			t.Fatalf("annotation %s = %q: %v", skipperWeights, a[skipperWeights], err)
		}
		wantPredicate := `Weight(100) && Header("X-Env", "prod")`
		if w["podinfo-canary"] == 0 {
			wantPredicate = `False() && Header("X-Env", "prod")`
		}
		if a[skipperPredicate] != wantPredicate {
			t.Fatalf("predicate at %v = %q, want %q", w, a[skipperPredicate], wantPredicate)
		}
		return [2]int{w["podinfo-primary"], w["podinfo-canary"]}
	})
	ing := getIngress(t, d, ns, "podinfo-canary")
	var backends []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		backends = append(backends, p.Path+" "+p.Backend.Service.Name)
	}
	if want := []string{"/ podinfo-primary", "/ podinfo-canary", "/static static"}; len(backends) != 3 || backends[0] != want[0] || backends[1] != want[1] || backends[2] != want[2] {
		t.Errorf("canary Ingress paths = %v, want %v", backends, want)
	}
	if ref := metav1.GetControllerOf(ing); ref == nil || ref.UID != c.UID || ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "8m" {
		t.Errorf("canary Ingress controller %+v annotations %v", ref, ing.Annotations)
	}
	if src := getIngress(t, d, ns, "podinfo"); src.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "podinfo" || len(src.Spec.Rules[0].HTTP.Paths) != 2 {
		t.Errorf("the user's Ingress changed: %+v", src.Spec)
	}
	if err := r.Finalize(testCtx(t), c); err != nil {
		t.Errorf("Finalize = %v", err)
	}
}

// An Ingress with no path to the apex service cannot be split.
func TestSkipperNeedsAPathToTheApexService(t *testing.T) {
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	sourceIngress(t, d, ns)
	c := ingressCanary(t, ns, func(c *flaggerv1.Canary) { c.Spec.Service.Name = "frontend" })
	err := NewSkipper(d).Reconcile(testCtx(t), c)
	if err == nil || err.Error() != "canary podinfo."+ns+": spec.ingressRef Ingress podinfo."+ns+" has no path to service frontend; skipper splits the paths to the apex service" {
		t.Fatalf("Reconcile = %v", err)
	}
}
