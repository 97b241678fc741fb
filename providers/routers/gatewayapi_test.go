package routers

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// gatewayCanary is a Canary routed through the Gateway "gw" of its
// namespace for app.example.com.
func gatewayCanary(t *testing.T, ns string, edit func(*flaggerv1.Canary)) *flaggerv1.Canary {
	return createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Service.Hosts = []string{"app.example.com"}
		c.Spec.Service.GatewayRefs = []flaggerv1.ParentReference{{Name: "gw"}}
		if edit != nil {
			edit(c)
		}
	})
}

func getRoute(t *testing.T, d Deps, ns, name string) *gatewayv1.HTTPRoute {
	t.Helper()
	r := &gatewayv1.HTTPRoute{}
	if err := d.Client.Get(testCtx(t), client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
		t.Fatalf("reading HTTPRoute %s.%s: %v", name, ns, err)
	}
	return r
}

// ruleNamed returns the rule of that name, failing the test without it.
func ruleNamed(t *testing.T, r *gatewayv1.HTTPRoute, name string) gatewayv1.HTTPRouteRule {
	t.Helper()
	for _, rule := range r.Spec.Rules {
		if rule.Name != nil && string(*rule.Name) == name {
			return rule
		}
	}
	t.Fatalf("HTTPRoute %s has no rule %q: %+v", r.Name, name, r.Spec.Rules)
	return gatewayv1.HTTPRouteRule{}
}

// backendWeights lists "name=weight" for the backends of a rule.
func backendWeights(rule gatewayv1.HTTPRouteRule) string {
	var out []string
	for _, b := range rule.BackendRefs {
		out = append(out, fmt.Sprintf("%s:%d=%d", b.Name, ptr.Deref(b.Port, 0), ptr.Deref(b.Weight, 1)))
	}
	return strings.Join(out, ",")
}

// acceptRoute plays the Gateway: it reports the route's current generation
// as accepted (or not).
func acceptRoute(t *testing.T, d Deps, ns, name string, status metav1.ConditionStatus, observed func(gen int64) int64) {
	t.Helper()
	r := getRoute(t, d, ns, name)
	reason := string(gatewayv1.RouteReasonAccepted)
	if status != metav1.ConditionTrue {
		reason = string(gatewayv1.RouteReasonNotAllowedByListeners)
	}
	r.Status.Parents = []gatewayv1.RouteParentStatus{{
		ParentRef:      r.Spec.ParentRefs[0],
		ControllerName: "example.com/gateway-controller",
		Conditions: []metav1.Condition{{
			Type: string(gatewayv1.RouteConditionAccepted), Status: status, Reason: reason, Message: "as the test says",
			ObservedGeneration: observed(r.Generation), LastTransitionTime: metav1.Now(),
		}},
	}}
	if err := d.Client.Status().Update(testCtx(t), r); err != nil {
		t.Fatalf("writing the status of HTTPRoute %s: %v", name, err)
	}
}

func current(gen int64) int64 { return gen }

func TestGatewayAPIWeightSteps(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	for _, provider := range []string{GatewayAPIV1, GatewayAPIV1beta1} {
		t.Run(provider, func(t *testing.T) {
			ns := env.Namespace(t)
			d, _ := testDeps(t)
			c := gatewayCanary(t, ns, nil)
			r, err := New(provider, d)
			if err != nil {
				t.Fatal(err)
			}
			ctx := testCtx(t)
			if err := r.Reconcile(ctx, c); err != nil {
				t.Fatal(err)
			}
			route := getRoute(t, d, ns, "podinfo")
			if got := backendWeights(ruleNamed(t, route, ruleWeighted)); got != "podinfo-primary:9898=100,podinfo-canary:9898=0" {
				t.Fatalf("new HTTPRoute routes %s, want all traffic on the primary", got)
			}
			for _, step := range weightSteps() {
				if err := r.SetRoutes(ctx, c, step[0], step[1], false); err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("podinfo-primary:9898=%d,podinfo-canary:9898=%d", step[0], step[1])
				if got := backendWeights(ruleNamed(t, getRoute(t, d, ns, "podinfo"), ruleWeighted)); got != want {
					t.Fatalf("after SetRoutes(%d, %d) the HTTPRoute routes %s, want %s", step[0], step[1], got, want)
				}
				acceptRoute(t, d, ns, "podinfo", metav1.ConditionTrue, current)
				p, cw, mirrored, err := r.GetRoutes(ctx, c)
				if err != nil || p != step[0] || cw != step[1] || mirrored {
					t.Fatalf("GetRoutes after SetRoutes(%d, %d) = %d, %d, %v, %v", step[0], step[1], p, cw, mirrored, err)
				}
			}
			checkRouteObject(t, d, c, provider)
		})
	}
}

