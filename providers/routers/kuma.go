package routers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// KumaRouter routes with Kuma. Provider kuma writes what Flagger writes: a
// TrafficRoute (kuma.io/v1alpha1, cluster-scoped) named <svc> that splits
// the traffic to <svc>_<ns>_svc_<port> between the primary's and the
// canary's Kuma services. Provider kuma:meshhttproute writes a MeshHTTPRoute
// <svc> in the Canary's namespace instead (Kuma 2.x's policy, which
// replaces TrafficRoute; Flagger has no router for it), which can also do A/B
// testing.
//
// Both name Kuma services by their kuma.io/service tag
// (<service>_<namespace>_svc_<port>), as Kuma's Kubernetes mode sets it, so
// the builtin metrics select the same Envoy clusters. The mesh is the
// Canary's kuma.io/mesh annotation, or "default".
type KumaRouter struct {
	Deps
	meshHTTPRoute bool
}

var _ Router = (*KumaRouter)(nil)

var (
	trafficRouteGVK  = schema.GroupVersionKind{Group: "kuma.io", Version: "v1alpha1", Kind: "TrafficRoute"}
	meshHTTPRouteGVK = schema.GroupVersionKind{Group: "kuma.io", Version: "v1alpha1", Kind: "MeshHTTPRoute"}
)

// kumaMeshAnnotation on the Canary names its mesh.
const kumaMeshAnnotation = "kuma.io/mesh"

// NewKumaTrafficRoute returns the router of kuma.
func NewKumaTrafficRoute(d Deps) Router { return &KumaRouter{Deps: d} }

// NewKumaMeshHTTPRoute returns the router of kuma:meshhttproute.
func NewKumaMeshHTTPRoute(d Deps) Router { return &KumaRouter{Deps: d, meshHTTPRoute: true} }

// Reconcile writes the route (at 100/0 when new), keeping the split of an
// existing one.
func (r *KumaRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return r.write(ctx, c, nil)
}

// SetRoutes writes the weights (with MeshHTTPRoute in A/B testing, for the
// requests that match analysis.match; the rest go to the primary).
func (r *KumaRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the weights of the primary and canary services.
func (r *KumaRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := r.object(c)
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, ok, err := r.split(c, u)
	return weightsRead(describe(r.Deps, u), s, ok, err, "split between "+kumaService(c, primaryService(c))+" and "+kumaService(c, canaryService(c)))
}

// Finalize restores a route that existed before Warbler. The
// cluster-scoped TrafficRoute Warbler (or Flagger) created for this Canary
// is deleted here, since garbage collection cannot: Flagger leaves it
// behind.
func (r *KumaRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	u := r.object(c)
	if r.meshHTTPRoute {
		return restore(ctx, r.Deps, c, u)
	}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(u), u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", describe(r.Deps, u), err)
	}
	if !createdFor(c, u) {
		return restore(ctx, r.Deps, c, u)
	}
	if err := r.Client.Delete(ctx, u); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting %s: %w", describe(r.Deps, u), err)
	}
	r.log().Info(describe(r.Deps, u)+" deleted", "canary", c.Key())
	return nil
}

// createdFor tells whether Warbler, or Flagger, created u for c.
func createdFor(c *flaggerv1.Canary, u *unstructured.Unstructured) bool {
	if u.GetAnnotations()[CreatedForAnnotation] == string(c.UID) {
		return true
	}
	for _, ref := range u.GetOwnerReferences() {
		if ref.UID == c.UID && ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}

func (r *KumaRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	provider := Kuma
	if r.meshHTTPRoute {
		provider = KumaMeshHTTPRoute
	}
	if err := refuse(c, provider, features{abTesting: r.meshHTTPRoute}); err != nil {
		return err
	}
	u := r.object(c)
	return upsert(ctx, r.Deps, c, u, func() error {
		s := keepSplit(want, func() (split, bool) { s, ok, _ := r.split(c, u); return s, ok })
		mesh := kumaMesh(c)
		if !r.meshHTTPRoute {
			u.Object["mesh"] = mesh
			return setSpec(u, trafficRouteSpec(c, s))
		}
		u.SetLabels(merged(u.GetLabels(), map[string]string{kumaMeshAnnotation: mesh}))
		spec, err := plain(meshHTTPRouteSpec(c, s))
		if err != nil {
			return err
		}
		return setSpec(u, spec.(map[string]any))
	})
}

func (r *KumaRouter) object(c *flaggerv1.Canary) *unstructured.Unstructured {
	if r.meshHTTPRoute {
		return newUnstructured(meshHTTPRouteGVK, c.Namespace, c.ApexServiceName())
	}
	return newUnstructured(trafficRouteGVK, "", c.ApexServiceName())
}

func (r *KumaRouter) split(c *flaggerv1.Canary, u *unstructured.Unstructured) (split, bool, error) {
	var list []any
	var name func(map[string]any) string
	if r.meshHTTPRoute {
		to, _, _ := unstructured.NestedSlice(u.Object, "spec", "to")
		if len(to) == 0 {
			return split{}, false, nil
		}
		first, _ := to[0].(map[string]any)
		rules, _, _ := unstructured.NestedSlice(first, "rules")
		if len(rules) == 0 {
			return split{}, false, nil
		}
		rule, _ := rules[0].(map[string]any)
		list, _, _ = unstructured.NestedSlice(rule, "default", "backendRefs")
		name = func(m map[string]any) string { return field(m, "name") }
	} else {
		list, _, _ = unstructured.NestedSlice(u.Object, "spec", "conf", "split")
		name = func(m map[string]any) string { return field(m, "destination", "kuma.io/service") }
	}
	weights, err := namedWeights(list, name)
	if err != nil {
		return split{}, false, err
	}
	s, ok := splitOf(weights, kumaService(c, primaryService(c)), kumaService(c, canaryService(c)))
	return s, ok, nil
}

// kumaService is the kuma.io/service tag of a Kubernetes service.
func kumaService(c *flaggerv1.Canary, service string) string {
	return fmt.Sprintf("%s_%s_svc_%d", service, c.Namespace, c.Spec.Service.Port)
}

func kumaMesh(c *flaggerv1.Canary) string {
	if m := c.Annotations[kumaMeshAnnotation]; m != "" {
		return m
	}
	return "default"
}

// trafficRouteSpec: from any service to the apex service, split between
// the primary and the canary, as Flagger writes it.
func trafficRouteSpec(c *flaggerv1.Canary, s split) map[string]any {
	tag := func(service string) map[string]any { return map[string]any{"kuma.io/service": service} }
	return map[string]any{
		"sources":      []any{map[string]any{"match": tag("*")}},
		"destinations": []any{map[string]any{"match": tag(kumaService(c, c.ApexServiceName()))}},
		"conf": map[string]any{"split": []any{
			map[string]any{"weight": int64(s.primary), "destination": tag(kumaService(c, primaryService(c)))},
			map[string]any{"weight": int64(s.canary), "destination": tag(kumaService(c, canaryService(c)))},
		}},
	}
}
