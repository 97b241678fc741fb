package routers

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// GatewayAPIRouter routes with a Gateway API HTTPRoute named after the apex
// service. It writes only the rules that send traffic to <svc>-primary and
// <svc>-canary, plus parentRefs and hostnames; rules users add to the route
// are kept.
type GatewayAPIRouter struct {
	Deps
	api httpRouteAPI
}

var _ BaselineRouter = (*GatewayAPIRouter)(nil)

// specChangedAt records when Warbler last changed the spec of an HTTPRoute;
// GetRoutes measures its wait for the Gateway from it.
const specChangedAt = "warbler.dev/spec-changed-at"

// errNoGatewayRefs is Flagger's message, kept word for word.
//
//lint:ignore ST1005 users and scripts match Flagger's wording
var errNoGatewayRefs = errors.New("GatewayRefs must be specified when using Gateway API as a provider.")

// NewGatewayAPIV1 returns the router of gatewayapi:v1 (HTTPRoute
// gateway.networking.k8s.io/v1).
func NewGatewayAPIV1(d Deps) Router { return &GatewayAPIRouter{Deps: d, api: httpRouteV1} }

// NewGatewayAPIV1beta1 returns the router of gatewayapi:v1beta1 (HTTPRoute
// gateway.networking.k8s.io/v1beta1).
func NewGatewayAPIV1beta1(d Deps) Router { return &GatewayAPIRouter{Deps: d, api: httpRouteV1beta1} }

// AddToScheme registers the Gateway API types the gatewayapi routers read
// and write (HTTPRoute v1 and v1beta1, Gateway).
func AddToScheme(s *runtime.Scheme) error {
	return errors.Join(gatewayv1.Install(s), gatewayv1beta1.Install(s))
}

// Reconcile creates the HTTPRoute at 100/0, or corrects everything but the
// weights, mirroring and session-affinity state that SetRoutes owns.
func (g *GatewayAPIRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return g.write(ctx, c, nil)
}

// SetRoutes writes the weights into the managed rules.
func (g *GatewayAPIRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, mirrored bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return g.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight, mirrored: mirrored})
}

// SetBaselineRoutes writes the weights, with a backend to the baseline.
func (g *GatewayAPIRouter) SetBaselineRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight, baselineWeight int) error {
	if err := checkWeights(c, primaryWeight, canaryWeight, baselineWeight); err != nil {
		return err
	}
	return g.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight, baseline: baselineWeight})
}

// GetBaselineRoute reads the baseline's weight from the weighted rule.
func (g *GatewayAPIRouter) GetBaselineRoute(ctx context.Context, c *flaggerv1.Canary) (int, error) {
	obj := g.api.object(c)
	if err := fetch(ctx, g.Deps, obj); err != nil {
		return 0, err
	}
	s, _ := currentSplit(c, g.api.view(obj))
	return s.baseline, nil
}

// GetRoutes reads the split from the weighted rule, once the parent
// Gateways have accepted the route (see accepted).
func (g *GatewayAPIRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	obj := g.api.object(c)
	if err := fetch(ctx, g.Deps, obj); err != nil {
		return 0, 0, false, err
	}
	route := g.api.view(obj)
	s, ok := currentSplit(c, route)
	if !ok {
		_, primary, canary := c.ServiceNames()
		return 0, 0, false, fmt.Errorf("HTTPRoute %s.%s has no rule sending traffic to %s and %s: Reconcile writes it", route.Name, route.Namespace, primary, canary)
	}
	if err := g.accepted(c, route); err != nil {
		return 0, 0, false, err
	}
	return s.primary, s.canary, s.mirrored, nil
}

// Finalize restores an HTTPRoute that existed before Warbler; one Warbler
// created is deleted with the Canary by garbage collection.
func (g *GatewayAPIRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	return restore(ctx, g.Deps, c, g.api.object(c))
}

// write creates or corrects the HTTPRoute. A nil split keeps the one in the
// route (100/0 for a new route).
func (g *GatewayAPIRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if len(c.Spec.Service.GatewayRefs) == 0 {
		return fmt.Errorf("canary %s: %w", c.Key(), errNoGatewayRefs)
	}
	obj := g.api.object(c)
	return upsert(ctx, g.Deps, c, obj, func() error {
		route := g.api.view(obj)
		s := split{primary: 100}
		if want != nil {
			s = *want
		} else if have, ok := currentSplit(c, route); ok {
			s = have
		}
		before := route.Spec.DeepCopy()
		if err := writeRouteSpec(c, &route.Spec, s); err != nil {
			return fmt.Errorf("HTTPRoute %s.%s: %w", route.Name, route.Namespace, err)
		}
		if route.CreationTimestamp.IsZero() || !equalRouteSpecs(before, &route.Spec) {
			setAnnotation(route, specChangedAt, g.now().UTC().Format(time.RFC3339))
		}
		return nil
	})
}

// split is a traffic split as routers receive it; baseline is the share
// of <svc>-baseline (analysis.baseline).
type split struct {
	primary, canary, baseline int
	mirrored                  bool
}

// httpRouteAPI hides which served version of HTTPRoute a router uses: both
// share the v1 spec and status types.
type httpRouteAPI struct {
	new  func() client.Object
	view func(client.Object) *gatewayv1.HTTPRoute
}

func (a httpRouteAPI) object(c *flaggerv1.Canary) client.Object {
	obj := a.new()
	obj.SetName(c.ApexServiceName())
	obj.SetNamespace(c.Namespace)
	return obj
}

var httpRouteV1 = httpRouteAPI{
	new:  func() client.Object { return &gatewayv1.HTTPRoute{} },
	view: func(o client.Object) *gatewayv1.HTTPRoute { return o.(*gatewayv1.HTTPRoute) },
}

// v1beta1.HTTPRoute is declared as v1.HTTPRoute, so a pointer converts.
var httpRouteV1beta1 = httpRouteAPI{
	new: func() client.Object { return &gatewayv1beta1.HTTPRoute{} },
	view: func(o client.Object) *gatewayv1.HTTPRoute {
		return (*gatewayv1.HTTPRoute)(o.(*gatewayv1beta1.HTTPRoute))
	},
}

// lastSpecChange is when Warbler last changed the route's spec, or when the
// route was created, whichever is later: the change is stamped before it is
// written, and the first write of an HTTPRoute can take seconds while the
// API server compiles the CRD's validation rules.
func lastSpecChange(route metav1.Object) time.Time {
	created := route.GetCreationTimestamp().Time
	if t, err := time.Parse(time.RFC3339, route.GetAnnotations()[specChangedAt]); err == nil && t.After(created) {
		return t
	}
	return created
}
