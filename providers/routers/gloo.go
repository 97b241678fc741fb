package routers

import (
	"context"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// GlooRouter routes with Gloo Edge: two Upstreams (gloo.solo.io/v1)
// <ns>-<svc>-primaryupstream-<port> and <ns>-<svc>-canaryupstream-<port> on
// the primary and canary services, and a RouteTable <svc>
// (gateway.solo.io/v1) whose route sends traffic to them by weight. The
// user's VirtualService delegates to the RouteTable, as in Flagger.
// spec.upstreamRef names an Upstream whose settings (TLS, circuit breakers,
// connection and load-balancer settings, HTTP/2, ...) the two Upstreams
// copy.
type GlooRouter struct {
	Deps
}

var _ Router = (*GlooRouter)(nil)

var (
	routeTableGVK = schema.GroupVersionKind{Group: "gateway.solo.io", Version: "v1", Kind: "RouteTable"}
	upstreamGVK   = schema.GroupVersionKind{Group: "gloo.solo.io", Version: "v1", Kind: "Upstream"}
)

// upstreamSettings are the fields of spec.upstreamRef's Upstream that the
// generated Upstreams copy (Flagger's list).
var upstreamSettings = []string{"labels", "sslConfig", "circuitBreakers", "connectionConfig", "loadBalancerConfig",
	"useHttp2", "initialStreamWindowSize", "initialConnectionWindowSize", "httpProxyHostname"}

// NewGloo returns the router of gloo.
func NewGloo(d Deps) Router { return &GlooRouter{Deps: d} }

// Reconcile writes the Upstreams and the RouteTable (at 100/0 when new),
// keeping the split of an existing RouteTable.
func (r *GlooRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return r.write(ctx, c, nil)
}

// SetRoutes writes the weights. In A/B testing they apply to the requests
// that match analysis.match; the rest go to the primary.
func (r *GlooRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the weights of the first route of the RouteTable.
func (r *GlooRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := newUnstructured(routeTableGVK, c.Namespace, c.ApexServiceName())
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, ok, err := routeTableSplit(c, u)
	return weightsRead(describe(r.Deps, u), s, ok, err, "route to upstreams "+glooUpstream(c, primaryService(c))+" and "+glooUpstream(c, canaryService(c)))
}

// Finalize restores a RouteTable that existed before Warbler; the
// Upstreams go with the Canary.
func (r *GlooRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	return restore(ctx, r.Deps, c, newUnstructured(routeTableGVK, c.Namespace, c.ApexServiceName()))
}

func (r *GlooRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if err := refuse(c, Gloo, features{abTesting: true}); err != nil {
		return err
	}
	settings, err := r.upstreamSettings(ctx, c)
	if err != nil {
		return err
	}
	for _, svc := range []string{primaryService(c), canaryService(c)} {
		if err := r.upstream(ctx, c, svc, settings); err != nil {
			return err
		}
	}
	u := newUnstructured(routeTableGVK, c.Namespace, c.ApexServiceName())
	return upsert(ctx, r.Deps, c, u, func() error {
		s := keepSplit(want, func() (split, bool) { s, ok, _ := routeTableSplit(c, u); return s, ok })
		routes, err := plain(glooRoutes(c, s))
		if err != nil {
			return err
		}
		spec := specOf(u)
		spec["routes"] = routes
		return setSpec(u, spec)
	})
}

// upstreamSettings reads the settings of spec.upstreamRef's Upstream (in
// the Canary's namespace unless it names one), or none.
func (r *GlooRouter) upstreamSettings(ctx context.Context, c *flaggerv1.Canary) (map[string]any, error) {
	ref := c.Spec.UpstreamRef
	if ref == nil {
		return nil, nil
	}
	ns := ref.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	u := newUnstructured(upstreamGVK, ns, ref.Name)
	if err := r.Client.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
		return nil, fmt.Errorf("canary %s: reading spec.upstreamRef Upstream %s.%s: %w", c.Key(), ref.Name, ns, err)
	}
	out := map[string]any{}
	spec := specOf(u)
	for _, k := range upstreamSettings {
		if v, ok := spec[k]; ok {
			out[k] = runtime.DeepCopyJSONValue(v)
		}
	}
	return out, nil
}

// upstream writes the Upstream of a service: the copied settings plus a
// kube upstream on the service's selector and service.port.
func (r *GlooRouter) upstream(ctx context.Context, c *flaggerv1.Canary, service string, settings map[string]any) error {
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: service}, svc); err != nil {
		return fmt.Errorf("canary %s: reading Service %s.%s for its Gloo Upstream: %w", c.Key(), service, c.Namespace, err)
	}
	spec := runtime.DeepCopyJSON(settings)
	if spec == nil {
		spec = map[string]any{}
	}
	selector := map[string]any{}
	for k, v := range svc.Spec.Selector {
		selector[k] = v
	}
	spec["kube"] = map[string]any{
		"serviceName": service, "serviceNamespace": c.Namespace, "servicePort": int64(c.Spec.Service.Port), "selector": selector,
	}
	u := newUnstructured(upstreamGVK, c.Namespace, glooUpstream(c, service))
	return upsert(ctx, r.Deps, c, u, func() error { return setSpec(u, spec) })
}