// checkRouteObject checks what every HTTPRoute carries: the v1beta1 view
// of the same object, parentRefs, hostnames, the toolkit annotations and
// the owner reference.
func checkRouteObject(t *testing.T, d Deps, c *flaggerv1.Canary, provider string) {
	t.Helper()
	if provider == GatewayAPIV1beta1 {
		old := &gatewayv1beta1.HTTPRoute{}
		if err := d.Client.Get(testCtx(t), client.ObjectKey{Namespace: c.Namespace, Name: "podinfo"}, old); err != nil {
			t.Fatalf("reading HTTPRoute as v1beta1: %v", err)
		}
	}
	route := getRoute(t, d, c.Namespace, "podinfo")
	if len(route.Spec.ParentRefs) != 1 || route.Spec.ParentRefs[0].Name != "gw" {
		t.Errorf("parentRefs = %+v, want the Gateway gw", route.Spec.ParentRefs)
	}
	if len(route.Spec.Hostnames) != 1 || route.Spec.Hostnames[0] != "app.example.com" {
		t.Errorf("hostnames = %v, want [app.example.com]", route.Spec.Hostnames)
	}
	for k, v := range ToolkitAnnotations {
		if route.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, route.Annotations[k], v)
		}
	}
	if ref := metav1.GetControllerOf(route); ref == nil || ref.UID != c.UID || ref.Kind != "Canary" {
		t.Errorf("controller of the HTTPRoute = %+v, want the Canary", ref)
	}
}

// A rule a user adds next to Warbler's (Flagger #1857 loses it) stays
// through a whole run of SetRoutes and Reconcile calls.
func TestGatewayAPIKeepsRulesUsersAdd(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := gatewayCanary(t, ns, nil)
	r, _ := New(GatewayAPIV1, d)
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	route := getRoute(t, d, ns, "podinfo")
	admin := gatewayv1.HTTPRouteRule{
		Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
			Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/admin"),
		}}},
		Filters: []gatewayv1.HTTPRouteFilter{{
			Type:                  gatewayv1.HTTPRouteFilterRequestHeaderModifier,
			RequestHeaderModifier: &gatewayv1.HTTPHeaderFilter{Set: []gatewayv1.HTTPHeader{{Name: "X-Admin", Value: "1"}}},
		}},
		BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: "admin", Port: ptr.To(gatewayv1.PortNumber(8080))},
		}}},
	}
	route.Spec.Rules = append(route.Spec.Rules, admin)
	if err := d.Client.Update(ctx, route); err != nil {
		t.Fatal(err)
	}
	stored := userRule(t, getRoute(t, d, ns, "podinfo"))
	for _, step := range weightSteps() {
		if err := r.SetRoutes(ctx, c, step[0], step[1], false); err != nil {
			t.Fatal(err)
		}
		if err := r.Reconcile(ctx, c); err != nil {
			t.Fatal(err)
		}
		route := getRoute(t, d, ns, "podinfo")
		if got := userRule(t, route); !equality.Semantic.DeepEqual(got, stored) {
			t.Fatalf("after SetRoutes(%d, %d) and Reconcile the user's rule became %+v, want %+v", step[0], step[1], got, stored)
		}
		want := fmt.Sprintf("podinfo-primary:9898=%d,podinfo-canary:9898=%d", step[0], step[1])
		if got := backendWeights(ruleNamed(t, route, ruleWeighted)); got != want {
			t.Fatalf("Reconcile changed the weights to %s, want %s", got, want)
		}
	}
}

// userRule is the one rule that routes to the Service admin.
func userRule(t *testing.T, r *gatewayv1.HTTPRoute) gatewayv1.HTTPRouteRule {
	t.Helper()
	var found []gatewayv1.HTTPRouteRule
	for _, rule := range r.Spec.Rules {
		if len(rule.BackendRefs) == 1 && rule.BackendRefs[0].Name == "admin" {
			found = append(found, rule)
		}
	}
	if len(found) != 1 {
		t.Fatalf("HTTPRoute has %d rules routing to admin, want 1: %+v", len(found), r.Spec.Rules)
	}
	return found[0]
}

