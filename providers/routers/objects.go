package routers

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Traffic objects (HTTPRoute, TrafficSplit, Mapping, VirtualService,
// DestinationRule, canary Ingress) go through the same life: created with a
// controller reference to the Canary, or taken over when they existed
// before Warbler; corrected on every write; restored on Finalize.

// upsert makes the object named by obj (name and namespace set, nothing
// else) what mutate writes. mutate sees the object as stored, or empty when
// it does not exist yet, and changes it in place. An unchanged object is not
// written.
func upsert(ctx context.Context, d Deps, c *flaggerv1.Canary, obj client.Object, mutate func() error) error {
	err := d.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) {
		return create(ctx, d, c, obj, mutate)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", describe(d, obj), err)
	}
	before := obj.DeepCopyObject()
	if err := takeOver(d, c, obj); err != nil {
		return err
	}
	if err := mutate(); err != nil {
		return err
	}
	stamp(c, obj)
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	if err := d.Client.Update(ctx, obj); err != nil {
		return fmt.Errorf("updating %s: %w", describe(d, obj), err)
	}
	return nil
}

// create writes a new object owned by the Canary, so that deleting the
// Canary deletes it.
func create(ctx context.Context, d Deps, c *flaggerv1.Canary, obj client.Object, mutate func() error) error {
	if err := mutate(); err != nil {
		return err
	}
	stamp(c, obj)
	if obj.GetNamespace() == "" {
		setAnnotation(obj, CreatedForAnnotation, string(c.UID))
	} else if err := controllerutil.SetControllerReference(c, obj, d.Scheme); err != nil {
		return fmt.Errorf("owner reference of %s: %w", describe(d, obj), err)
	}
	if err := d.Client.Create(ctx, obj); err != nil {
		return fmt.Errorf("creating %s: %w", describe(d, obj), err)
	}
	d.log().Info(describe(d, obj)+" created", "canary", c.Key())
	return nil
}

// CreatedForAnnotation holds, on a cluster-scoped object Warbler created
// (Kuma's TrafficRoute), the UID of its Canary: Kubernetes lets no
// namespaced object own a cluster-scoped one, so garbage collection cannot
// delete it and the router's Finalize does.
const CreatedForAnnotation = "warbler.dev/created-for"

// takeOver accepts an object controlled by this Canary (created by Warbler
// or by Flagger for the same Canary), and adopts one with no controller by
// saving its state from before Warbler. It gets no owner reference, so that
// deleting the Canary never deletes a user's object.
func takeOver(d Deps, c *flaggerv1.Canary, obj client.Object) error {
	if ref := metav1.GetControllerOf(obj); ref != nil {
		if ref.UID == c.UID {
			return nil
		}
		return fmt.Errorf("%s is controlled by %s %s, not by canary %s: Warbler takes over only objects that have no controller",
			describe(d, obj), ref.Kind, ref.Name, c.Key())
	}
	if uid, ok := obj.GetAnnotations()[CreatedForAnnotation]; ok {
		if uid == string(c.UID) {
			return nil
		}
		return fmt.Errorf("%s was created by Warbler for another canary (UID %s), not for canary %s: give this canary another spec.service.name",
			describe(d, obj), uid, c.Key())
	}
	if _, adopted := obj.GetAnnotations()[OriginalAnnotation]; adopted {
		return nil
	}
	saved, err := saveOriginal(obj)
	if err != nil {
		return fmt.Errorf("saving the original state of %s: %w", describe(d, obj), err)
	}
	setAnnotation(obj, OriginalAnnotation, saved)
	d.log().Info(describe(d, obj)+" existed before Warbler; its original state is kept in the "+OriginalAnnotation+" annotation", "canary", c.Key())
	return nil
}

// stamp puts the apex labels and annotations and the toolkit annotations on
// a traffic object; other keys are kept.
func stamp(c *flaggerv1.Canary, obj client.Object) {
	labels, annotations := map[string]string{}, map[string]string{}
	if apex := c.Spec.Service.Apex; apex != nil {
		labels, annotations = apex.Labels, apex.Annotations
	}
	obj.SetLabels(merged(obj.GetLabels(), labels))
	obj.SetAnnotations(merged(obj.GetAnnotations(), annotations, ToolkitAnnotations))
}

// merged returns base with every map of extra laid over it, or nil when
// all are empty.
func merged(base map[string]string, extra ...map[string]string) map[string]string {
	out := maps.Clone(base)
	for _, e := range extra {
		if len(e) > 0 && out == nil {
			out = map[string]string{}
		}
		maps.Copy(out, e)
	}
	return out
}

func setAnnotation(obj client.Object, key, value string) {
	obj.SetAnnotations(merged(obj.GetAnnotations(), map[string]string{key: value}))
}

// fetch reads a traffic object for GetRoutes.
func fetch(ctx context.Context, d Deps, obj client.Object) error {
	if err := d.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return fmt.Errorf("reading %s: %w", describe(d, obj), err)
	}
	return nil
}

// describe names an object as users see it: "HTTPRoute podinfo.prod".
func describe(d Deps, obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" && d.Client != nil {
		if gvk, err := d.Client.GroupVersionKindFor(obj); err == nil {
			kind = gvk.Kind
		}
	}
	if obj.GetNamespace() == "" {
		return kind + " " + obj.GetName()
	}
	return kind + " " + obj.GetName() + "." + obj.GetNamespace()
}

func (d Deps) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// checkWeights rejects a split that is not percentages adding up to 100:
// primary and canary, and the baseline when there is one.
func checkWeights(c *flaggerv1.Canary, primary, canary int, baseline ...int) error {
	b := 0
	for _, w := range baseline {
		b += w
	}
	if primary < 0 || canary < 0 || b < 0 || primary+canary+b != 100 {
		if len(baseline) > 0 {
			return fmt.Errorf("canary %s: weights %d/%d/%d are not valid: primary, canary and baseline weights are 0..100 and add up to 100", c.Key(), primary, canary, b)
		}
		return fmt.Errorf("canary %s: weights %d/%d are not valid: primary and canary weights are 0..100 and add up to 100", c.Key(), primary, canary)
	}
	return nil
}

// matchMirrorAffinity names the analysis settings of c that need HTTP
// routing (A/B matches, mirroring, cookies), for routers that split by
// weight only to refuse them.
func matchMirrorAffinity(c *flaggerv1.Canary) []string {
	var asked []string
	if len(abMatch(c)) > 0 {
		asked = append(asked, "analysis.match (A/B testing)")
	}
	if a := c.Spec.Analysis; a != nil && a.Mirror {
		asked = append(asked, "analysis.mirror")
	}
	if affinity(c) != nil {
		asked = append(asked, "analysis.sessionAffinity")
	}
	return asked
}
