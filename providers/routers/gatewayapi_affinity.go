package routers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Session affinity keeps a user who reached the canary on the canary: the
// canary backend sets a cookie, and a sticky rule placed first sends
// requests carrying it to the canary. Flagger draws the cookie value at
// random and keeps it in status; routers cannot write status, so Warbler
// derives it from the Canary's UID and the revision under analysis
// (status.lastAppliedSpec): stable within a run, new for the next one.

func affinity(c *flaggerv1.Canary) *flaggerv1.SessionAffinity {
	if c.Spec.Analysis == nil {
		return nil
	}
	return c.Spec.Analysis.SessionAffinity
}

// cookieValue is the value of the canary cookie (role "canary") or of the
// primary cookie (role "primary") for the current run.
func cookieValue(c *flaggerv1.Canary, role string) string {
	sum := sha256.Sum256([]byte(string(c.UID) + "/" + c.Status.LastAppliedSpec + "/" + role))
	return hex.EncodeToString(sum[:10])
}

// stickyRules are copies of the weighted rule that match the cookies: the
// canary cookie goes to the canary, the primary cookie (primaryCookieName)
// to the primary. They exist only while the canary gets traffic.
func stickyRules(c *flaggerv1.Canary, s split, weighted gatewayv1.HTTPRouteRule) []gatewayv1.HTTPRouteRule {
	sa := affinity(c)
	if sa == nil || s.canary == 0 {
		return nil
	}
	rules := []gatewayv1.HTTPRouteRule{stickyRule(c, weighted, ruleSticky, sa.CookieName, cookieValue(c, "canary"), 0, 100)}
	if sa.PrimaryCookieName != "" {
		rules = append(rules, stickyRule(c, weighted, ruleStickyPrimary, sa.PrimaryCookieName, cookieValue(c, "primary"), 100, 0))
	}
	return rules
}

func stickyRule(c *flaggerv1.Canary, weighted gatewayv1.HTTPRouteRule, rule, name, value string, primary, canary int) gatewayv1.HTTPRouteRule {
	r := *weighted.DeepCopy()
	r.Name = ptr.To(gatewayv1.SectionName(rule))
	r.Filters = withoutCanaryMirror(c, r.Filters)
	r.BackendRefs = []gatewayv1.HTTPBackendRef{
		serviceBackend(c, primaryService(c), primary),
		serviceBackend(c, canaryService(c), canary),
	}
	regex := gatewayv1.HeaderMatchRegularExpression
	for i := range r.Matches {
		r.Matches[i].Headers = append(r.Matches[i].Headers, gatewayv1.HTTPHeaderMatch{
			Type: &regex, Name: "Cookie", Value: cookieRegex(name, value),
		})
	}
	return r
}

func withoutCanaryMirror(c *flaggerv1.Canary, in []gatewayv1.HTTPRouteFilter) []gatewayv1.HTTPRouteFilter {
	var out []gatewayv1.HTTPRouteFilter
	for _, f := range in {
		if f.RequestMirror == nil || !refersTo(c, f.RequestMirror.BackendRef, canaryService(c)) {
			out = append(out, f)
		}
	}
	return out
}

// affinityFilters are the Set-Cookie filters of the primary and canary
// backends of the weighted rule. While the canary gets traffic, its backend
// hands out the canary cookie and, with primaryCookieName, the primary's
// hands out the primary cookie for one analysis interval. Once the canary
// is back at 0, the primary expires the canary cookie.
func affinityFilters(c *flaggerv1.Canary, s split) (primary, canary []gatewayv1.HTTPRouteFilter) {
	sa := affinity(c)
	switch {
	case sa == nil:
		return nil, nil
	case s.canary == 0:
		return setCookie(sa, sa.CookieName, cookieValue(c, "canary"), -1), nil
	}
	canary = setCookie(sa, sa.CookieName, cookieValue(c, "canary"), maxAge(sa))
	if sa.PrimaryCookieName != "" {
		primary = setCookie(sa, sa.PrimaryCookieName, cookieValue(c, "primary"), intervalSeconds(c))
	}
	return primary, canary
}

func setCookie(sa *flaggerv1.SessionAffinity, name, value string, age int) []gatewayv1.HTTPRouteFilter {
	header := gatewayv1.HTTPHeader{Name: "Set-Cookie", Value: cookie(sa, name, value, age)}
	return []gatewayv1.HTTPRouteFilter{{
		Type:                   gatewayv1.HTTPRouteFilterResponseHeaderModifier,
		ResponseHeaderModifier: &gatewayv1.HTTPHeaderFilter{Add: []gatewayv1.HTTPHeader{header}},
	}}
}

// cookie is the Set-Cookie value of a session-affinity cookie: name=value,
// Max-Age, then the attributes of sessionAffinity in a fixed order.
func cookie(sa *flaggerv1.SessionAffinity, name, value string, age int) string {
	attrs := []string{name + "=" + value, fmt.Sprintf("Max-Age=%d", age)}
	if sa.Domain != "" {
		attrs = append(attrs, "Domain="+sa.Domain)
	}
	if sa.Path != "" {
		attrs = append(attrs, "Path="+sa.Path)
	}
	if sa.SameSite != "" {
		attrs = append(attrs, "SameSite="+sa.SameSite)
	}
	flags := []struct {
		name string
		on   bool
	}{{"HttpOnly", sa.HTTPOnly}, {"Partitioned", sa.Partitioned}, {"Secure", sa.Secure}}
	for _, f := range flags {
		if f.on {
			attrs = append(attrs, f.name)
		}
	}
	return strings.Join(attrs, "; ")
}

// cookieRegex matches a Cookie header that carries the cookie name=value,
// as Flagger matches it.
func cookieRegex(name, value string) string { return fmt.Sprintf(".*%s.*%s.*", name, value) }

func maxAge(sa *flaggerv1.SessionAffinity) int {
	if sa.MaxAge > 0 {
		return sa.MaxAge
	}
	return 86400
}

// intervalSeconds is analysis.interval in seconds, with Flagger's rules: 60
// when unset or unparsable, at least 10.
func intervalSeconds(c *flaggerv1.Canary) int {
	d, err := time.ParseDuration(c.Spec.Analysis.Interval)
	if err != nil || d <= 0 {
		d = time.Minute
	}
	return int(max(d, 10*time.Second) / time.Second)
}
