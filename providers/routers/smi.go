package routers

import (
	"context"
	"fmt"
	"math"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// SMIRouter routes with an SMI TrafficSplit (split.smi-spec.io) named after the
// apex service: Linkerd up to 2.11 and OSM read it. Weights are relative;
// Warbler writes percentages. v1alpha1 weights are quantities ("95"),
// later versions integers.
type SMIRouter struct {
	Deps
	version string
}

var _ BaselineRouter = (*SMIRouter)(nil)

// NewSMIV1alpha1 returns the router of smi:v1alpha1 and linkerd (Flagger
// routes linkerd with v1alpha1, the version Linkerd's CRD serves).
func NewSMIV1alpha1(d Deps) Router { return &SMIRouter{Deps: d, version: "v1alpha1"} }

// NewSMIV1alpha2 returns the router of smi:v1alpha2 and osm.
func NewSMIV1alpha2(d Deps) Router { return &SMIRouter{Deps: d, version: "v1alpha2"} }

// NewSMIV1alpha3 returns the router of smi:v1alpha3.
func NewSMIV1alpha3(d Deps) Router { return &SMIRouter{Deps: d, version: "v1alpha3"} }

// trafficSplitSpec is the part of the TrafficSplit spec Warbler writes; it
// is the same in the three versions but for the type of weight.
type trafficSplitSpec struct {
	Service  string         `json:"service"`
	Backends []splitBackend `json:"backends"`
}

type splitBackend struct {
	Service string `json:"service"`
	Weight  any    `json:"weight"`
}

// Reconcile creates the TrafficSplit at 100/0 or corrects all but the
// weights.
func (r *SMIRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return r.write(ctx, c, nil)
}

// SetRoutes writes the weights. SMI cannot mirror; mirrored is ignored.
func (r *SMIRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// SetBaselineRoutes writes the weights, with a backend for the baseline.
func (r *SMIRouter) SetBaselineRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight, baselineWeight int) error {
	if err := checkWeights(c, primaryWeight, canaryWeight, baselineWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight, baseline: baselineWeight})
}

// GetBaselineRoute reads the weight of the baseline backend.
func (r *SMIRouter) GetBaselineRoute(ctx context.Context, c *flaggerv1.Canary) (int, error) {
	u := r.object(c)
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, err
	}
	s, err := r.split(c, u)
	return s.baseline, err
}

// GetRoutes reads the weights of the primary and canary backends.
func (r *SMIRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := r.object(c)
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, err := r.split(c, u)
	if err != nil {
		return 0, 0, false, err
	}
	return s.primary, s.canary, false, nil
}

// Finalize restores a TrafficSplit that existed before Warbler.
func (r *SMIRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	return restore(ctx, r.Deps, c, r.object(c))
}

func (r *SMIRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if len(abMatch(c)) > 0 {
		return fmt.Errorf("canary %s: analysis.match (A/B testing) is not supported by the SMI TrafficSplit router (smi:%s, as in Flagger): a TrafficSplit only weighs backends; use gatewayapi:v1 (Linkerd 2.12+ reads HTTPRoutes), istio, nginx or emissary", c.Key(), r.version)
	}
	u := r.object(c)
	return upsert(ctx, r.Deps, c, u, func() error {
		s := split{primary: 100}
		if want != nil {
			s = *want
		} else if have, err := r.split(c, u); err == nil {
			s = have
		}
		return setSpec(u, r.spec(c, s))
	})
}

// spec lists the canary first and the primary second, as Flagger does,
// then the baseline while it has a share; the service is hosts[0] or the
// apex service.
func (r *SMIRouter) spec(c *flaggerv1.Canary, s split) *trafficSplitSpec {
	apex, primary, canary := c.ServiceNames()
	if len(c.Spec.Service.Hosts) > 0 {
		apex = c.Spec.Service.Hosts[0]
	}
	spec := &trafficSplitSpec{Service: apex, Backends: []splitBackend{
		{Service: canary, Weight: r.weight(s.canary)},
		{Service: primary, Weight: r.weight(s.primary)},
	}}
	if s.baseline > 0 {
		spec.Backends = append(spec.Backends, splitBackend{Service: c.BaselineServiceName(), Weight: r.weight(s.baseline)})
	}
	return spec
}

func (r *SMIRouter) weight(w int) any {
	if r.version == "v1alpha1" {
		return itoa(w)
	}
	return int64(w)
}

// split reads the backends of <svc>-primary and <svc>-canary.
func (r *SMIRouter) split(c *flaggerv1.Canary, u *unstructured.Unstructured) (split, error) {
	_, primary, canary := c.ServiceNames()
	backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
	weights := map[string]float64{}
	for _, b := range backends {
		m, _ := b.(map[string]any)
		name, _ := m["service"].(string)
		w, err := number(m["weight"])
		if err != nil {
			return split{}, fmt.Errorf("TrafficSplit %s.%s backend %s: weight: %w", u.GetName(), u.GetNamespace(), name, err)
		}
		weights[name] = w
	}
	_, hasP := weights[primary]
	_, hasC := weights[canary]
	if !hasP || !hasC {
		return split{}, fmt.Errorf("TrafficSplit %s.%s has no backends %s and %s: Reconcile writes them", u.GetName(), u.GetNamespace(), primary, canary)
	}
	// weights are relative: the baseline's counts in the whole
	b := weights[c.BaselineServiceName()]
	p, cw := percentages(weights[primary]+b, weights[canary])
	bw := 0
	if total := weights[primary] + weights[canary] + b; b > 0 && total > 0 {
		bw = int(math.Round(100 * b / total))
		p -= bw
	}
	return split{primary: p, canary: cw, baseline: bw}, nil
}

func (r *SMIRouter) object(c *flaggerv1.Canary) *unstructured.Unstructured {
	gvk := schema.GroupVersionKind{Group: "split.smi-spec.io", Version: r.version, Kind: "TrafficSplit"}
	return newUnstructured(gvk, c.Namespace, c.ApexServiceName())
}
