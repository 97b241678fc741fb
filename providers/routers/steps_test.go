package routers

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// driveWeights runs a router through Reconcile and the weight steps, and
// checks after each call the split that observe reads from the stored
// object, and what GetRoutes reports.
func driveWeights(t *testing.T, r Router, c *flaggerv1.Canary, observe func(t *testing.T) [2]int) {
	t.Helper()
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := observe(t); got != [2]int{100, 0} {
		t.Fatalf("after Reconcile the object routes %v, want all traffic on the primary", got)
	}
	for _, step := range weightSteps() {
		if err := r.SetRoutes(ctx, c, step[0], step[1], false); err != nil {
			t.Fatal(err)
		}
		if got := observe(t); got != step {
			t.Fatalf("after SetRoutes(%d, %d) the object routes %v", step[0], step[1], got)
		}
		if err := r.Reconcile(ctx, c); err != nil {
			t.Fatal(err)
		}
		p, cw, mirrored, err := r.GetRoutes(ctx, c)
		if err != nil || [2]int{p, cw} != step || mirrored {
			t.Fatalf("GetRoutes after SetRoutes(%d, %d) and Reconcile = %d, %d, %v, %v", step[0], step[1], p, cw, mirrored, err)
		}
	}
}

// getUnstructured reads an object of any kind.
func getUnstructured(t *testing.T, d Deps, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := d.Client.Get(testCtx(t), client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		t.Fatalf("reading %s %s.%s: %v", gvk.Kind, name, ns, err)
	}
	return u
}

// createUnstructured stores an object written as YAML-like maps.
func createUnstructured(t *testing.T, d Deps, gvk schema.GroupVersionKind, ns, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	t.Helper()
	u := newUnstructured(gvk, ns, name)
	u.SetLabels(labels)
	u.Object["spec"] = spec
	if err := d.Client.Create(testCtx(t), u); err != nil {
		t.Fatalf("creating %s %s: %v", gvk.Kind, name, err)
	}
	return getUnstructured(t, d, gvk, ns, name)
}

// checkOwned fails unless the object is controlled by the Canary and
// carries the toolkit annotations.
func checkOwned(t *testing.T, c *flaggerv1.Canary, u *unstructured.Unstructured) {
	t.Helper()
	refs := u.GetOwnerReferences()
	if len(refs) != 1 || refs[0].UID != c.UID || refs[0].Controller == nil || !*refs[0].Controller {
		t.Errorf("%s %s owner references = %+v, want the Canary as controller", u.GetKind(), u.GetName(), refs)
	}
	for k, v := range ToolkitAnnotations {
		if u.GetAnnotations()[k] != v {
			t.Errorf("%s %s annotation %s = %q, want %q", u.GetKind(), u.GetName(), k, u.GetAnnotations()[k], v)
		}
	}
}
