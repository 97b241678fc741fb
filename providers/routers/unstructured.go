package routers

import (
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The SMI, Emissary and Istio routers write unstructured objects, so that
// Warbler needs neither those projects' Go modules nor their types in its
// scheme. Specs are built as small local types and converted here.

func newUnstructured(gvk schema.GroupVersionKind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// setSpec replaces the spec of u with spec (a pointer to a struct, or a
// map), converted the way the API server returns it (integers as int64), so
// that an unchanged spec compares equal.
func setSpec(u *unstructured.Unstructured, spec any) error {
	m, ok := spec.(map[string]any)
	if !ok {
		var err error
		if m, err = runtime.DefaultUnstructuredConverter.ToUnstructured(spec); err != nil {
			return err
		}
	}
	u.Object["spec"] = m
	return nil
}

// specOf returns the spec of u, or an empty map.
func specOf(u *unstructured.Unstructured) map[string]any {
	if m, ok := u.Object["spec"].(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

// number reads a weight written as a JSON number or as a Kubernetes
// quantity ("100m", as SMI v1alpha1 allows).
func number(v any) (float64, error) {
	switch n := v.(type) {
	case int64:
		return float64(n), nil
	case float64:
		return n, nil
	case string:
		q, err := resource.ParseQuantity(n)
		if err != nil {
			return 0, err
		}
		return q.AsApproximateFloat64(), nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("%v is not a number", v)
}

// percentages turns two relative weights into percentages adding up to 100.
func percentages(primary, canary float64) (int, int) {
	if primary+canary <= 0 {
		return 100, 0
	}
	c := int(math.Round(100 * canary / (primary + canary)))
	return 100 - c, c
}

func itoa(n int) string { return strconv.Itoa(n) }
