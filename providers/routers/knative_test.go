package routers

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// knativeCanary is a canary of the Knative Service podinfo.
func knativeCanary(t *testing.T, ns string) *flaggerv1.Canary {
	return createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Provider = Knative
		c.Spec.TargetRef = flaggerv1.LocalObjectReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "podinfo"}
	})
}

// createKnativeService stores the Knative Service podinfo with traffic (nil
// for none) and, when latest is set, a status naming its latest revision,
// as Knative would write it.
func createKnativeService(t *testing.T, d Deps, ns string, traffic []any, latest string) *unstructured.Unstructured {
	t.Helper()
	spec := map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
		map[string]any{"image": "ghcr.io/stefanprodan/podinfo:6.0.0"},
	}}}}
	if traffic != nil {
		spec["traffic"] = traffic
	}
	u := createUnstructured(t, d, KnativeServiceGVK, ns, "podinfo", nil, spec)
	if latest != "" {
		u.Object["status"] = map[string]any{"latestCreatedRevisionName": latest, "latestReadyRevisionName": latest}
		if err := d.Client.Status().Update(testCtx(t), u); err != nil {
			t.Fatalf("writing the status of Knative Service podinfo: %v", err)
		}
	}
	return getUnstructured(t, d, KnativeServiceGVK, ns, "podinfo")
}

// knativeTraffic reads spec.traffic as "<latest|revision>=<percent>" terms.
func knativeTraffic(t *testing.T, d Deps, ns string) string {
	t.Helper()
	u := getUnstructured(t, d, KnativeServiceGVK, ns, "podinfo")
	traffic, _, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	var terms []string
	for _, e := range traffic {
		m := e.(map[string]any)
		target := fmt.Sprint(m["revisionName"])
		if m["latestRevision"] == true {
			target = "latest"
		}
		terms = append(terms, fmt.Sprintf("%s=%v", target, m["percent"]))
	}
	return strings.Join(terms, " ")
}

// The knative router splits the Knative Service's own traffic between the
// latest revision and the one recorded as primary, every step, and puts
// the original traffic back on Finalize.
func TestKnativeWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.Knative)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	original := []any{map[string]any{"latestRevision": true, "percent": int64(100), "tag": "current"}}
	createKnativeService(t, d, ns, original, "podinfo-00001")
	c := knativeCanary(t, ns)
	r, err := New(Knative, d)
	if err != nil {
		t.Fatal(err)
	}
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		var p, cw int
		if _, err := fmt.Sscanf(knativeTraffic(t, d, ns), "latest=%d podinfo-00001=%d", &cw, &p); err != nil {
			t.Fatalf("traffic %q: %v", knativeTraffic(t, d, ns), err)
		}
		return [2]int{p, cw}
	})
	u := getUnstructured(t, d, KnativeServiceGVK, ns, "podinfo")
	if got := u.GetAnnotations()[KnativePrimaryRevision]; got != "podinfo-00001" {
		t.Errorf("annotation %s = %q, want the latest revision at the first Reconcile", KnativePrimaryRevision, got)
	}
	if len(u.GetOwnerReferences()) != 0 {
		t.Errorf("the target Knative Service got owner references %v: deleting the Canary would delete it", u.GetOwnerReferences())
	}

	// a new revision is the canary; the primary stays until promotion
	u.Object["status"] = map[string]any{"latestCreatedRevisionName": "podinfo-00002"}
	if err := d.Client.Status().Update(testCtx(t), u); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoutes(testCtx(t), c, 80, 20, false); err != nil {
		t.Fatal(err)
	}
	if got := knativeTraffic(t, d, ns); got != "latest=20 podinfo-00001=80" {
		t.Errorf("traffic with a new revision = %q, want latest=20 podinfo-00001=80", got)
	}

	if err := r.Finalize(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	u = getUnstructured(t, d, KnativeServiceGVK, ns, "podinfo")
	traffic, _, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	if fmt.Sprint(traffic) != fmt.Sprint(original) {
		t.Errorf("traffic after Finalize %v, want the original %v", traffic, original)
	}
	for _, a := range []string{KnativePrimaryRevision, knativeOriginalTraffic} {
		if _, ok := u.GetAnnotations()[a]; ok {
			t.Errorf("annotation %s left after Finalize: %v", a, u.GetAnnotations())
		}
	}
}

// A Knative Service without a revision yet is waited for; with no traffic
// of its own, Finalize leaves it with none (all to the latest revision).
func TestKnativeWithoutRevisionAndTraffic(t *testing.T) {
	env.TrafficCRDs(t, testenv.Knative)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	createKnativeService(t, d, ns, nil, "")
	c := knativeCanary(t, ns)
	r := NewKnative(d)
	if err := r.Reconcile(testCtx(t), c); !errors.Is(err, ErrRouteNotReady) || !strings.Contains(err.Error(), "latestCreatedRevisionName") {
		t.Fatalf("Reconcile before Knative made a revision = %v, want ErrRouteNotReady naming status.latestCreatedRevisionName", err)
	}
	u := getUnstructured(t, d, KnativeServiceGVK, ns, "podinfo")
	u.Object["status"] = map[string]any{"latestCreatedRevisionName": "podinfo-00001"}
	if err := d.Client.Status().Update(testCtx(t), u); err != nil {
		t.Fatal(err)
	}
	if err := r.Reconcile(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	if got := knativeTraffic(t, d, ns); got != "latest=0 podinfo-00001=100" {
		t.Errorf("traffic after Reconcile = %q, want latest=0 podinfo-00001=100", got)
	}
	if err := r.Finalize(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	if got := knativeTraffic(t, d, ns); got != "" {
		t.Errorf("traffic after Finalize = %q, want none, as before Warbler", got)
	}

	bad := c.DeepCopy()
	bad.Spec.Analysis.Mirror = true
	if err := r.Reconcile(testCtx(t), bad); err == nil || !strings.Contains(err.Error(), "remove analysis.mirror") {
		t.Errorf("Reconcile with analysis.mirror = %v, want a refusal naming it", err)
	}
}
