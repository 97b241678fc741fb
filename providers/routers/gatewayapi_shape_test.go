package routers

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// The service fields that map to HTTPRoute filters, matches and timeouts
// reach the stored route (and pass the CRD's validation).
func TestGatewayAPIServiceFields(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := gatewayCanary(t, ns, func(c *flaggerv1.Canary) {
		s := &c.Spec.Service
		s.Timeout, s.BackendTimeout = "30s", "10s"
		s.Match = []flaggerv1.HTTPMatchRequest{{URI: &flaggerv1.StringMatch{Prefix: "/api"}}}
		s.Rewrite = &flaggerv1.HTTPRewrite{URI: "/", Type: "ReplacePrefixMatch"}
		s.Headers = &flaggerv1.Headers{
			Request:  &flaggerv1.HeaderOperations{Set: map[string]string{"X-B": "2", "X-A": "1"}, Remove: []string{"X-Debug"}},
			Response: &flaggerv1.HeaderOperations{Add: map[string]string{"X-Served-By": "warbler"}},
		}
		s.CorsPolicy = &flaggerv1.CorsPolicy{AllowOrigin: []string{"https://example.com"}, AllowMethods: []string{"GET"}, MaxAge: "24h"}
		s.Apex = &flaggerv1.CustomMetadata{Labels: map[string]string{"tier": "edge"}, Annotations: map[string]string{"note": "apex"}}
	})
	r := NewGatewayAPIV1(d)
	if err := r.Reconcile(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	route := getRoute(t, d, ns, "podinfo")
	rule := ruleNamed(t, route, ruleWeighted)
	if route.Labels["tier"] != "edge" || route.Annotations["note"] != "apex" {
		t.Errorf("apex metadata missing: labels %v annotations %v", route.Labels, route.Annotations)
	}
	if p := rule.Matches[0].Path; *p.Type != gatewayv1.PathMatchPathPrefix || *p.Value != "/api" {
		t.Errorf("match = %s %s, want PathPrefix /api", *p.Type, *p.Value)
	}
	if rule.Timeouts == nil || *rule.Timeouts.Request != "30s" || *rule.Timeouts.BackendRequest != "10s" {
		t.Errorf("timeouts = %+v, want request 30s, backendRequest 10s", rule.Timeouts)
	}
	types := []string{}
	for _, f := range rule.Filters {
		types = append(types, string(f.Type))
	}
	if got := strings.Join(types, ","); got != "RequestHeaderModifier,ResponseHeaderModifier,URLRewrite,CORS" {
		t.Fatalf("filters = %s", got)
	}
	if set := rule.Filters[0].RequestHeaderModifier.Set; set[0].Name != "X-A" || set[1].Name != "X-B" {
		t.Errorf("request headers not sorted by name: %+v", set)
	}
	if cors := rule.Filters[3].CORS; cors.MaxAge != 86400 || cors.AllowOrigins[0] != "https://example.com" {
		t.Errorf("CORS filter = %+v", cors)
	}
}

// A/B testing: the analysis match goes first with the split, and the
// service's own match keeps everything else on the primary.
func TestGatewayAPIABTesting(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := gatewayCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 10,
			Match: []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Exact: "insider"}}}}}
	})
	r := NewGatewayAPIV1(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	route := getRoute(t, d, ns, "podinfo")
	if n := *route.Spec.Rules[0].Name; n != ruleWeighted {
		t.Fatalf("first rule is %s, want the A/B rule", n)
	}
	ab := route.Spec.Rules[0]
	if h := ab.Matches[0].Headers; len(h) != 1 || h[0].Name != "x-canary" || h[0].Value != "insider" || backendWeights(ab) != "podinfo-primary:9898=0,podinfo-canary:9898=100" {
		t.Fatalf("A/B rule = %+v", ab)
	}
	if got := backendWeights(ruleNamed(t, route, rulePrimary)); got != "podinfo-primary:9898=100" {
		t.Fatalf("the rule for other requests routes %s, want only the primary", got)
	}
}

