package routers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// APISIXRouter routes with a canary ApisixRoute <route>-<svc>-canary
// (apisix.apache.org/v2): a copy of the HTTP route of spec.routeRef that
// sends to the apex service, at the highest priority, whose one backend
// becomes two, <svc>-primary and <svc>-canary, with weights. The user's
// ApisixRoute is never changed, as in Flagger.
type APISIXRouter struct {
	Deps
}

var _ Router = (*APISIXRouter)(nil)

var apisixRouteGVK = schema.GroupVersionKind{Group: "apisix.apache.org", Version: "v2", Kind: "ApisixRoute"}

// apisixPriority puts the canary route before the user's, as Flagger does.
const apisixPriority = 10000

// NewAPISIX returns the router of apisix.
func NewAPISIX(d Deps) Router { return &APISIXRouter{Deps: d} }

// Reconcile writes the canary ApisixRoute from the current spec.routeRef
// route (at 100/0 when new), keeping the split.
func (r *APISIXRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return r.write(ctx, c, nil)
}

// SetRoutes writes the backend weights.
func (r *APISIXRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the backend weights of the canary ApisixRoute.
func (r *APISIXRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u, err := r.canaryRoute(c)
	if err != nil {
		return 0, 0, false, err
	}
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, ok, err := apisixSplit(c, u)
	return weightsRead(describe(r.Deps, u), s, ok, err, "HTTP route with backends "+primaryService(c)+" and "+canaryService(c))
}

// Finalize has nothing to restore: the user's ApisixRoute was never
// changed, and the canary ApisixRoute is deleted with the Canary.
func (r *APISIXRouter) Finalize(context.Context, *flaggerv1.Canary) error { return nil }

func (r *APISIXRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if err := refuse(c, APISIX, features{}); err != nil {
		return err
	}
	u, err := r.canaryRoute(c)
	if err != nil {
		return err
	}
	source := newUnstructured(apisixRouteGVK, c.Namespace, c.Spec.RouteRef.Name)
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(source), source); err != nil {
		return fmt.Errorf("canary %s: reading spec.routeRef ApisixRoute %s.%s: %w", c.Key(), source.GetName(), c.Namespace, err)
	}
	route, err := apisixHTTPRoute(c, source)
	if err != nil {
		return err
	}
	return upsert(ctx, r.Deps, c, u, func() error {
		s := keepSplit(want, func() (split, bool) { s, ok, _ := apisixSplit(c, u); return s, ok })
		u.SetLabels(merged(u.GetLabels(), source.GetLabels()))
		for k, v := range source.GetAnnotations() {
			if k != lastApplied && k != OriginalAnnotation {
				setAnnotation(u, k, v)
			}
		}
		spec := map[string]any{"http": []any{apisixCanaryHTTP(c, route, s)}}
		if class, ok := specOf(source)["ingressClassName"]; ok {
			spec["ingressClassName"] = class
		}
		return setSpec(u, spec)
	})
}

// apisixHTTPRoute finds the HTTP route of the user's ApisixRoute that
// sends to the apex service; it must have that one backend.
func apisixHTTPRoute(c *flaggerv1.Canary, source *unstructured.Unstructured) (map[string]any, error) {
	apex := c.ApexServiceName()
	routes, _, _ := unstructured.NestedSlice(source.Object, "spec", "http")
	for _, h := range routes {
		route, _ := h.(map[string]any)
		backends, _, _ := unstructured.NestedSlice(route, "backends")
		for _, b := range backends {
			if m, _ := b.(map[string]any); field(m, "serviceName") == apex {
				if len(backends) != 1 {
					return nil, fmt.Errorf("canary %s: HTTP route %q of spec.routeRef ApisixRoute %s.%s has %d backends; the apisix provider splits a route with the one backend %s",
						c.Key(), field(route, "name"), source.GetName(), source.GetNamespace(), len(backends), apex)
				}
				return route, nil
			}
		}
	}
	return nil, fmt.Errorf("canary %s: spec.routeRef ApisixRoute %s.%s has no HTTP route with backend %s", c.Key(), source.GetName(), source.GetNamespace(), apex)
}

// apisixCanaryHTTP copies the user's HTTP route at the highest priority
// with the backend on the primary and a copy of it on the canary.
func apisixCanaryHTTP(c *flaggerv1.Canary, route map[string]any, s split) map[string]any {
	out := runtime.DeepCopyJSON(route)
	out["priority"] = int64(apisixPriority)
	backends, _, _ := unstructured.NestedSlice(out, "backends")
	primary, _ := backends[0].(map[string]any)
	canary := runtime.DeepCopyJSON(primary)
	primary["serviceName"], primary["weight"] = primaryService(c), int64(s.primary)
	canary["serviceName"], canary["weight"] = canaryService(c), int64(s.canary)
	out["backends"] = []any{primary, canary}
	return out
}

// apisixSplit reads the weights of the HTTP route with the primary backend.
func apisixSplit(c *flaggerv1.Canary, u *unstructured.Unstructured) (split, bool, error) {
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	for _, h := range routes {
		route, _ := h.(map[string]any)
		backends, _, _ := unstructured.NestedSlice(route, "backends")
		weights, err := namedWeights(backends, func(m map[string]any) string { return field(m, "serviceName") })
		if err != nil {
			return split{}, false, err
		}
		if s, ok := splitOf(weights, primaryService(c), canaryService(c)); ok {
			return s, true, nil
		}
	}
	return split{}, false, nil
}

func (r *APISIXRouter) canaryRoute(c *flaggerv1.Canary) (*unstructured.Unstructured, error) {
	if c.Spec.RouteRef == nil || c.Spec.RouteRef.Name == "" {
		return nil, fmt.Errorf("canary %s: spec.routeRef must name an ApisixRoute when using the apisix provider", c.Key())
	}
	return newUnstructured(apisixRouteGVK, c.Namespace, fmt.Sprintf("%s-%s-canary", c.Spec.RouteRef.Name, c.ApexServiceName())), nil
}
