package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// OriginalAnnotation holds, on an object that existed before Warbler took
// it over, its labels, annotations and spec from before, as JSON. Finalize
// (revertOnDeletion) puts them back.
const OriginalAnnotation = "warbler.dev/original"

// lastApplied is kubectl's copy of the applied manifest: left out of the
// saved state because it is large and kubectl keeps it current itself.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// original is what OriginalAnnotation holds.
type original struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Spec        json.RawMessage   `json:"spec,omitempty"`
}

// saveOriginal encodes the labels, annotations and spec of obj.
func saveOriginal(obj client.Object) (string, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return "", err
	}
	spec, err := json.Marshal(m["spec"])
	if err != nil {
		return "", err
	}
	annotations := maps.Clone(obj.GetAnnotations())
	delete(annotations, lastApplied)
	out, err := json.Marshal(original{Labels: obj.GetLabels(), Annotations: annotations, Spec: spec})
	return string(out), err
}

// restore puts back the state saved when Warbler adopted the object named
// by obj. Objects Warbler created are left to garbage collection through
// their owner reference; a missing object is not an error.
func restore(ctx context.Context, d Deps, c *flaggerv1.Canary, obj client.Object) error {
	err := d.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", describe(d, obj), err)
	}
	saved, ok := obj.GetAnnotations()[OriginalAnnotation]
	if !ok {
		return nil
	}
	u, err := restored(d, obj, saved)
	if err != nil {
		return fmt.Errorf("restoring %s from its %s annotation: %w", describe(d, obj), OriginalAnnotation, err)
	}
	if err := d.Client.Update(ctx, u); err != nil {
		return fmt.Errorf("restoring %s: %w", describe(d, obj), err)
	}
	d.log().Info(describe(d, obj)+" restored to its state from before Warbler", "canary", c.Key())
	return nil
}

// restored returns obj, as an unstructured object, with the saved labels,
// annotations and spec.
func restored(d Deps, obj client.Object, saved string) (*unstructured.Unstructured, error) {
	var o original
	if err := json.Unmarshal([]byte(saved), &o); err != nil {
		return nil, err
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	gvk, err := d.Client.GroupVersionKindFor(obj)
	if err != nil {
		return nil, err
	}
	u.SetGroupVersionKind(gvk)
	var spec any
	if err := utiljson.Unmarshal(o.Spec, &spec); err != nil {
		return nil, err
	}
	if spec == nil {
		delete(m, "spec")
	} else {
		m["spec"] = spec
	}
	annotations := o.Annotations
	if v, ok := obj.GetAnnotations()[lastApplied]; ok {
		annotations = merged(annotations, map[string]string{lastApplied: v})
	}
	u.SetLabels(o.Labels)
	u.SetAnnotations(annotations)
	return u, nil
}
