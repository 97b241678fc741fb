package routers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// SkipperRouter routes with skipper's annotations on <ingress>-canary, a copy
// of spec.ingressRef in which every path to the apex service goes to
// <svc>-primary and is repeated for <svc>-canary. The annotation
// zalando.org/backend-weights splits the traffic between the two, and a
// Weight(100) predicate makes skipper prefer these routes to the user's.
// The user's Ingress is never changed.
type SkipperRouter struct {
	Deps
}

var _ Router = (*SkipperRouter)(nil)

// skipper's annotations.
const (
	skipperWeights   = "zalando.org/backend-weights"
	skipperPredicate = "zalando.org/skipper-predicate"
	// skipperPrefer ranks the canary Ingress's routes above the user's;
	// skipperOff turns them off while the canary gets nothing.
	skipperPrefer = "Weight(100)"
	skipperOff    = "False()"
)

// NewSkipper returns the router of skipper.
func NewSkipper(d Deps) Router { return &SkipperRouter{Deps: d} }

// Reconcile writes the canary Ingress from the current spec.ingressRef
// Ingress (at 100/0 when new), keeping the split.
func (r *SkipperRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return r.write(ctx, c, nil)
}

// SetRoutes writes the backend weights.
func (r *SkipperRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the backend weights of the canary Ingress.
func (r *SkipperRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	ing, err := r.canaryIngress(c)
	if err != nil {
		return 0, 0, false, err
	}
	if err := fetch(ctx, r.Deps, ing); err != nil {
		return 0, 0, false, err
	}
	s, ok, err := skipperSplit(c, ing)
	return weightsRead(describe(r.Deps, ing), s, ok, err, skipperWeights+" for "+primaryService(c)+" and "+canaryService(c))
}

// Finalize has nothing to restore: the user's Ingress was never changed,
// and the canary Ingress is deleted with the Canary.
func (r *SkipperRouter) Finalize(context.Context, *flaggerv1.Canary) error { return nil }

func (r *SkipperRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if err := refuse(c, Skipper, features{}); err != nil {
		return err
	}
	ing, err := r.canaryIngress(c)
	if err != nil {
		return err
	}
	source := &networkingv1.Ingress{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.IngressRef.Name}, source); err != nil {
		return fmt.Errorf("canary %s: reading spec.ingressRef Ingress %s.%s: %w", c.Key(), c.Spec.IngressRef.Name, c.Namespace, err)
	}
	return upsert(ctx, r.Deps, c, ing, func() error {
		s := keepSplit(want, func() (split, bool) {
			s, ok, _ := skipperSplit(c, ing)
			return s, ok && ing.ResourceVersion != ""
		})
		return skipperFill(c, source, ing, s)
	})
}

// skipperFill copies the source Ingress into the canary Ingress, with the
// paths to the apex service split, and sets the annotations for s.
func skipperFill(c *flaggerv1.Canary, source, ing *networkingv1.Ingress, s split) error {
	ing.Spec = *source.Spec.DeepCopy()
	apex, primary, canary := c.ServiceNames()
	if !splitPaths(&ing.Spec, apex, primary, canary) {
		return fmt.Errorf("canary %s: spec.ingressRef Ingress %s.%s has no path to service %s; skipper splits the paths to the apex service",
			c.Key(), source.Name, source.Namespace, apex)
	}
	ing.Labels = merged(ing.Labels, source.Labels)
	annotations := map[string]string{}
	for k, v := range source.Annotations {
		if k != lastApplied && k != skipperWeights && k != skipperPredicate {
			annotations[k] = v
		}
	}
	if v, ok := ing.Annotations[OriginalAnnotation]; ok {
		annotations[OriginalAnnotation] = v
	}
	weights, err := json.Marshal(map[string]int{primary: s.primary, canary: s.canary})
	if err != nil {
		return err
	}
	annotations[skipperWeights] = string(weights)
	first := skipperPrefer
	if s.canary == 0 {
		first = skipperOff
	}
	annotations[skipperPredicate] = withPredicate(source.Annotations[skipperPredicate], first)
	ing.Annotations = annotations
	return nil
}

// splitPaths points every path on the apex service at the primary and adds
// the same path for the canary after it; false when there is none.
func splitPaths(spec *networkingv1.IngressSpec, apex, primary, canary string) bool {
	found := false
	for i := range spec.Rules {
		h := spec.Rules[i].HTTP
		if h == nil {
			continue
		}
		var paths []networkingv1.HTTPIngressPath
		for _, p := range h.Paths {
			if p.Backend.Service == nil || p.Backend.Service.Name != apex {
				paths = append(paths, p)
				continue
			}
			found = true
			toCanary := *p.DeepCopy()
			p.Backend.Service.Name, toCanary.Backend.Service.Name = primary, canary
			paths = append(paths, p, toCanary)
		}
		h.Paths = paths
	}
	return found
}

// withPredicate puts first before the user's predicates, dropping the ones
// Warbler manages.
func withPredicate(user, first string) string {
	out := []string{first}
	for _, p := range strings.Split(user, "&&") {
		if p = strings.TrimSpace(p); p != "" && p != skipperPrefer && p != skipperOff {
			out = append(out, p)
		}
	}
	return strings.Join(out, " && ")
}

// skipperSplit reads the backend-weights annotation (integers or
// fractions, taken as ratios).
func skipperSplit(c *flaggerv1.Canary, ing *networkingv1.Ingress) (split, bool, error) {
	raw, ok := ing.Annotations[skipperWeights]
	if !ok {
		return split{}, false, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return split{}, false, fmt.Errorf("annotation %s %q is not a JSON object: %w", skipperWeights, raw, err)
	}
	weights := map[string]float64{}
	for name, v := range m {
		w, err := number(v)
		if err != nil {
			return split{}, false, fmt.Errorf("annotation %s: backend %s: %w", skipperWeights, name, err)
		}
		weights[name] = w
	}
	s, ok := splitOf(weights, primaryService(c), canaryService(c))
	return s, ok, nil
}

func (r *SkipperRouter) canaryIngress(c *flaggerv1.Canary) (*networkingv1.Ingress, error) {
	if c.Spec.IngressRef == nil || c.Spec.IngressRef.Name == "" {
		return nil, fmt.Errorf("canary %s: spec.ingressRef must name an Ingress when using the skipper provider", c.Key())
	}
	ing := &networkingv1.Ingress{}
	ing.Name = c.Spec.IngressRef.Name + "-canary"
	ing.Namespace = c.Namespace
	return ing, nil
}
