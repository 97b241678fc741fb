package routers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// IstioRouter routes with a VirtualService <svc> whose http route splits traffic
// between <svc>-primary and <svc>-canary, and DestinationRules of those two
// hosts carrying service.trafficPolicy. Warbler owns the whole spec of
// these objects, as Flagger does.
type IstioRouter struct {
	Deps
}

var _ BaselineRouter = (*IstioRouter)(nil)

// The Istio objects are written as networking.istio.io/v1beta1, served
// from Istio 1.5 on, the version Flagger writes.
var (
	virtualServiceGVK  = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "VirtualService"}
	destinationRuleGVK = schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "DestinationRule"}
)

// NewIstio returns the router of istio.
func NewIstio(d Deps) Router { return &IstioRouter{Deps: d} }

// Reconcile writes the DestinationRules (of the baseline too, with
// analysis.baseline) and the VirtualService (at 100/0 when new), keeping
// the split of an existing VirtualService.
func (r *IstioRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	hosts := []string{primaryService(c), canaryService(c)}
	if c.BaselineEnabled() {
		hosts = append(hosts, c.BaselineServiceName())
	}
	for _, host := range hosts {
		if err := r.destinationRule(ctx, c, host); err != nil {
			return err
		}
	}
	return r.write(ctx, c, nil)
}

// SetRoutes writes the weights, and the mirror to the canary when
// mirrored.
func (r *IstioRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, mirrored bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight, mirrored: mirrored})
}

// SetBaselineRoutes writes the weights, with a destination for the
// baseline.
func (r *IstioRouter) SetBaselineRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight, baselineWeight int) error {
	if err := checkWeights(c, primaryWeight, canaryWeight, baselineWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight, baseline: baselineWeight})
}

// GetBaselineRoute reads the baseline's weight.
func (r *IstioRouter) GetBaselineRoute(ctx context.Context, c *flaggerv1.Canary) (int, error) {
	u := newUnstructured(virtualServiceGVK, c.Namespace, c.ApexServiceName())
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, err
	}
	s, _ := vsSplit(c, u)
	return s.baseline, nil
}

// GetRoutes reads the first http (or tcp) route that names both
// destinations, past the sticky routes.
func (r *IstioRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := newUnstructured(virtualServiceGVK, c.Namespace, c.ApexServiceName())
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, ok := vsSplit(c, u)
	if !ok {
		return 0, 0, false, fmt.Errorf("VirtualService %s.%s has no route to %s and %s: Reconcile writes it", u.GetName(), u.GetNamespace(), primaryService(c), canaryService(c))
	}
	return s.primary, s.canary, s.mirrored, nil
}

// Finalize restores the VirtualService and DestinationRules that existed
// before Warbler; the ones it created are deleted with the Canary.
func (r *IstioRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	objects := []*unstructured.Unstructured{
		newUnstructured(virtualServiceGVK, c.Namespace, c.ApexServiceName()),
		newUnstructured(destinationRuleGVK, c.Namespace, primaryService(c)),
		newUnstructured(destinationRuleGVK, c.Namespace, canaryService(c)),
	}
	for _, u := range objects {
		if err := restore(ctx, r.Deps, c, u); err != nil {
			return err
		}
	}
	return nil
}

func (r *IstioRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if err := checkIstioTCP(c); err != nil {
		return err
	}
	u := newUnstructured(virtualServiceGVK, c.Namespace, c.ApexServiceName())
	return upsert(ctx, r.Deps, c, u, func() error {
		s := split{primary: 100}
		if want != nil {
			s = *want
		} else if have, ok := vsSplit(c, u); ok {
			s = have
		}
		return setSpec(u, virtualService(c, s))
	})
}

// destinationRule writes the DestinationRule of host with
// service.trafficPolicy, copied as it is.
func (r *IstioRouter) destinationRule(ctx context.Context, c *flaggerv1.Canary, host string) error {
	spec := map[string]any{"host": host}
	if tp := c.Spec.Service.TrafficPolicy; tp != nil && len(tp.Raw) > 0 {
		var policy map[string]any
		if err := utiljson.Unmarshal(tp.Raw, &policy); err != nil {
			return fmt.Errorf("canary %s: spec.service.trafficPolicy is not a JSON object: %w", c.Key(), err)
		}
		spec["trafficPolicy"] = policy
	}
	u := newUnstructured(destinationRuleGVK, c.Namespace, host)
	return upsert(ctx, r.Deps, c, u, func() error { return setSpec(u, spec) })
}

// vsSplit reads the weights of the first http route (tcp route for a TCP
// service) with both destinations, skipping the sticky routes, the
// baseline's weight, and whether it mirrors to the canary.
func vsSplit(c *flaggerv1.Canary, u *unstructured.Unstructured) (split, bool) {
	kind := "http"
	if istioTCPService(c) {
		kind = "tcp"
	}
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", kind)
	for _, h := range routes {
		m, _ := h.(map[string]any)
		if name, _ := m["name"].(string); name == istioStickyRoute || name == istioStickyRoutePrimary {
			continue
		}
		s, found := split{}, 0
		dests, _, _ := unstructured.NestedSlice(m, "route")
		for _, d := range dests {
			dm, _ := d.(map[string]any)
			host, _, _ := unstructured.NestedString(dm, "destination", "host")
			w, _ := number(dm["weight"])
			switch host {
			case primaryService(c):
				s.primary, found = int(w), found+1
			case canaryService(c):
				s.canary, found = int(w), found+1
			case c.BaselineServiceName():
				s.baseline = int(w)
			}
		}
		if found == 2 {
			mirror, _, _ := unstructured.NestedString(m, "mirror", "host")
			s.mirrored = mirror == canaryService(c)
			return s, true
		}
	}
	return split{}, false
}
