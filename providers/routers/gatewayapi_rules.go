package routers

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Names of the rules Warbler writes into an HTTPRoute. GetRoutes reads the
// split from the weighted rule; rules of other names that send traffic to
// <svc>-primary or <svc>-canary are replaced as well.
const (
	ruleSticky        = "warbler-sticky"
	ruleStickyPrimary = "warbler-sticky-primary"
	ruleWeighted      = "warbler-weighted"
	rulePrimary       = "warbler-primary"
)

// writeRouteSpec sets parentRefs, hostnames and the managed rules of an
// HTTPRoute spec for the split s. Other rules keep their content and order.
func writeRouteSpec(c *flaggerv1.Canary, spec *gatewayv1.HTTPRouteSpec, s split) error {
	managed, err := managedRules(c, s)
	if err != nil {
		return err
	}
	spec.ParentRefs = parentRefs(c.Spec.Service.GatewayRefs)
	spec.Hostnames = hostnames(c.Spec.Service.Hosts)
	spec.Rules = replaceManaged(spec.Rules, managed, func(r gatewayv1.HTTPRouteRule) bool { return isManaged(c, r) })
	return nil
}

// managedRules are, in order: the sticky rules of session affinity (while
// the canary gets traffic), the weighted rule, and in A/B testing the rule
// that keeps requests outside analysis.match on the primary.
func managedRules(c *flaggerv1.Canary, s split) ([]gatewayv1.HTTPRouteRule, error) {
	base, err := baseRule(c)
	if err != nil {
		return nil, err
	}
	weighted := *base.DeepCopy()
	weighted.Name = ptr.To(gatewayv1.SectionName(ruleWeighted))
	weighted.BackendRefs = weightedBackends(c, s)
	if s.mirrored {
		weighted.Filters = append(weighted.Filters, canaryMirror(c))
	}
	abTesting := len(abMatch(c)) > 0
	if abTesting {
		weighted.Matches = routeMatches(mergeMatches(abMatch(c), c.Spec.Service.Match))
	}
	rules := append(stickyRules(c, s, weighted), weighted)
	if abTesting {
		primaryOnly := *base.DeepCopy()
		primaryOnly.Name = ptr.To(gatewayv1.SectionName(rulePrimary))
		primaryOnly.BackendRefs = []gatewayv1.HTTPBackendRef{serviceBackend(c, primaryService(c), 100)}
		rules = append(rules, primaryOnly)
	}
	return rules, nil
}

// baseRule holds what every managed rule shares: the matches of
// service.match (PathPrefix / by default), filters and timeouts.
func baseRule(c *flaggerv1.Canary) (gatewayv1.HTTPRouteRule, error) {
	filters, err := ruleFilters(c)
	if err != nil {
		return gatewayv1.HTTPRouteRule{}, err
	}
	return gatewayv1.HTTPRouteRule{
		Matches:  routeMatches(c.Spec.Service.Match),
		Filters:  filters,
		Timeouts: ruleTimeouts(c.Spec.Service),
	}, nil
}

func abMatch(c *flaggerv1.Canary) []flaggerv1.HTTPMatchRequest {
	if c.Spec.Analysis == nil {
		return nil
	}
	return c.Spec.Analysis.Match
}

// weightedBackends sends primary% to <svc>-primary, canary% to
// <svc>-canary and baseline% to <svc>-baseline (only while it has a share),
// with the session-affinity cookies when configured.
func weightedBackends(c *flaggerv1.Canary, s split) []gatewayv1.HTTPBackendRef {
	primary := serviceBackend(c, primaryService(c), s.primary)
	canary := serviceBackend(c, canaryService(c), s.canary)
	primary.Filters, canary.Filters = affinityFilters(c, s)
	if s.baseline > 0 {
		return []gatewayv1.HTTPBackendRef{primary, canary, serviceBackend(c, c.BaselineServiceName(), s.baseline)}
	}
	return []gatewayv1.HTTPBackendRef{primary, canary}
}

// serviceBackend is a backendRef to a Service of the canary's namespace on
// service.port, with the defaults the API server would add spelled out so
// that a stored route compares equal to a freshly built one.
func serviceBackend(c *flaggerv1.Canary, name string, weight int) gatewayv1.HTTPBackendRef {
	return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
		BackendObjectReference: serviceRef(c, name),
		Weight:                 ptr.To(int32(weight)),
	}}
}

func serviceRef(c *flaggerv1.Canary, name string) gatewayv1.BackendObjectReference {
	return gatewayv1.BackendObjectReference{
		Group: ptr.To(gatewayv1.Group("")),
		Kind:  ptr.To(gatewayv1.Kind("Service")),
		Name:  gatewayv1.ObjectName(name),
		Port:  ptr.To(c.Spec.Service.Port),
	}
}

func primaryService(c *flaggerv1.Canary) string { _, p, _ := c.ServiceNames(); return p }
func canaryService(c *flaggerv1.Canary) string  { _, _, cn := c.ServiceNames(); return cn }

