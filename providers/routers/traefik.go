package routers

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// TraefikRouter routes with a weighted TraefikService <svc> (traefik.io/v1alpha1),
// which the user's IngressRoute names as its service, as in Flagger.
// Warbler owns spec.weighted.services; other fields (sticky cookies,
// health checks) of a TraefikService that existed before are kept.
//
// Flagger moved from traefik.containo.us to traefik.io (fluxcd/flagger#1835)
// because Traefik 3 serves only traefik.io (2.10 and later serve both);
// Warbler writes traefik.io too.
type TraefikRouter struct {
	Deps
}

var _ Router = (*TraefikRouter)(nil)

var traefikServiceGVK = schema.GroupVersionKind{Group: "traefik.io", Version: "v1alpha1", Kind: "TraefikService"}

// NewTraefik returns the router of traefik.
func NewTraefik(d Deps) Router { return &TraefikRouter{Deps: d} }

// Reconcile writes the TraefikService (at 100/0 when new), keeping the
// split of an existing one.
func (r *TraefikRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return r.write(ctx, c, nil)
}

// SetRoutes writes the weights.
func (r *TraefikRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the weights of the two services.
func (r *TraefikRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := newUnstructured(traefikServiceGVK, c.Namespace, c.ApexServiceName())
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, ok, err := traefikSplit(c, u)
	return weightsRead(describe(r.Deps, u), s, ok, err, "weighted service "+primaryService(c))
}

// Finalize restores a TraefikService that existed before Warbler.
func (r *TraefikRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	return restore(ctx, r.Deps, c, newUnstructured(traefikServiceGVK, c.Namespace, c.ApexServiceName()))
}

func (r *TraefikRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if err := refuse(c, Traefik, features{}); err != nil {
		return err
	}
	u := newUnstructured(traefikServiceGVK, c.Namespace, c.ApexServiceName())
	return upsert(ctx, r.Deps, c, u, func() error {
		s := keepSplit(want, func() (split, bool) { s, ok, _ := traefikSplit(c, u); return s, ok })
		services, err := plain(traefikServices(c, s))
		if err != nil {
			return err
		}
		spec := specOf(u)
		weighted, _ := spec["weighted"].(map[string]any)
		if weighted == nil {
			weighted = map[string]any{}
		}
		weighted["services"] = services
		spec["weighted"] = weighted
		return setSpec(u, spec)
	})
}

type traefikService struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Port      int32  `json:"port"`
	Weight    int    `json:"weight"`
}

// traefikServices lists the primary and, while it gets traffic, the
// canary. Traefik fails a whole TraefikService when one of its Kubernetes
// services has no endpoints, as the canary has once scaled to zero, so the
// canary is left out at weight 0, as Flagger does. The primary's weight is
// written even when 0: Traefik ignores a service of weight 0, while one
// with no weight gets the default 1 (Flagger leaves it out at 0/100, which
// keeps about 1% of the traffic on the primary).
func traefikServices(c *flaggerv1.Canary, s split) []traefikService {
	service := func(name string, weight int) traefikService {
		return traefikService{Name: name, Namespace: c.Namespace, Port: c.Spec.Service.Port, Weight: weight}
	}
	out := []traefikService{service(primaryService(c), s.primary)}
	if s.canary > 0 {
		out = append(out, service(canaryService(c), s.canary))
	}
	return out
}

// traefikSplit reads the weights; a canary that is not listed has weight
// 0, and so has a service with no weight (Flagger's 0/100).
func traefikSplit(c *flaggerv1.Canary, u *unstructured.Unstructured) (split, bool, error) {
	services, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
	weights, err := namedWeights(services, func(m map[string]any) string { return field(m, "name") })
	if err != nil {
		return split{}, false, err
	}
	if _, ok := weights[primaryService(c)]; !ok {
		return split{}, false, nil
	}
	if _, ok := weights[canaryService(c)]; !ok {
		weights[canaryService(c)] = 0
	}
	s, ok := splitOf(weights, primaryService(c), canaryService(c))
	return s, ok, nil
}
