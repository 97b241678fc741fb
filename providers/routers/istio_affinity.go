package routers

import (
	"fmt"
	"maps"
	"strings"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Istio session affinity, as Flagger writes it: while the canary gets
// traffic, a route named sticky-route comes first and sends requests whose
// Cookie header carries the canary cookie to the canary; the canary
// destination of the weighted route hands that cookie out (Set-Cookie in
// its response headers). With primaryCookieName, sticky-route-primary and
// the primary destination do the same for the primary, for one analysis
// interval (Flagger's Istio router has no primary cookie; its Gateway API
// router does). Once the canary is back at 0, the primary destination
// expires the canary cookie. The cookie values are derived as for Gateway
// API (cookieValue).

const (
	istioStickyRoute        = "sticky-route"
	istioStickyRoutePrimary = "sticky-route-primary"
)

// istioSticky returns the sticky routes for the split s and adds the
// Set-Cookie headers to the destinations of weighted.
func istioSticky(c *flaggerv1.Canary, s split, weighted *istioHTTP) []istioHTTP {
	sa := affinity(c)
	if sa == nil {
		return nil
	}
	canaryCookie := cookieValue(c, "canary")
	if s.canary == 0 {
		addSetCookie(&weighted.Route[0], cookie(sa, sa.CookieName, canaryCookie, -1))
		return nil
	}
	addSetCookie(&weighted.Route[1], cookie(sa, sa.CookieName, canaryCookie, maxAge(sa)))
	sticky := []istioHTTP{istioStickyHTTP(c, *weighted, istioStickyRoute, sa.CookieName, canaryCookie, 0, 100)}
	if sa.PrimaryCookieName != "" {
		primaryCookie := cookieValue(c, "primary")
		addSetCookie(&weighted.Route[0], cookie(sa, sa.PrimaryCookieName, primaryCookie, intervalSeconds(c)))
		sticky = append(sticky, istioStickyHTTP(c, *weighted, istioStickyRoutePrimary, sa.PrimaryCookieName, primaryCookie, 100, 0))
	}
	return sticky
}

// istioStickyHTTP is a copy of the weighted route that also requires the
// cookie, with its own split and no Set-Cookie or mirror.
func istioStickyHTTP(c *flaggerv1.Canary, weighted istioHTTP, name, cookieName, value string, primary, canary int) istioHTTP {
	h := weighted
	h.Name = name
	h.Mirror, h.MirrorPercentage = nil, nil
	h.Route = istioRoutes(c, primary, canary)
	cookieMatch := flaggerv1.StringMatch{Regex: cookieRegex(cookieName, value)}
	h.Match = nil
	for _, m := range weighted.Match {
		m.Headers = maps.Clone(m.Headers)
		if m.Headers == nil {
			m.Headers = map[string]flaggerv1.StringMatch{}
		}
		m.Headers["Cookie"] = cookieMatch
		h.Match = append(h.Match, m)
	}
	if len(h.Match) == 0 {
		h.Match = []istioMatch{{Headers: map[string]flaggerv1.StringMatch{"Cookie": cookieMatch}}}
	}
	return h
}

func addSetCookie(r *istioRoute, value string) {
	r.Headers = &flaggerv1.Headers{Response: &flaggerv1.HeaderOperations{Add: map[string]string{"Set-Cookie": value}}}
}

// istioTCPService: Flagger writes a tcp route instead of http routes when
// service.appProtocol is "tcp", in any case; the port name does not count.
func istioTCPService(c *flaggerv1.Canary) bool {
	return c.Spec.Service.AppProtocol != nil && strings.EqualFold(*c.Spec.Service.AppProtocol, "tcp")
}

// istioL4Matches are the ports of service.match, one L4 match each, as
// Flagger maps them (an entry without a port matches every port).
func istioL4Matches(c *flaggerv1.Canary) []istioL4Match {
	var out []istioL4Match
	for _, m := range c.Spec.Service.Match {
		out = append(out, istioL4Match{Port: m.Port})
	}
	return out
}

// checkIstioTCP refuses what a tcp route cannot do. Flagger ignores these
// settings on a TCP service; Warbler says so, because a mirror step that
// never mirrors, or an A/B run that matches nothing, would not test what
// the user asked.
func checkIstioTCP(c *flaggerv1.Canary) error {
	if !istioTCPService(c) {
		return nil
	}
	asked := matchMirrorAffinity(c)
	if len(asked) == 0 {
		return nil
	}
	return fmt.Errorf("canary %s: spec.service.appProtocol tcp makes the Istio router write a tcp route, which has no HTTP matches, mirroring or cookies: remove %s, or use an HTTP appProtocol",
		c.Key(), strings.Join(asked, " and "))
}