func TestGatewayAPIRequiresGatewayRefs(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	c := createCanary(t, ns, nil)
	r, _ := New(GatewayAPIV1, d)
	err := r.Reconcile(testCtx(t), c)
	if err == nil || !strings.Contains(err.Error(), "GatewayRefs must be specified when using Gateway API as a provider.") {
		t.Fatalf("Reconcile without gatewayRefs = %v, want Flagger's message", err)
	}
}

// GetRoutes waits for the Gateway as Flagger does, but not forever: no
// status at all is no reason to wait, a rejection is, and a status for an
// older generation is waited for AcceptanceTimeout.
func TestGatewayAPIAcceptance(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, logs := testDeps(t)
	d.AcceptanceTimeout = time.Hour
	c := gatewayCanary(t, ns, nil)
	r := NewGatewayAPIV1(d)
	ctx := testCtx(t)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}

	// no Gateway has written status for the route: Flagger initialises on
	// the first tick, and so does Warbler, however long the timeout
	if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || p != 100 || cw != 0 {
		t.Fatalf("GetRoutes on a route no Gateway reported on = %d, %d, %v; want 100, 0 at once", p, cw, err)
	}

	acceptRoute(t, d, ns, "podinfo", metav1.ConditionFalse, current)
	if _, _, _, err := r.GetRoutes(ctx, c); !errors.Is(err, ErrRouteNotReady) || !strings.Contains(err.Error(), "status: False") {
		t.Fatalf("GetRoutes with Accepted=False = %v, want ErrRouteNotReady naming the status", err)
	}
	later := d
	later.AcceptanceTimeout = 0
	later.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if _, _, _, err := NewGatewayAPIV1(later).GetRoutes(ctx, c); !errors.Is(err, ErrRouteNotReady) {
		t.Fatalf("GetRoutes with Accepted=False long after the change = %v, want ErrRouteNotReady still: a rejection is not waited out", err)
	}

	acceptRoute(t, d, ns, "podinfo", metav1.ConditionTrue, func(int64) int64 { return 0 })
	if _, _, _, err := r.GetRoutes(ctx, c); err != nil {
		t.Fatalf("GetRoutes with Accepted=True and no observedGeneration = %v, want the weights", err)
	}

	if err := r.SetRoutes(ctx, c, 90, 10, false); err != nil {
		t.Fatal(err)
	}
	acceptRoute(t, d, ns, "podinfo", metav1.ConditionTrue, func(gen int64) int64 { return gen - 1 })
	if _, _, _, err := r.GetRoutes(ctx, c); !errors.Is(err, ErrRouteNotReady) || !strings.Contains(err.Error(), "observed generation") {
		t.Fatalf("GetRoutes with a stale observedGeneration = %v, want ErrRouteNotReady", err)
	}
	if logLine(logs, "going on without its acceptance") {
		t.Fatalf("warned before the timeout:\n%s", logs)
	}
	// a Gateway that never catches up (linkerd/linkerd2#14964) is waited
	// for only AcceptanceTimeout, then the router goes on with a warning
	if p, cw, _, err := NewGatewayAPIV1(later).GetRoutes(ctx, c); err != nil || p != 90 || cw != 10 {
		t.Fatalf("GetRoutes past the timeout with a stale observedGeneration = %d, %d, %v; want 90, 10", p, cw, err)
	}
	if !logLine(logs, `"level":"warn"`, `"msg":"HTTPRoute podinfo.`+ns+`: parent `+ns+`/gw has observed generation`, "going on without its acceptance", `"canary":"podinfo.`+ns) {
		t.Fatalf("no warning about the stale Gateway status in the logs:\n%s", logs)
	}
	acceptRoute(t, d, ns, "podinfo", metav1.ConditionTrue, current)
	if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || p != 90 || cw != 10 {
		t.Fatalf("GetRoutes once accepted = %d, %d, %v; want 90, 10", p, cw, err)
	}
}

// The change is stamped before it is written; a write that took seconds
// (the first HTTPRoute the API server validates compiles its CEL rules)
// must not count as time already waited for the Gateway.
func TestLastSpecChangeIsNeverBeforeCreation(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	route := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
	for _, tc := range []struct {
		stamp string
		want  time.Time
	}{
		{"", created},
		{"not a time", created},
		{created.Add(-2 * time.Second).Format(time.RFC3339), created},
		{created.Add(time.Minute).Format(time.RFC3339), created.Add(time.Minute)},
	} {
		route.Annotations = map[string]string{specChangedAt: tc.stamp}
		if got := lastSpecChange(route); !got.Equal(tc.want) {
			t.Errorf("stamp %q: lastSpecChange = %v, want %v", tc.stamp, got, tc.want)
		}
	}
}
