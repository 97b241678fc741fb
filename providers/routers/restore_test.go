package routers

import (
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// checkTakeOverAndRestore drives a router over an object that existed
// before Warbler (before, as stored): Reconcile takes it over (no owner,
// its state saved in OriginalAnnotation), the steps run through it, check
// (when set) looks at it mid-run, and Finalize gives back its spec, labels and
// annotations.
func checkTakeOverAndRestore(t *testing.T, d Deps, r Router, c *flaggerv1.Canary, before *unstructured.Unstructured, check func(*unstructured.Unstructured)) {
	t.Helper()
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := r.SetRoutes(ctx, c, 50, 50, false); err != nil {
		t.Fatal(err)
	}
	if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || p != 50 || cw != 50 {
		t.Fatalf("GetRoutes through the taken-over %s = %d, %d, %v", before.GetKind(), p, cw, err)
	}
	taken := getUnstructured(t, d, before.GroupVersionKind(), before.GetNamespace(), before.GetName())
	if len(taken.GetOwnerReferences()) != 0 || taken.GetAnnotations()[OriginalAnnotation] == "" {
		t.Fatalf("a %s that predates Warbler must keep no owner and carry %s: %v %v", before.GetKind(), OriginalAnnotation, taken.GetOwnerReferences(), taken.GetAnnotations())
	}
	if equality.Semantic.DeepEqual(taken.Object["spec"], before.Object["spec"]) {
		t.Fatalf("Warbler did not route through the taken-over %s: spec %v", before.GetKind(), taken.Object["spec"])
	}
	if check != nil {
		check(taken)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	after := getUnstructured(t, d, before.GroupVersionKind(), before.GetNamespace(), before.GetName())
	if !equality.Semantic.DeepEqual(after.Object["spec"], before.Object["spec"]) || fmt.Sprint(after.GetLabels()) != fmt.Sprint(before.GetLabels()) || len(after.GetAnnotations()) != 0 {
		t.Fatalf("Finalize left %v %v %v, want %v %v", after.Object["spec"], after.GetLabels(), after.GetAnnotations(), before.Object["spec"], before.GetLabels())
	}
}
