package routers

import (
	"maps"
	"slices"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The parts of a MeshHTTPRoute spec that Warbler writes.
type (
	meshHTTPRoute struct {
		TargetRef kumaRef           `json:"targetRef"`
		To        []meshHTTPRouteTo `json:"to"`
	}
	kumaRef struct {
		Kind   string `json:"kind"`
		Name   string `json:"name,omitempty"`
		Weight *int   `json:"weight,omitempty"`
	}
	meshHTTPRouteTo struct {
		TargetRef kumaRef             `json:"targetRef"`
		Rules     []meshHTTPRouteRule `json:"rules"`
	}
	meshHTTPRouteRule struct {
		Matches []meshHTTPMatch `json:"matches"`
		Default struct {
			BackendRefs []kumaRef `json:"backendRefs"`
		} `json:"default"`
	}
	meshHTTPMatch struct {
		Path        *kumaValueMatch  `json:"path,omitempty"`
		Method      string           `json:"method,omitempty"`
		Headers     []kumaValueMatch `json:"headers,omitempty"`
		QueryParams []kumaValueMatch `json:"queryParams,omitempty"`
	}
	kumaValueMatch struct {
		Type  string `json:"type"`
		Name  string `json:"name,omitempty"`
		Value string `json:"value"`
	}
)

// meshHTTPRouteSpec: from the whole mesh to the apex service, one rule on
// the service's path prefix carrying the split. In A/B testing that rule
// matches the analysis.match conditions (one match each) and a second rule
// on the path prefix alone keeps the rest on the primary; Kuma picks the
// most specific rule, as Gateway API does.
func meshHTTPRouteSpec(c *flaggerv1.Canary, s split) meshHTTPRoute {
	path := kumaValueMatch{Type: "PathPrefix", Value: contourPrefix(c).Prefix}
	rule := func(matches []meshHTTPMatch, s split) meshHTTPRouteRule {
		r := meshHTTPRouteRule{Matches: matches}
		r.Default.BackendRefs = []kumaRef{
			{Kind: "MeshService", Name: kumaService(c, primaryService(c)), Weight: &s.primary},
			{Kind: "MeshService", Name: kumaService(c, canaryService(c)), Weight: &s.canary},
		}
		return r
	}
	rules := []meshHTTPRouteRule{rule([]meshHTTPMatch{{Path: &path}}, s)}
	if ab := abMatch(c); len(ab) > 0 {
		matches := make([]meshHTTPMatch, 0, len(ab))
		for _, m := range ab {
			matches = append(matches, meshHTTPMatchOf(path, m))
		}
		rules = []meshHTTPRouteRule{rule(matches, s), rule([]meshHTTPMatch{{Path: &path}}, split{primary: 100})}
	}
	return meshHTTPRoute{
		TargetRef: kumaRef{Kind: "Mesh"},
		To:        []meshHTTPRouteTo{{TargetRef: kumaRef{Kind: "MeshService", Name: kumaService(c, c.ApexServiceName())}, Rules: rules}},
	}
}

// meshHTTPMatchOf maps an A/B condition: its uri (else the service's path
// prefix), method, and headers and query parameters sorted by name.
func meshHTTPMatchOf(path kumaValueMatch, m flaggerv1.HTTPMatchRequest) meshHTTPMatch {
	out := meshHTTPMatch{Path: &path}
	if u := m.URI; u != nil {
		switch exact, v := matchValue(*u); {
		case exact:
			out.Path = &kumaValueMatch{Type: "Exact", Value: v}
		case u.Prefix != "":
			out.Path = &kumaValueMatch{Type: "PathPrefix", Value: u.Prefix}
		default:
			out.Path = &kumaValueMatch{Type: "RegularExpression", Value: v}
		}
	}
	if m.Method != nil && m.Method.Exact != "" {
		out.Method = m.Method.Exact
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		h := m.Headers[name]
		match := kumaValueMatch{Type: "Exact", Name: name, Value: h.Exact}
		switch exact, v := matchValue(h); {
		case h.Prefix != "":
			match = kumaValueMatch{Type: "Prefix", Name: name, Value: h.Prefix}
		case !exact:
			match = kumaValueMatch{Type: "RegularExpression", Name: name, Value: v}
		}
		out.Headers = append(out.Headers, match)
	}
	for _, name := range slices.Sorted(maps.Keys(m.QueryParams)) {
		match := kumaValueMatch{Type: "Exact", Name: name}
		exact, v := matchValue(m.QueryParams[name])
		if match.Value = v; !exact {
			match.Type = "RegularExpression"
		}
		out.QueryParams = append(out.QueryParams, match)
	}
	return out
}
