package controller

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// KEDA ScaledObjects (keda.sh/v1alpha1) are read and written unstructured,
// so that Warbler needs neither KEDA's Go module nor its CRD unless a
// canary names a ScaledObject.

var scaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

// KEDA's annotations that pause a ScaledObject; the paused-replicas one is
// what Flagger sets on the target's ScaledObject ("0") while the target
// is scaled to zero. Neither is copied to the primary.
const (
	kedaPausedReplicas = "autoscaling.keda.sh/paused-replicas"
	kedaPaused         = "autoscaling.keda.sh/paused"
)

func newScaledObject(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(scaledObjectGVK)
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// targetScaledObject reads the ScaledObject of spec.autoscalerRef.
func (t *tick) targetScaledObject(ctx context.Context) (*unstructured.Unstructured, error) {
	ref := t.c.Spec.AutoscalerRef
	so := newScaledObject(t.c.Namespace, ref.Name)
	if err := t.r.Client.Get(ctx, client.ObjectKeyFromObject(so), so); err != nil {
		return nil, fmt.Errorf("reading ScaledObject %s.%s (spec.autoscalerRef): %w", ref.Name, t.c.Namespace, err)
	}
	return so, nil
}

// ensurePrimaryScaledObject keeps <so>-primary, a copy of the target's
// ScaledObject that scales the primary, as Flagger builds it: the scale
// target is <target>-primary, the trigger queries are rewritten for the
// primary (primaryScalerQueries by trigger name, or else the target's name
// replaced), primaryScalerReplicas overrides the replica bounds, and a
// named HPA gets -primary. Unlike Flagger, which copies a fixed list of
// fields, every field of the spec is copied. It is created when missing
// and updated at promotion and while no release runs, as the primary HPA.
func (t *tick) ensurePrimaryScaledObject(ctx context.Context, promoting bool) error {
	src, err := t.targetScaledObject(ctx)
	if err != nil {
		return err
	}
	want, err := t.primaryScaledObjectSpec(src)
	if err != nil {
		return err
	}
	name := t.c.Spec.AutoscalerRef.Name + flaggerv1.PrimarySuffix
	have := newScaledObject(t.c.Namespace, name)
	err = t.r.Client.Get(ctx, client.ObjectKeyFromObject(have), have)
	if apierrors.IsNotFound(err) {
		so := newScaledObject(t.c.Namespace, name)
		so.SetLabels(filterLabels(src.GetLabels(), t.r.Options.IncludeLabelPrefix))
		so.SetAnnotations(scaledObjectAnnotations(src.GetAnnotations()))
		so.Object["spec"] = want
		if err := controllerutil.SetControllerReference(t.c, so, t.r.Scheme); err != nil {
			return err
		}
		if err := t.r.Client.Create(ctx, so); err != nil {
			return fmt.Errorf("creating ScaledObject %s.%s: %w", name, t.c.Namespace, err)
		}
		t.log.Info(fmt.Sprintf("Keda ScaledObject %s.%s created", name, t.c.Namespace))
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading ScaledObject %s.%s: %w", name, t.c.Namespace, err)
	}
	idle := t.c.Status.Phase == flaggerv1.CanaryPhaseInitialized || t.c.Status.Phase == flaggerv1.CanaryPhaseSucceeded
	if (!promoting && !idle) || equality.Semantic.DeepEqual(have.Object["spec"], want) {
		return nil
	}
	have.Object["spec"] = want
	if err := t.r.Client.Update(ctx, have); err != nil {
		return fmt.Errorf("updating ScaledObject %s.%s: %w", name, t.c.Namespace, err)
	}
	return nil
}

// primaryScaledObjectSpec is the spec of the primary's ScaledObject.
func (t *tick) primaryScaledObjectSpec(src *unstructured.Unstructured) (map[string]any, error) {
	ref := t.c.Spec.AutoscalerRef
	spec, ok := src.DeepCopy().Object["spec"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("ScaledObject %s.%s has no spec", src.GetName(), src.GetNamespace())
	}
	if err := unstructured.SetNestedField(spec, t.c.PrimaryName(), "scaleTargetRef", "name"); err != nil {
		return nil, err
	}
	triggers, _, _ := unstructured.NestedSlice(spec, "triggers")
	for _, tr := range triggers {
		m, _ := tr.(map[string]any)
		md, _ := m["metadata"].(map[string]any)
		if md == nil {
			continue
		}
		name, _ := m["name"].(string)
		if q, ok := md["query"].(string); ok {
			md["query"] = primaryQuery(t.c, name, q)
		}
	}
	if len(triggers) > 0 {
		spec["triggers"] = triggers
	}
	if hpa, ok, _ := unstructured.NestedString(spec, "advanced", "horizontalPodAutoscalerConfig", "name"); ok && hpa != "" {
		_ = unstructured.SetNestedField(spec, hpa+flaggerv1.PrimarySuffix, "advanced", "horizontalPodAutoscalerConfig", "name")
	}
	if r := ref.PrimaryScalerReplicas; r != nil {
		if r.MinReplicas != nil {
			spec["minReplicaCount"] = int64(*r.MinReplicas)
		}
		if r.MaxReplicas != nil {
			spec["maxReplicaCount"] = int64(*r.MaxReplicas)
		}
	}
	return spec, nil
}

// primaryQuery is the query of a trigger of the primary's ScaledObject, as
// Flagger rewrites it: with primaryScalerQueries, the query given for the
// trigger's name (triggers not named there keep theirs); otherwise every
// "<target>" and "<target>-canary" becomes "<target>-primary".
func primaryQuery(c *flaggerv1.Canary, trigger, query string) string {
	if qs := c.Spec.AutoscalerRef.PrimaryScalerQueries; qs != nil {
		if q, ok := qs[trigger]; ok && trigger != "" {
			return q
		}
		return query
	}
	target := c.Spec.TargetRef.Name
	// "<target>-canary" is set aside first, so that it does not become
	// "<target>-primary-canary"
	const mark = "\x00"
	q := strings.ReplaceAll(query, target+flaggerv1.CanarySuffix, mark)
	q = strings.ReplaceAll(q, target, mark)
	return strings.ReplaceAll(q, mark, target+flaggerv1.PrimarySuffix)
}

// scaledObjectAnnotations are the annotations copied to the primary's
// ScaledObject: the target's, without toolkit and pause annotations.
func scaledObjectAnnotations(in map[string]string) map[string]string {
	out := withoutToolkit(in)
	maps.DeleteFunc(out, func(k, _ string) bool { return k == kedaPausedReplicas || k == kedaPaused })
	if len(out) == 0 {
		return nil
	}
	return out
}

// pauseScaledObject pauses the target's ScaledObject at zero replicas
// (autoscaling.keda.sh/paused-replicas: "0") or resumes it, writing only a
// change.
func (t *tick) pauseScaledObject(ctx context.Context, paused bool) error {
	so, err := t.targetScaledObject(ctx)
	if err != nil {
		return err
	}
	v, has := so.GetAnnotations()[kedaPausedReplicas]
	var patch []byte
	switch {
	case paused && v != "0":
		patch = fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"0"}}}`, kedaPausedReplicas)
	case !paused && has:
		patch = fmt.Appendf(nil, `{"metadata":{"annotations":{%q:null}}}`, kedaPausedReplicas)
	default:
		return nil
	}
	if err := t.r.Client.Patch(ctx, so, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("setting %s on ScaledObject %s.%s: %w", kedaPausedReplicas, so.GetName(), t.c.Namespace, err)
	}
	return nil
}

// scaledObjectMinReplicas is the target ScaledObject's minReplicaCount, 0
// when unset or unreadable.
func (t *tick) scaledObjectMinReplicas(ctx context.Context) int32 {
	so, err := t.targetScaledObject(ctx)
	if err != nil {
		return 0
	}
	n, _, _ := unstructured.NestedInt64(so.Object, "spec", "minReplicaCount")
	return int32(n)
}
