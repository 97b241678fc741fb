package routers

import (
	"maps"
	"regexp"
	"slices"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// routeMatches maps Istio-shaped matches to HTTPRoute matches: uri to path,
// headers, queryParams and method. Other fields have no HTTPRoute
// equivalent and are left out. No match means PathPrefix /.
func routeMatches(in []flaggerv1.HTTPMatchRequest) []gatewayv1.HTTPRouteMatch {
	if len(in) == 0 {
		return []gatewayv1.HTTPRouteMatch{{Path: pathMatch(nil)}}
	}
	out := make([]gatewayv1.HTTPRouteMatch, 0, len(in))
	for _, m := range in {
		out = append(out, routeMatch(m))
	}
	return out
}

func routeMatch(m flaggerv1.HTTPMatchRequest) gatewayv1.HTTPRouteMatch {
	out := gatewayv1.HTTPRouteMatch{Path: pathMatch(m.URI)}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		exact, value := matchValue(m.Headers[name])
		t := gatewayv1.HeaderMatchRegularExpression
		if exact {
			t = gatewayv1.HeaderMatchExact
		}
		out.Headers = append(out.Headers, gatewayv1.HTTPHeaderMatch{Type: &t, Name: gatewayv1.HTTPHeaderName(name), Value: value})
	}
	for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
		exact, value := matchValue(m.QueryParams[name])
		t := gatewayv1.QueryParamMatchRegularExpression
		if exact {
			t = gatewayv1.QueryParamMatchExact
		}
		out.QueryParams = append(out.QueryParams, gatewayv1.HTTPQueryParamMatch{Type: &t, Name: gatewayv1.HTTPHeaderName(name), Value: value})
	}
	if m.Method != nil {
		if _, v := matchValue(*m.Method); v != "" {
			out.Method = ptr.To(gatewayv1.HTTPMethod(v))
		}
	}
	return out
}

// pathMatch maps a uri match; suffix becomes a regular expression, since
// HTTPRoute paths have no suffix type.
func pathMatch(uri *flaggerv1.StringMatch) *gatewayv1.HTTPPathMatch {
	t, v := gatewayv1.PathMatchPathPrefix, "/"
	switch {
	case uri == nil:
	case uri.Exact != "":
		t, v = gatewayv1.PathMatchExact, uri.Exact
	case uri.Prefix != "":
		v = uri.Prefix
	case uri.Regex != "":
		t, v = gatewayv1.PathMatchRegularExpression, uri.Regex
	case uri.Suffix != "":
		t, v = gatewayv1.PathMatchRegularExpression, ".*"+regexp.QuoteMeta(uri.Suffix)+"$"
	}
	return &gatewayv1.HTTPPathMatch{Type: &t, Value: &v}
}

// matchValue turns a string match into an exact value or an RE2 regular
// expression (prefix and suffix are written as anchored expressions).
func matchValue(s flaggerv1.StringMatch) (exact bool, value string) {
	switch {
	case s.Prefix != "":
		return false, "^" + regexp.QuoteMeta(s.Prefix) + ".*"
	case s.Suffix != "":
		return false, ".*" + regexp.QuoteMeta(s.Suffix) + "$"
	case s.Regex != "":
		return false, s.Regex
	}
	return true, s.Exact
}

// mergeMatches combines each A/B condition with each service match: the
// service match gives the path and method unless the condition sets them,
// the condition's headers and query parameters replace the service's.
func mergeMatches(ab, service []flaggerv1.HTTPMatchRequest) []flaggerv1.HTTPMatchRequest {
	if len(service) == 0 {
		service = []flaggerv1.HTTPMatchRequest{{}}
	}
	out := make([]flaggerv1.HTTPMatchRequest, 0, len(ab)*len(service))
	for _, a := range ab {
		for _, s := range service {
			m := *s.DeepCopy()
			if a.URI != nil {
				m.URI = a.URI
			}
			if a.Method != nil {
				m.Method = a.Method
			}
			if a.Headers != nil {
				m.Headers = a.Headers
			}
			if a.QueryParams != nil {
				m.QueryParams = a.QueryParams
			}
			out = append(out, m)
		}
	}
	return out
}
