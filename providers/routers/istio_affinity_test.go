package routers

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// istioRoutesNamed returns the http routes of a stored VirtualService by
// name, and their order.
func istioRoutesNamed(t *testing.T, u *unstructured.Unstructured) (map[string]map[string]any, []string) {
	t.Helper()
	http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
	out, order := map[string]map[string]any{}, []string{}
	for _, h := range http {
		m := h.(map[string]any)
		name, _ := m["name"].(string)
		out[name] = m
		order = append(order, name)
	}
	return out, order
}

// setCookieOf is the Set-Cookie a destination of a route adds, by host.
func setCookieOf(route map[string]any, host string) string {
	dests, _, _ := unstructured.NestedSlice(route, "route")
	for _, d := range dests {
		dm := d.(map[string]any)
		if h, _, _ := unstructured.NestedString(dm, "destination", "host"); h == host {
			v, _, _ := unstructured.NestedString(dm, "headers", "response", "add", "Set-Cookie")
			return v
		}
	}
	return ""
}

// Istio session affinity, as Flagger writes it: while the canary gets
// traffic a sticky-route sends holders of the canary cookie to the canary
// and the canary destination hands the cookie out; back at 0 the cookie is
// expired.
func TestIstioSessionAffinity(t *testing.T) {
	env.TrafficCRDs(t, testenv.Istio)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Service.Match = []flaggerv1.HTTPMatchRequest{{URI: &flaggerv1.StringMatch{Prefix: "/api"}}}
		c.Spec.Analysis.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "canary-session", PrimaryCookieName: "primary-session", MaxAge: 3600, Path: "/", Secure: true}
	})
	c.Status.LastAppliedSpec = "rev-2"
	r, _ := New(Istio, d)
	// the split is read past the sticky routes at every step
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		vs := getUnstructured(t, d, virtualServiceGVK, ns, "podinfo")
		http, _, _ := unstructured.NestedSlice(vs.Object, "spec", "http")
		return vsWeights(t, vs, len(http)-1)
	})
	ctx := testCtx(t)
	canaryCookie, primaryCookie := cookieValue(c, "canary"), cookieValue(c, "primary")

	if err := r.SetRoutes(ctx, c, 90, 10, false); err != nil {
		t.Fatal(err)
	}
	vs := getUnstructured(t, d, virtualServiceGVK, ns, "podinfo")
	routes, order := istioRoutesNamed(t, vs)
	if fmt.Sprint(order) != "[sticky-route sticky-route-primary primary]" {
		t.Fatalf("http routes %v, want sticky-route, sticky-route-primary, then the weighted route", order)
	}
	if w := vsWeights(t, vs, 0); w != [2]int{0, 100} {
		t.Errorf("sticky-route routes %v, want all to the canary", w)
	}
	if w := vsWeights(t, vs, 1); w != [2]int{100, 0} {
		t.Errorf("sticky-route-primary routes %v, want all to the primary", w)
	}
	wantMatch := fmt.Sprintf("[map[headers:map[Cookie:map[regex:.*canary-session.*%s.*]] uri:map[prefix:/api]]]", canaryCookie)
	if got := fmt.Sprint(routes["sticky-route"]["match"]); got != wantMatch {
		t.Errorf("sticky-route match %s, want %s", got, wantMatch)
	}
	if got, want := setCookieOf(routes["primary"], "podinfo-canary"), "canary-session="+canaryCookie+"; Max-Age=3600; Path=/; Secure"; got != want {
		t.Errorf("canary destination sets %q, want %q", got, want)
	}
	if got, want := setCookieOf(routes["primary"], "podinfo-primary"), "primary-session="+primaryCookie+"; Max-Age=30; Path=/; Secure"; got != want {
		t.Errorf("primary destination sets %q, want %q (one analysis interval)", got, want)
	}
	if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || p != 90 || cw != 10 {
		t.Errorf("GetRoutes = %d, %d, %v; want 90, 10 from the weighted route", p, cw, err)
	}

	if err := r.SetRoutes(ctx, c, 100, 0, false); err != nil {
		t.Fatal(err)
	}
	routes, order = istioRoutesNamed(t, getUnstructured(t, d, virtualServiceGVK, ns, "podinfo"))
	if fmt.Sprint(order) != "[primary]" {
		t.Errorf("http routes at 100/0: %v, want only the weighted route", order)
	}
	if got, want := setCookieOf(routes["primary"], "podinfo-primary"), "canary-session="+canaryCookie+"; Max-Age=-1; Path=/; Secure"; got != want {
		t.Errorf("primary destination at 100/0 sets %q, want the canary cookie expired %q", got, want)
	}
}

// A TCP service (appProtocol tcp) gets a tcp route with L4 port matches and
// no http route; what a tcp route cannot do is refused.
func TestIstioTCPRoute(t *testing.T) {
	env.TrafficCRDs(t, testenv.Istio)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Service.AppProtocol = ptr.To("TCP")
		c.Spec.Service.Match = []flaggerv1.HTTPMatchRequest{{Port: 9898}}
	})
	r, _ := New(Istio, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		vs := getUnstructured(t, d, virtualServiceGVK, ns, "podinfo")
		if http, ok, _ := unstructured.NestedSlice(vs.Object, "spec", "http"); ok {
			t.Fatalf("a TCP service got http routes: %v", http)
		}
		tcp, _, _ := unstructured.NestedSlice(vs.Object, "spec", "tcp")
		if len(tcp) != 1 || fmt.Sprint(tcp[0].(map[string]any)["match"]) != "[map[port:9898]]" {
			t.Fatalf("tcp routes %v, want one matching port 9898", tcp)
		}
		vs.Object["spec"].(map[string]any)["http"] = tcp
		return vsWeights(t, vs, 0)
	})

	for name, edit := range map[string]func(a *flaggerv1.CanaryAnalysis){
		"analysis.mirror": func(a *flaggerv1.CanaryAnalysis) { a.Mirror = true },
		"analysis.match": func(a *flaggerv1.CanaryAnalysis) {
			a.Match = []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"x": {Exact: "1"}}}}
		},
		"analysis.sessionAffinity": func(a *flaggerv1.CanaryAnalysis) { a.SessionAffinity = &flaggerv1.SessionAffinity{CookieName: "c"} },
	} {
		bad := c.DeepCopy()
		edit(bad.Spec.Analysis)
		err := r.Reconcile(testCtx(t), bad)
		if err == nil || !strings.Contains(err.Error(), "appProtocol tcp") || !strings.Contains(err.Error(), name) {
			t.Errorf("Reconcile of a TCP service with %s = %v, want an error naming appProtocol tcp and %s", name, err, name)
		}
	}
}
