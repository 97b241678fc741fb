package routers

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
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

// plain converts a value built from local types into the maps, slices,
// strings, int64 and bools of an unstructured object, as the API server
// returns them, so that an unchanged part compares equal.
func plain(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = utiljson.Unmarshal(data, &out)
	return out, err
}

// keepSplit is the split a write leaves: the one asked for, else the one
// the object has (read by have), else everything on the primary.
func keepSplit(want *split, have func() (split, bool)) split {
	if want != nil {
		return *want
	}
	if s, ok := have(); ok {
		return s
	}
	return split{primary: 100}
}

// namedWeights reads the weight of each entry of a list of backends, keyed
// by the name key finds in the entry; a missing weight is 0.
func namedWeights(list []any, key func(map[string]any) string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, e := range list {
		m, _ := e.(map[string]any)
		name := key(m)
		w, err := number(m["weight"])
		if err != nil {
			return nil, fmt.Errorf("backend %s: weight: %w", name, err)
		}
		out[name] += w
	}
	return out, nil
}

// splitOf turns the weights of the primary and canary backends into
// percentages; ok is false unless both are listed.
func splitOf(weights map[string]float64, primary, canary string) (split, bool) {
	p, hasP := weights[primary]
	c, hasC := weights[canary]
	if !hasP || !hasC {
		return split{}, false
	}
	pw, cw := percentages(p, c)
	return split{primary: pw, canary: cw}, true
}

// field reads a string at a path of nested maps, or "".
func field(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

// weightsRead turns what GetRoutes read from a traffic object into its
// results; a parse error or a missing split names the object.
func weightsRead(object string, s split, ok bool, err error, missing string) (int, int, bool, error) {
	switch {
	case err != nil:
		return 0, 0, false, fmt.Errorf("%s: %w", object, err)
	case !ok:
		return 0, 0, false, fmt.Errorf("%s has no %s: Reconcile writes it", object, missing)
	}
	return s.primary, s.canary, false, nil
}