// Blue/green mirroring adds a RequestMirror filter to the canary, with
// mirrorWeight as the percentage.
func TestGatewayAPIMirror(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := gatewayCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 10, Mirror: true, MirrorWeight: 40}
	})
	r := NewGatewayAPIV1(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 100, 0, true); err != nil {
		t.Fatal(err)
	}
	rule := ruleNamed(t, getRoute(t, d, ns, "podinfo"), ruleWeighted)
	if len(rule.Filters) != 1 || rule.Filters[0].RequestMirror == nil || rule.Filters[0].RequestMirror.BackendRef.Name != "podinfo-canary" ||
		ptr.Deref(rule.Filters[0].RequestMirror.Percent, 0) != 40 {
		t.Fatalf("filters = %+v, want a 40%% mirror to podinfo-canary", rule.Filters)
	}
	acceptRoute(t, d, ns, "podinfo", "True", current)
	if p, cw, mirrored, err := r.GetRoutes(ctx, c); err != nil || p != 100 || cw != 0 || !mirrored {
		t.Fatalf("GetRoutes = %d, %d, %v, %v; want 100, 0, mirrored", p, cw, mirrored, err)
	}
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	if rule := ruleNamed(t, getRoute(t, d, ns, "podinfo"), ruleWeighted); len(rule.Filters) != 0 {
		t.Fatalf("mirror filter left after mirroring stopped: %+v", rule.Filters)
	}
}

// Session affinity: while the canary gets traffic, a sticky rule sends
// requests with the canary cookie to it and the canary backend sets the
// cookie; at 0 the sticky rule goes and the primary expires the cookie.
func TestGatewayAPISessionAffinity(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := gatewayCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "flagger-cookie", MaxAge: 3600, Secure: true, SameSite: "Lax"}
	})
	c.Status.LastAppliedSpec = "rev-1"
	r := NewGatewayAPIV1(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 90, 10, false); err != nil {
		t.Fatal(err)
	}
	route := getRoute(t, d, ns, "podinfo")
	sticky := route.Spec.Rules[0]
	value := cookieValue(c, "canary")
	if *sticky.Name != ruleSticky || backendWeights(sticky) != "podinfo-primary:9898=0,podinfo-canary:9898=100" {
		t.Fatalf("first rule = %+v, want the sticky rule to the canary", sticky)
	}
	cookie := sticky.Matches[0].Headers[0]
	if cookie.Name != "Cookie" || cookie.Value != ".*flagger-cookie.*"+value+".*" {
		t.Fatalf("sticky match = %+v", cookie)
	}
	weighted := ruleNamed(t, route, ruleWeighted)
	setCookie := weighted.BackendRefs[1].Filters[0].ResponseHeaderModifier.Add[0]
	if setCookie.Value != "flagger-cookie="+value+"; Max-Age=3600; SameSite=Lax; Secure" {
		t.Fatalf("canary Set-Cookie = %q", setCookie.Value)
	}
	acceptRoute(t, d, ns, "podinfo", "True", current)
	if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || p != 90 || cw != 10 {
		t.Fatalf("GetRoutes with a sticky rule = %d, %d, %v; want 90, 10", p, cw, err)
	}
	if err := r.SetRoutes(ctx, c, 100, 0, false); err != nil {
		t.Fatal(err)
	}
	route = getRoute(t, d, ns, "podinfo")
	if len(route.Spec.Rules) != 1 {
		t.Fatalf("rules at 100/0 = %+v, want only the weighted rule", route.Spec.Rules)
	}
	expire := route.Spec.Rules[0].BackendRefs[0].Filters[0].ResponseHeaderModifier.Add[0]
	if !strings.HasPrefix(expire.Value, "flagger-cookie="+value+"; Max-Age=-1") {
		t.Fatalf("primary Set-Cookie at 100/0 = %q, want the canary cookie expired", expire.Value)
	}
}
