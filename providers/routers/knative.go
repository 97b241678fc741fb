package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Knative is Flagger's knative provider.
const Knative = "knative"

// KnativePrimaryRevision is Flagger's annotation on a Knative Service that
// names the revision serving as the primary; promotion moves it to the
// latest revision.
const KnativePrimaryRevision = "flagger.app/primary-revision"

// knativeOriginalTraffic holds, as JSON, the spec.traffic of a Knative
// Service from before Warbler routed it ("null" when it had none, which
// Knative reads as all traffic to the latest revision). Finalize puts it
// back.
const knativeOriginalTraffic = "warbler.dev/original-traffic"

// KnativeServiceGVK is the Knative Service a knative canary targets.
var KnativeServiceGVK = schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: "Service"}

// KnativeRevisionGVK is a revision of a Knative Service.
var KnativeRevisionGVK = schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: "Revision"}

// KnativeImages are the images of the containers listed at fields of a
// Knative object: spec.template.spec.containers of a Service,
// spec.containers of a Revision.
func KnativeImages(u *unstructured.Unstructured, fields ...string) []string {
	var images []string
	containers, _, _ := unstructured.NestedSlice(u.Object, fields...)
	for _, ct := range containers {
		if m, ok := ct.(map[string]any); ok {
			if img, ok := m["image"].(string); ok {
				images = append(images, img)
			}
		}
	}
	return images
}

// KnativeCondition is the status condition of type typ of a Knative
// object, as the object holds it, or nil.
func KnativeCondition(u *unstructured.Unstructured, typ string) map[string]any {
	conditions, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, cond := range conditions {
		if m, ok := cond.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

// KnativeRouter splits the traffic of the target Knative Service itself
// between two revisions, as Flagger does: spec.traffic holds the latest
// revision (latestRevision: true, the canary) and the revision named by
// flagger.app/primary-revision (the primary). There are no -primary or
// -canary Services and no -primary Deployment; Knative runs the
// revisions. The target's template is never touched.
type KnativeRouter struct {
	Deps
}

var _ Router = (*KnativeRouter)(nil)

// NewKnative returns the router of knative.
func NewKnative(d Deps) Router { return &KnativeRouter{Deps: d} }

// Reconcile records the primary revision (the latest created one, the
// first time) and writes the traffic at 100/0, or corrects its shape
// keeping the split.
func (k *KnativeRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return k.write(ctx, c, nil)
}

// SetRoutes writes the split. Knative cannot mirror; analysis.mirror is
// refused (see checkKnative).
func (k *KnativeRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return k.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the split Warbler wrote in spec.traffic. Flagger reads
// status.traffic, which lags behind until Knative has reconciled.
func (k *KnativeRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := knativeService(c)
	if err := fetch(ctx, k.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, ok := knativeSplit(u)
	if !ok {
		return 0, 0, false, fmt.Errorf("canary %s: Knative Service %s.%s has no traffic to the latest revision and to the %s revision: Reconcile writes it", c.Key(), u.GetName(), u.GetNamespace(), KnativePrimaryRevision)
	}
	return s.primary, s.canary, false, nil
}

// Finalize puts back the traffic the Knative Service had before Warbler
// and removes the annotations. Flagger's knative router restores nothing.
func (k *KnativeRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	u := knativeService(c)
	if err := fetch(ctx, k.Deps, u); err != nil {
		return err
	}
	saved, ok := u.GetAnnotations()[knativeOriginalTraffic]
	if !ok {
		return nil
	}
	var traffic any
	if err := utiljson.Unmarshal([]byte(saved), &traffic); err != nil {
		return fmt.Errorf("restoring the traffic of Knative Service %s.%s from its %s annotation: %w", u.GetName(), u.GetNamespace(), knativeOriginalTraffic, err)
	}
	if traffic == nil {
		unstructured.RemoveNestedField(u.Object, "spec", "traffic")
	} else if err := unstructured.SetNestedField(u.Object, traffic, "spec", "traffic"); err != nil {
		return err
	}
	annotations := u.GetAnnotations()
	delete(annotations, knativeOriginalTraffic)
	delete(annotations, KnativePrimaryRevision)
	u.SetAnnotations(annotations)
	if err := k.Client.Update(ctx, u); err != nil {
		return fmt.Errorf("restoring the traffic of Knative Service %s.%s: %w", u.GetName(), u.GetNamespace(), err)
	}
	k.log().Info(fmt.Sprintf("Knative Service %s.%s traffic restored to its state from before Warbler", u.GetName(), u.GetNamespace()), "canary", c.Key())
	return nil
}

func (k *KnativeRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if err := checkKnative(c); err != nil {
		return err
	}
	u := knativeService(c)
	if err := fetch(ctx, k.Deps, u); err != nil {
		return err
	}
	before := u.DeepCopy()
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	primary := annotations[KnativePrimaryRevision]
	if primary == "" {
		latest, _, _ := unstructured.NestedString(u.Object, "status", "latestCreatedRevisionName")
		if latest == "" {
			return fmt.Errorf("canary %s: Knative Service %s.%s has no revision yet (status.latestCreatedRevisionName is empty): %w", c.Key(), u.GetName(), u.GetNamespace(), ErrRouteNotReady)
		}
		primary = latest
		annotations[KnativePrimaryRevision] = primary
	}
	if _, saved := annotations[knativeOriginalTraffic]; !saved {
		traffic, _, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "traffic")
		raw, err := json.Marshal(traffic)
		if err != nil {
			return err
		}
		annotations[knativeOriginalTraffic] = string(raw)
	}
	u.SetAnnotations(annotations)
	s := split{primary: 100}
	if want != nil {
		s = *want
	} else if have, ok := knativeSplit(u); ok {
		s = have
	}
	traffic := []any{
		map[string]any{"latestRevision": true, "percent": int64(s.canary)},
		map[string]any{"revisionName": primary, "percent": int64(s.primary)},
	}
	if err := unstructured.SetNestedSlice(u.Object, traffic, "spec", "traffic"); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(before, u) {
		return nil
	}
	if err := k.Client.Update(ctx, u); err != nil {
		return fmt.Errorf("updating the traffic of Knative Service %s.%s: %w", u.GetName(), u.GetNamespace(), err)
	}
	return nil
}

// knativeSplit reads the percentages of the latest revision (the canary)
// and of the revision named by KnativePrimaryRevision.
func knativeSplit(u *unstructured.Unstructured) (split, bool) {
	primary := u.GetAnnotations()[KnativePrimaryRevision]
	traffic, _, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	var s split
	found := 0
	for _, t := range traffic {
		m, _ := t.(map[string]any)
		percent, _ := number(m["percent"])
		latest, _ := m["latestRevision"].(bool)
		name, _ := m["revisionName"].(string)
		switch {
		case latest:
			s.canary, found = int(percent), found|1
		case primary != "" && name == primary:
			s.primary, found = int(percent), found|2
		}
	}
	return s, found == 3
}

// checkKnative refuses what Knative traffic splitting cannot do: it has no
// header matches (A/B testing would send every request to the canary), no
// mirroring and no cookies. Flagger's knative router ignores them.
func checkKnative(c *flaggerv1.Canary) error {
	asked := matchMirrorAffinity(c)
	if len(asked) == 0 {
		return nil
	}
	return fmt.Errorf("canary %s: provider knative splits traffic between revisions by percent only: remove %s", c.Key(), strings.Join(asked, " and "))
}

func knativeService(c *flaggerv1.Canary) *unstructured.Unstructured {
	return newUnstructured(KnativeServiceGVK, c.Namespace, c.Spec.TargetRef.Name)
}