// isManaged tells the rules Warbler owns: those it named, and those that
// send traffic to <svc>-primary or <svc>-canary (such as the rule of a route
// that routed to a stable and a canary service before Warbler).
func isManaged(c *flaggerv1.Canary, r gatewayv1.HTTPRouteRule) bool {
	if r.Name != nil && strings.HasPrefix(string(*r.Name), "warbler-") {
		return true
	}
	for _, b := range r.BackendRefs {
		ref := b.BackendObjectReference
		if refersTo(c, ref, primaryService(c)) || refersTo(c, ref, canaryService(c)) || refersTo(c, ref, c.BaselineServiceName()) {
			return true
		}
	}
	return false
}

// refersTo tells whether ref names the Service name in the canary's
// namespace.
func refersTo(c *flaggerv1.Canary, ref gatewayv1.BackendObjectReference, name string) bool {
	core := ref.Group == nil || *ref.Group == "" || *ref.Group == "core"
	service := ref.Kind == nil || *ref.Kind == "Service"
	local := ref.Namespace == nil || string(*ref.Namespace) == c.Namespace
	return core && service && local && string(ref.Name) == name
}

// replaceManaged puts the managed rules where the first managed rule was
// (first, when there was none) and keeps every other rule in order.
func replaceManaged(rules, managed []gatewayv1.HTTPRouteRule, owned func(gatewayv1.HTTPRouteRule) bool) []gatewayv1.HTTPRouteRule {
	out := make([]gatewayv1.HTTPRouteRule, 0, len(rules)+len(managed))
	placed := false
	for _, r := range rules {
		if !owned(r) {
			out = append(out, r)
			continue
		}
		if !placed {
			out = append(out, managed...)
			placed = true
		}
	}
	if !placed {
		out = append(managed, out...)
	}
	return out
}

// currentSplit reads the split from the weighted rule: the one Warbler
// named, or else the first managed rule with both backends and no cookie
// match (a route written by Flagger).
func currentSplit(c *flaggerv1.Canary, route *gatewayv1.HTTPRoute) (split, bool) {
	var fallback *gatewayv1.HTTPRouteRule
	for i, r := range route.Spec.Rules {
		if r.Name != nil && *r.Name == ruleWeighted {
			return ruleSplit(c, r)
		}
		if fallback == nil && isManaged(c, r) && !matchesCookie(r) {
			if _, ok := ruleSplit(c, r); ok {
				fallback = &route.Spec.Rules[i]
			}
		}
	}
	if fallback == nil {
		return split{}, false
	}
	return ruleSplit(c, *fallback)
}

// ruleSplit reads the weights of the primary, canary and baseline backends
// of a rule and whether it mirrors to the canary.
func ruleSplit(c *flaggerv1.Canary, r gatewayv1.HTTPRouteRule) (split, bool) {
	var s split
	found := 0
	for _, b := range r.BackendRefs {
		w := 1 // the API's default weight
		if b.Weight != nil {
			w = int(*b.Weight)
		}
		switch {
		case refersTo(c, b.BackendObjectReference, primaryService(c)):
			s.primary, found = w, found+1
		case refersTo(c, b.BackendObjectReference, canaryService(c)):
			s.canary, found = w, found+1
		case refersTo(c, b.BackendObjectReference, c.BaselineServiceName()):
			s.baseline = w
		}
	}
	for _, f := range r.Filters {
		if f.Type == gatewayv1.HTTPRouteFilterRequestMirror && f.RequestMirror != nil &&
			refersTo(c, f.RequestMirror.BackendRef, canaryService(c)) {
			s.mirrored = true
		}
	}
	return s, found == 2
}

func matchesCookie(r gatewayv1.HTTPRouteRule) bool {
	for _, m := range r.Matches {
		for _, h := range m.Headers {
			if strings.EqualFold(string(h.Name), "cookie") {
				return true
			}
		}
	}
	return false
}

func parentRefs(refs []flaggerv1.ParentReference) []gatewayv1.ParentReference {
	out := make([]gatewayv1.ParentReference, 0, len(refs))
	for _, r := range refs {
		p := gatewayv1.ParentReference{
			Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)),
			Kind:  ptr.To(gatewayv1.Kind("Gateway")),
			Name:  gatewayv1.ObjectName(r.Name),
			Port:  r.Port,
		}
		if r.Group != nil {
			p.Group = ptr.To(gatewayv1.Group(*r.Group))
		}
		if r.Kind != nil {
			p.Kind = ptr.To(gatewayv1.Kind(*r.Kind))
		}
		if r.Namespace != nil {
			p.Namespace = ptr.To(gatewayv1.Namespace(*r.Namespace))
		}
		if r.SectionName != nil {
			p.SectionName = ptr.To(gatewayv1.SectionName(*r.SectionName))
		}
		out = append(out, p)
	}
	return out
}

func hostnames(hosts []string) []gatewayv1.Hostname {
	if len(hosts) == 0 {
		return nil
	}
	out := make([]gatewayv1.Hostname, len(hosts))
	for i, h := range hosts {
		out[i] = gatewayv1.Hostname(h)
	}
	return out
}

func equalRouteSpecs(a, b *gatewayv1.HTTPRouteSpec) bool { return equality.Semantic.DeepEqual(a, b) }
