package routers

import (
	"regexp"
	"slices"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The VirtualService spec Warbler writes (networking.istio.io), as small
// local types.

type virtualServiceSpec struct {
	Hosts    []string    `json:"hosts,omitempty"`
	Gateways []string    `json:"gateways,omitempty"`
	HTTP     []istioHTTP `json:"http,omitempty"`
	TCP      []istioTCP  `json:"tcp,omitempty"`
}

// istioTCP is a tcp route: L4 matches (ports only) and the split.
type istioTCP struct {
	Match []istioL4Match `json:"match,omitempty"`
	Route []istioRoute   `json:"route"`
}

type istioL4Match struct {
	Port uint32 `json:"port,omitempty"`
}

type istioHTTP struct {
	Name             string                `json:"name,omitempty"`
	Match            []istioMatch          `json:"match,omitempty"`
	Route            []istioRoute          `json:"route"`
	Rewrite          *istioRewrite         `json:"rewrite,omitempty"`
	Timeout          string                `json:"timeout,omitempty"`
	Retries          *flaggerv1.HTTPRetry  `json:"retries,omitempty"`
	Headers          *flaggerv1.Headers    `json:"headers,omitempty"`
	CorsPolicy       *flaggerv1.CorsPolicy `json:"corsPolicy,omitempty"`
	Mirror           *istioDestination     `json:"mirror,omitempty"`
	MirrorPercentage *istioPercent         `json:"mirrorPercentage,omitempty"`
}

type istioRoute struct {
	Destination istioDestination `json:"destination"`
	Weight      int64            `json:"weight"`
	// Headers of a destination carry the session-affinity Set-Cookie.
	Headers *flaggerv1.Headers `json:"headers,omitempty"`
}

type istioDestination struct {
	Host string     `json:"host"`
	Port *istioPort `json:"port,omitempty"`
}

type istioPort struct {
	Number int64 `json:"number"`
}

type istioPercent struct {
	Value int64 `json:"value"`
}

type istioRewrite struct {
	URI       string `json:"uri,omitempty"`
	Authority string `json:"authority,omitempty"`
}

// istioMatch is flaggerv1.HTTPMatchRequest without suffix matches, which
// Istio's StringMatch does not have.
type istioMatch struct {
	Name            string                           `json:"name,omitempty"`
	URI             *flaggerv1.StringMatch           `json:"uri,omitempty"`
	Scheme          *flaggerv1.StringMatch           `json:"scheme,omitempty"`
	Method          *flaggerv1.StringMatch           `json:"method,omitempty"`
	Authority       *flaggerv1.StringMatch           `json:"authority,omitempty"`
	Headers         map[string]flaggerv1.StringMatch `json:"headers,omitempty"`
	Port            uint32                           `json:"port,omitempty"`
	SourceLabels    map[string]string                `json:"sourceLabels,omitempty"`
	Gateways        []string                         `json:"gateways,omitempty"`
	QueryParams     map[string]flaggerv1.StringMatch `json:"queryParams,omitempty"`
	IgnoreURICase   bool                             `json:"ignoreUriCase,omitempty"`
	WithoutHeaders  map[string]flaggerv1.StringMatch `json:"withoutHeaders,omitempty"`
	SourceNamespace string                           `json:"sourceNamespace,omitempty"`
}

// virtualService builds the spec for the split s: one weighted http route
// (named "primary", Flagger's name), and in A/B testing a first route with
// analysis.match combined with service.match while the second keeps the
// rest on the primary. With session affinity, sticky routes come first
// while the canary gets traffic. A TCP service gets one tcp route instead.
func virtualService(c *flaggerv1.Canary, s split) *virtualServiceSpec {
	spec := &virtualServiceSpec{Hosts: istioHosts(c), Gateways: istioGateways(c)}
	if istioTCPService(c) {
		spec.TCP = []istioTCP{{Match: istioL4Matches(c), Route: istioRoutes(c, s.primary, s.canary)}}
		return spec
	}
	base := istioBase(c)
	weighted := base
	weighted.Route = istioRoutes(c, s.primary, s.canary)
	if s.baseline > 0 {
		weighted.Route = append(weighted.Route, istioRoute{Destination: *istioTarget(c, c.BaselineServiceName()), Weight: int64(s.baseline)})
	}
	if s.mirrored {
		weighted.Mirror = istioTarget(c, canaryService(c))
		if a := c.Spec.Analysis; a != nil && a.MirrorWeight > 0 {
			weighted.MirrorPercentage = &istioPercent{Value: int64(a.MirrorWeight)}
		}
	}
	if ab := abMatch(c); len(ab) > 0 {
		weighted.Name = "canary"
		weighted.Match = istioMatches(mergeMatches(ab, c.Spec.Service.Match))
		base.Route = istioRoutes(c, 100, 0)
		spec.HTTP = []istioHTTP{weighted, base}
		return spec
	}
	spec.HTTP = append(istioSticky(c, s, &weighted), weighted)
	return spec
}

func istioBase(c *flaggerv1.Canary) istioHTTP {
	svc := c.Spec.Service
	h := istioHTTP{
		Name:       "primary",
		Match:      istioMatches(svc.Match),
		Timeout:    svc.Timeout,
		Retries:    svc.Retries,
		Headers:    svc.Headers,
		CorsPolicy: svc.CorsPolicy,
	}
	if r := svc.Rewrite; r != nil && (r.URI != "" || r.Authority != "") {
		h.Rewrite = &istioRewrite{URI: r.URI, Authority: r.Authority}
	}
	return h
}

func istioRoutes(c *flaggerv1.Canary, primary, canary int) []istioRoute {
	return []istioRoute{
		{Destination: *istioTarget(c, primaryService(c)), Weight: int64(primary)},
		{Destination: *istioTarget(c, canaryService(c)), Weight: int64(canary)},
	}
}

func istioTarget(c *flaggerv1.Canary, host string) *istioDestination {
	return &istioDestination{Host: host, Port: &istioPort{Number: int64(c.Spec.Service.Port)}}
}

// istioHosts are service.hosts plus the apex service, unless "*" or the
// apex is listed; none in delegation mode.
func istioHosts(c *flaggerv1.Canary) []string {
	if c.Spec.Service.Delegation {
		return nil
	}
	hosts := slices.Clone(c.Spec.Service.Hosts)
	apex := c.ApexServiceName()
	if !slices.Contains(hosts, "*") && !slices.Contains(hosts, apex) {
		hosts = append(hosts, apex)
	}
	return hosts
}

// istioGateways are service.gateways, or "mesh"; none in delegation mode.
func istioGateways(c *flaggerv1.Canary) []string {
	switch {
	case c.Spec.Service.Delegation:
		return nil
	case len(c.Spec.Service.Gateways) > 0:
		return slices.Clone(c.Spec.Service.Gateways)
	}
	return []string{"mesh"}
}

func istioMatches(in []flaggerv1.HTTPMatchRequest) []istioMatch {
	var out []istioMatch
	for _, m := range in {
		out = append(out, istioMatch{
			Name: m.Name, URI: istioString(m.URI), Scheme: istioString(m.Scheme), Method: istioString(m.Method),
			Authority: istioString(m.Authority), Headers: istioStrings(m.Headers), Port: m.Port,
			SourceLabels: m.SourceLabels, Gateways: m.Gateways, QueryParams: istioStrings(m.QueryParams),
			IgnoreURICase: m.IgnoreURICase, WithoutHeaders: istioStrings(m.WithoutHeaders), SourceNamespace: m.SourceNamespace,
		})
	}
	return out
}

// istioString writes a suffix match as a regular expression.
func istioString(s *flaggerv1.StringMatch) *flaggerv1.StringMatch {
	if s == nil || s.Suffix == "" {
		return s
	}
	return &flaggerv1.StringMatch{Regex: ".*" + regexp.QuoteMeta(s.Suffix) + "$"}
}

func istioStrings(in map[string]flaggerv1.StringMatch) map[string]flaggerv1.StringMatch {
	if in == nil {
		return nil
	}
	out := make(map[string]flaggerv1.StringMatch, len(in))
	for k, v := range in {
		out[k] = *istioString(&v)
	}
	return out
}