// glooUpstream names the Upstream of a service as Flagger does.
func glooUpstream(c *flaggerv1.Canary, service string) string {
	role := "primary"
	if service == canaryService(c) {
		role = "canary"
	}
	return fmt.Sprintf("%s-%s-%supstream-%d", c.Namespace, c.ApexServiceName(), role, c.Spec.Service.Port)
}

// The parts of a RouteTable route that Warbler writes.
type (
	glooRoute struct {
		Matchers                []glooMatcher `json:"matchers,omitempty"`
		InheritablePathMatchers bool          `json:"inheritablePathMatchers"`
		RouteAction             glooAction    `json:"routeAction"`
	}
	glooMatcher struct {
		Headers         []glooValueMatch `json:"headers,omitempty"`
		QueryParameters []glooValueMatch `json:"queryParameters,omitempty"`
		Methods         []string         `json:"methods,omitempty"`
	}
	glooValueMatch struct {
		Name  string `json:"name"`
		Value string `json:"value"`
		Regex bool   `json:"regex,omitempty"`
	}
	glooAction struct {
		Multi struct {
			Destinations []glooDestination `json:"destinations"`
		} `json:"multi"`
	}
	glooDestination struct {
		Destination struct {
			Upstream struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"upstream"`
		} `json:"destination"`
		Weight int `json:"weight"`
	}
)

// glooRoutes is one route carrying the split. In A/B testing its matchers
// are the analysis.match conditions (Gloo ORs matchers), and a second route
// sends the rest to the primary: Flagger writes only the first, so requests
// that match no condition find no route in the table.
func glooRoutes(c *flaggerv1.Canary, s split) []glooRoute {
	route := func(matchers []glooMatcher, s split) glooRoute {
		r := glooRoute{Matchers: matchers, InheritablePathMatchers: true}
		for _, d := range []struct {
			service string
			weight  int
		}{{primaryService(c), s.primary}, {canaryService(c), s.canary}} {
			var dst glooDestination
			dst.Destination.Upstream.Name, dst.Destination.Upstream.Namespace = glooUpstream(c, d.service), c.Namespace
			dst.Weight = d.weight
			r.RouteAction.Multi.Destinations = append(r.RouteAction.Multi.Destinations, dst)
		}
		return r
	}
	ab := abMatch(c)
	if len(ab) == 0 {
		return []glooRoute{route(nil, s)}
	}
	matchers := make([]glooMatcher, 0, len(ab))
	for _, m := range ab {
		matchers = append(matchers, glooMatcherOf(m))
	}
	return []glooRoute{route(matchers, s), route(nil, split{primary: 100})}
}

// glooMatcherOf maps an A/B condition: headers and query parameters sorted
// by name, exact values as values, the others as regular expressions, and
// the method.
func glooMatcherOf(m flaggerv1.HTTPMatchRequest) glooMatcher {
	values := func(matches map[string]flaggerv1.StringMatch) []glooValueMatch {
		var out []glooValueMatch
		for _, name := range slices.Sorted(maps.Keys(matches)) {
			exact, v := matchValue(matches[name])
			out = append(out, glooValueMatch{Name: name, Value: v, Regex: !exact})
		}
		return out
	}
	out := glooMatcher{Headers: values(m.Headers), QueryParameters: values(m.QueryParams)}
	if m.Method != nil && m.Method.Exact != "" {
		out.Methods = []string{m.Method.Exact}
	}
	return out
}

// routeTableSplit reads the weights of the first route.
func routeTableSplit(c *flaggerv1.Canary, u *unstructured.Unstructured) (split, bool, error) {
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "routes")
	if len(routes) == 0 {
		return split{}, false, nil
	}
	first, _ := routes[0].(map[string]any)
	destinations, _, _ := unstructured.NestedSlice(first, "routeAction", "multi", "destinations")
	weights, err := namedWeights(destinations, func(m map[string]any) string { return field(m, "destination", "upstream", "name") })
	if err != nil {
		return split{}, false, err
	}
	s, ok := splitOf(weights, glooUpstream(c, primaryService(c)), glooUpstream(c, canaryService(c)))
	return s, ok, nil
}
