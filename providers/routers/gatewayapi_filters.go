package routers

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ruleFilters maps service.headers, rewrite, mirror and corsPolicy to the
// filters of the managed rules, in that order.
func ruleFilters(c *flaggerv1.Canary) ([]gatewayv1.HTTPRouteFilter, error) {
	svc := c.Spec.Service
	var out []gatewayv1.HTTPRouteFilter
	if h := svc.Headers; h != nil {
		if f := headerFilter(h.Request); f != nil {
			out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestHeaderModifier, RequestHeaderModifier: f})
		}
		if f := headerFilter(h.Response); f != nil {
			out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterResponseHeaderModifier, ResponseHeaderModifier: f})
		}
	}
	if f := rewriteFilter(svc.Rewrite); f != nil {
		out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterURLRewrite, URLRewrite: f})
	}
	for _, m := range svc.Mirror {
		out = append(out, mirrorFilter(c, m))
	}
	if svc.CorsPolicy != nil {
		f, err := corsFilter(svc.CorsPolicy)
		if err != nil {
			return nil, err
		}
		out = append(out, gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterCORS, CORS: f})
	}
	return out, nil
}

// headerFilter sorts headers by name, so that the same spec always gives
// the same route.
func headerFilter(ops *flaggerv1.HeaderOperations) *gatewayv1.HTTPHeaderFilter {
	if ops == nil || len(ops.Set)+len(ops.Add)+len(ops.Remove) == 0 {
		return nil
	}
	return &gatewayv1.HTTPHeaderFilter{
		Set:    sortedHeaders(ops.Set),
		Add:    sortedHeaders(ops.Add),
		Remove: slices.Sorted(slices.Values(ops.Remove)),
	}
}

func sortedHeaders(m map[string]string) []gatewayv1.HTTPHeader {
	var out []gatewayv1.HTTPHeader
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, gatewayv1.HTTPHeader{Name: gatewayv1.HTTPHeaderName(k), Value: m[k]})
	}
	return out
}

// rewriteFilter: type ReplacePrefixMatch rewrites the matched prefix, any
// other type the full path; authority becomes the hostname.
func rewriteFilter(r *flaggerv1.HTTPRewrite) *gatewayv1.HTTPURLRewriteFilter {
	if r == nil || r.URI == "" && r.Authority == "" {
		return nil
	}
	f := &gatewayv1.HTTPURLRewriteFilter{}
	if r.Authority != "" {
		f.Hostname = ptr.To(gatewayv1.PreciseHostname(r.Authority))
	}
	switch {
	case r.URI == "":
	case r.Type == string(gatewayv1.PrefixMatchHTTPPathModifier):
		f.Path = &gatewayv1.HTTPPathModifier{Type: gatewayv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr.To(r.URI)}
	default:
		f.Path = &gatewayv1.HTTPPathModifier{Type: gatewayv1.FullPathHTTPPathModifier, ReplaceFullPath: ptr.To(r.URI)}
	}
	return f
}

// mirrorFilter is one of the static mirrors of service.mirror.
func mirrorFilter(c *flaggerv1.Canary, m flaggerv1.HTTPRequestMirrorFilter) gatewayv1.HTTPRouteFilter {
	ref := gatewayv1.BackendObjectReference{
		Group: ptr.To(gatewayv1.Group(ptr.Deref(m.BackendRef.Group, ""))),
		Kind:  ptr.To(gatewayv1.Kind(ptr.Deref(m.BackendRef.Kind, "Service"))),
		Name:  gatewayv1.ObjectName(m.BackendRef.Name),
		Port:  m.BackendRef.Port,
	}
	if m.BackendRef.Namespace != nil {
		ref.Namespace = ptr.To(gatewayv1.Namespace(*m.BackendRef.Namespace))
	}
	return gatewayv1.HTTPRouteFilter{
		Type:          gatewayv1.HTTPRouteFilterRequestMirror,
		RequestMirror: &gatewayv1.HTTPRequestMirrorFilter{BackendRef: ref, Percent: m.Percent},
	}
}

// canaryMirror copies requests to <svc>-canary (blue/green mirroring), all
// of them or analysis.mirrorWeight percent.
func canaryMirror(c *flaggerv1.Canary) gatewayv1.HTTPRouteFilter {
	f := &gatewayv1.HTTPRequestMirrorFilter{BackendRef: serviceRef(c, canaryService(c))}
	if a := c.Spec.Analysis; a != nil && a.MirrorWeight > 0 {
		f.Percent = ptr.To(int32(a.MirrorWeight))
	}
	return gatewayv1.HTTPRouteFilter{Type: gatewayv1.HTTPRouteFilterRequestMirror, RequestMirror: f}
}

// corsFilter maps the Istio-shaped corsPolicy. Only exact origins can be
// expressed; maxAge is an Istio duration such as "24h".
func corsFilter(p *flaggerv1.CorsPolicy) (*gatewayv1.HTTPCORSFilter, error) {
	f := &gatewayv1.HTTPCORSFilter{AllowCredentials: p.AllowCredentials, MaxAge: 5}
	for _, o := range p.AllowOrigin {
		f.AllowOrigins = append(f.AllowOrigins, gatewayv1.CORSOrigin(o))
	}
	for i, o := range p.AllowOrigins {
		if o.Exact == "" {
			return nil, fmt.Errorf("spec.service.corsPolicy.allowOrigins[%d]: only exact origins can be written to a Gateway API CORS filter", i)
		}
		f.AllowOrigins = append(f.AllowOrigins, gatewayv1.CORSOrigin(o.Exact))
	}
	for _, m := range p.AllowMethods {
		f.AllowMethods = append(f.AllowMethods, gatewayv1.HTTPMethodWithWildcard(m))
	}
	f.AllowHeaders = headerNames(p.AllowHeaders)
	f.ExposeHeaders = headerNames(p.ExposeHeaders)
	if p.MaxAge != "" {
		d, err := time.ParseDuration(p.MaxAge)
		if err != nil {
			return nil, fmt.Errorf("spec.service.corsPolicy.maxAge %q is not a duration such as 24h: %w", p.MaxAge, err)
		}
		f.MaxAge = int32(d / time.Second)
	}
	return f, nil
}

func headerNames(in []string) []gatewayv1.HTTPHeaderName {
	var out []gatewayv1.HTTPHeaderName
	for _, h := range in {
		out = append(out, gatewayv1.HTTPHeaderName(h))
	}
	return out
}

// ruleTimeouts maps service.timeout to timeouts.request and
// service.backendTimeout to timeouts.backendRequest.
func ruleTimeouts(svc flaggerv1.CanaryService) *gatewayv1.HTTPRouteTimeouts {
	if svc.Timeout == "" && svc.BackendTimeout == "" {
		return nil
	}
	t := &gatewayv1.HTTPRouteTimeouts{}
	if svc.Timeout != "" {
		t.Request = ptr.To(gatewayv1.Duration(svc.Timeout))
	}
	if svc.BackendTimeout != "" {
		t.BackendRequest = ptr.To(gatewayv1.Duration(svc.BackendTimeout))
	}
	return t
}
