package routers

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ContourRouter routes with a Contour HTTPProxy <svc> (projectcontour.io/v1)
// whose routes send traffic to <svc>-primary and <svc>-canary by weight. It
// has no virtual host: a root HTTPProxy of the user's includes it, as in
// Flagger. Warbler owns spec.routes (and spec.ingressClassName when
// -ingress-class is set); other spec fields of an HTTPProxy that existed
// before are kept.
type ContourRouter struct {
	Deps
}

var _ Router = (*ContourRouter)(nil)

var httpProxyGVK = schema.GroupVersionKind{Group: "projectcontour.io", Version: "v1", Kind: "HTTPProxy"}

// NewContour returns the router of contour.
func NewContour(d Deps) Router { return &ContourRouter{Deps: d} }

// Reconcile writes the HTTPProxy (at 100/0 when new), keeping the split of
// an existing one.
func (r *ContourRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return r.write(ctx, c, nil)
}

// SetRoutes writes the weights. In A/B testing they apply to the requests
// that match analysis.match; the rest go to the primary.
func (r *ContourRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return r.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the weights of the first route.
func (r *ContourRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := newUnstructured(httpProxyGVK, c.Namespace, c.ApexServiceName())
	if err := fetch(ctx, r.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, ok, err := proxySplit(c, u)
	return weightsRead(describe(r.Deps, u), s, ok, err, "route to "+primaryService(c)+" and "+canaryService(c))
}

// Finalize restores an HTTPProxy that existed before Warbler.
func (r *ContourRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	return restore(ctx, r.Deps, c, newUnstructured(httpProxyGVK, c.Namespace, c.ApexServiceName()))
}

func (r *ContourRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if err := refuse(c, Contour, features{abTesting: true}); err != nil {
		return err
	}
	if err := contourMatchable(c); err != nil {
		return err
	}
	u := newUnstructured(httpProxyGVK, c.Namespace, c.ApexServiceName())
	return upsert(ctx, r.Deps, c, u, func() error {
		s := keepSplit(want, func() (split, bool) { s, ok, _ := proxySplit(c, u); return s, ok })
		spec := specOf(u)
		routes, err := plain(contourRoutes(c, s))
		if err != nil {
			return err
		}
		spec["routes"] = routes
		if r.IngressClass != "" {
			spec["ingressClassName"] = r.IngressClass
		}
		return setSpec(u, spec)
	})
}

// The parts of an HTTPProxy route that Warbler writes.
type (
	contourRoute struct {
		Conditions    []contourCondition `json:"conditions"`
		TimeoutPolicy *contourTimeout    `json:"timeoutPolicy,omitempty"`
		RetryPolicy   *contourRetry      `json:"retryPolicy,omitempty"`
		Services      []contourService   `json:"services"`
	}
	contourCondition struct {
		Prefix         string        `json:"prefix,omitempty"`
		Exact          string        `json:"exact,omitempty"`
		Regex          string        `json:"regex,omitempty"`
		Header         *contourMatch `json:"header,omitempty"`
		QueryParameter *contourMatch `json:"queryParameter,omitempty"`
	}
	contourMatch struct {
		Name  string `json:"name"`
		Exact string `json:"exact,omitempty"`
		Regex string `json:"regex,omitempty"`
	}
	contourTimeout struct {
		Response string `json:"response"`
		Idle     string `json:"idle"`
	}
	contourRetry struct {
		Count         int32  `json:"count"`
		PerTryTimeout string `json:"perTryTimeout,omitempty"`
	}
	contourService struct {
		Name                 string         `json:"name"`
		Port                 int32          `json:"port"`
		Weight               int            `json:"weight"`
		RequestHeadersPolicy contourHeaders `json:"requestHeadersPolicy"`
	}
	contourHeaders struct {
		Set []nameValue `json:"set"`
	}
	nameValue struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
)

// contourRoutes is one route carrying the split, or in A/B testing one
// route per analysis.match condition carrying it (Contour matches routes
// in order; their conditions are ANDed, so each condition gets its own
// route to keep Flagger's "any condition" meaning) followed by a route
// that sends the rest to the primary.
func contourRoutes(c *flaggerv1.Canary, s split) []contourRoute {
	prefix := contourPrefix(c)
	route := func(conditions []contourCondition, s split) contourRoute {
		return contourRoute{
			Conditions:    conditions,
			TimeoutPolicy: contourTimeoutPolicy(c),
			RetryPolicy:   contourRetryPolicy(c),
			Services:      []contourService{contourBackend(c, primaryService(c), s.primary), contourBackend(c, canaryService(c), s.canary)},
		}
	}
	ab := abMatch(c)
	if len(ab) == 0 {
		return []contourRoute{route([]contourCondition{prefix}, s)}
	}
	routes := make([]contourRoute, 0, len(ab)+1)
	for _, m := range ab {
		routes = append(routes, route(contourConditions(prefix, m), s))
	}
	return append(routes, route([]contourCondition{prefix}, split{primary: 100}))
}

// contourPrefix is the path condition: service.match[0].uri.prefix or /,
// as in Flagger.
func contourPrefix(c *flaggerv1.Canary) contourCondition {
	if m := c.Spec.Service.Match; len(m) > 0 && m[0].URI != nil && m[0].URI.Prefix != "" {
		return contourCondition{Prefix: m[0].URI.Prefix}
	}
	return contourCondition{Prefix: "/"}
}

// contourConditions are the path condition (the A/B condition's uri, else
// prefix) and one condition per header and query parameter, sorted by
// name: exact values as exact, the others as regular expressions.
func contourConditions(prefix contourCondition, m flaggerv1.HTTPMatchRequest) []contourCondition {
	path := prefix
	if u := m.URI; u != nil {
		switch {
		case u.Exact != "":
			path = contourCondition{Exact: u.Exact}
		case u.Prefix != "":
			path = contourCondition{Prefix: u.Prefix}
		default:
			_, re := matchValue(*u)
			path = contourCondition{Regex: re}
		}
	}
	out := []contourCondition{path}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		out = append(out, contourCondition{Header: contourValue(name, m.Headers[name])})
	}
	for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
		out = append(out, contourCondition{QueryParameter: contourValue(name, m.QueryParams[name])})
	}
	return out
}

