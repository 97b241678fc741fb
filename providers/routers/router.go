// Package routers moves traffic between a canary's primary and canary
// workloads: the ClusterIP services every provider needs, and one Router per
// mesh or gateway (Kubernetes services, Gateway API HTTPRoute, SMI
// TrafficSplit, Emissary Mapping, Istio VirtualService, NGINX and skipper
// canary Ingresses, Contour HTTPProxy, Gloo RouteTable, TraefikService, Kuma
// TrafficRoute and MeshHTTPRoute, APISIX canary ApisixRoute).
//
// Routers read through the controller's cache and write only the objects
// they own. They never read metrics or call webhooks.
package routers

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Router sets the traffic split of a canary.
type Router interface {
	// Reconcile creates the traffic object (at 100/0 when new) and corrects
	// drift in everything but the weights, which SetRoutes owns.
	Reconcile(ctx context.Context, c *flaggerv1.Canary) error
	// SetRoutes sends primaryWeight% of traffic to the primary and
	// canaryWeight% to the canary (the two add up to 100); mirrored copies
	// primary traffic to the canary as well, where the provider can.
	SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, mirrored bool) error
	// GetRoutes reads the split back from the traffic object. The error
	// wraps ErrRouteNotReady when the object exists but its implementation
	// has not accepted it yet.
	GetRoutes(ctx context.Context, c *flaggerv1.Canary) (primaryWeight, canaryWeight int, mirrored bool, err error)
	// Finalize restores what existed before Warbler took over (used with
	// revertOnDeletion).
	Finalize(ctx context.Context, c *flaggerv1.Canary) error
}

// BaselineRouter is a Router that can also send a share of the traffic to
// the baseline, <svc>-baseline (analysis.baseline): the routers that split
// three ways implement it. Reconcile keeps the baseline's share, and
// SetRoutes, which knows two sides, removes it.
type BaselineRouter interface {
	Router
	// SetBaselineRoutes sends primaryWeight% to the primary,
	// canaryWeight% to the canary and baselineWeight% to the baseline;
	// the three add up to 100.
	SetBaselineRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight, baselineWeight int) error
	// GetBaselineRoute reads the baseline's share back.
	GetBaselineRoute(ctx context.Context, c *flaggerv1.Canary) (int, error)
}

// ErrRouteNotReady: the traffic object exists but is not (yet) accepted by
// its implementation, for example an HTTPRoute whose Gateway has not
// reconciled the latest generation. The tick waits; no check fails.
var ErrRouteNotReady = errors.New("route not ready")

// Deps are what routers need to talk to the cluster.
type Deps struct {
	// Client reads from the controller's cache and writes to the API server.
	// Its scheme must know the Warbler types and, for the gatewayapi
	// routers, the Gateway API types (see AddToScheme); the other routers
	// write unstructured objects.
	Client client.Client
	// Scheme resolves owner references.
	Scheme *runtime.Scheme
	Log    *slog.Logger
	// IngressAnnotationsPrefix of the nginx router (default
	// nginx.ingress.kubernetes.io).
	IngressAnnotationsPrefix string
	// IngressClass, when set, is written to generated ingress objects.
	IngressClass string
	// AcceptanceTimeout bounds how long GetRoutes of the gatewayapi router
	// reports ErrRouteNotReady while a parent Gateway's status of an
	// HTTPRoute is for an older generation than Warbler's last change;
	// past it the router logs a warning and goes on, for implementations
	// that stop updating route status. A parent with no status at all is
	// not waited for. Zero means 30s.
	AcceptanceTimeout time.Duration
	// Now is the routers' clock; nil means time.Now.
	Now func() time.Time
}