func contourValue(name string, s flaggerv1.StringMatch) *contourMatch {
	if exact, v := matchValue(s); !exact {
		return &contourMatch{Name: name, Regex: v}
	}
	return &contourMatch{Name: name, Exact: s.Exact}
}

// contourMatchable refuses A/B conditions an HTTPProxy cannot express.
func contourMatchable(c *flaggerv1.Canary) error {
	for i, m := range abMatch(c) {
		if m.Method != nil {
			return fmt.Errorf("canary %s: analysis.match[%d].method is not supported by provider contour: HTTPProxy conditions match paths, headers and query parameters", c.Key(), i)
		}
	}
	return nil
}

// contourBackend is a service of the route. The l5d-dst-override header
// lets Linkerd route the request when Contour runs in its mesh, as
// Flagger writes it.
func contourBackend(c *flaggerv1.Canary, name string, weight int) contourService {
	port := c.Spec.Service.Port
	return contourService{Name: name, Port: port, Weight: weight, RequestHeadersPolicy: contourHeaders{Set: []nameValue{
		{Name: "l5d-dst-override", Value: fmt.Sprintf("%s.%s.svc.cluster.local:%d", name, c.Namespace, port)},
	}}}
}

// contourTimeoutPolicy: service.timeout as the response timeout, with
// Flagger's idle timeout of 5m.
func contourTimeoutPolicy(c *flaggerv1.Canary) *contourTimeout {
	if t := c.Spec.Service.Timeout; t != "" {
		return &contourTimeout{Response: t, Idle: "5m"}
	}
	return nil
}

func contourRetryPolicy(c *flaggerv1.Canary) *contourRetry {
	if r := c.Spec.Service.Retries; r != nil {
		return &contourRetry{Count: r.Attempts, PerTryTimeout: r.PerTryTimeout}
	}
	return nil
}

// proxySplit reads the weights of the first route of an HTTPProxy.
func proxySplit(c *flaggerv1.Canary, u *unstructured.Unstructured) (split, bool, error) {
	routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "routes")
	if len(routes) == 0 {
		return split{}, false, nil
	}
	first, _ := routes[0].(map[string]any)
	services, _, _ := unstructured.NestedSlice(first, "services")
	weights, err := namedWeights(services, func(m map[string]any) string { return field(m, "name") })
	if err != nil {
		return split{}, false, err
	}
	s, ok := splitOf(weights, primaryService(c), canaryService(c))
	return s, ok, nil
}
