package routers

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// seedGateway and seedRoute are seed 000's Gateway "default" and HTTPRoute
// "web" (Argo Rollouts with stable and canary backends), in namespace ns.
func seedGateway(ns string) *gatewayv1.Gateway {
	all := gatewayv1.NamespacesFromAll
	return &gatewayv1.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns},
		Spec: gatewayv1.GatewaySpec{
			GatewayClassName: "exclusive-gateway",
			Listeners: []gatewayv1.Listener{
				{Name: "gateway-metric", Port: 11782, Protocol: gatewayv1.TCPProtocolType,
					AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: &all}}},
				{Name: "web", Port: 80, Protocol: gatewayv1.HTTPProtocolType, Hostname: ptr.To(gatewayv1.Hostname("example.com")),
					AllowedRoutes: &gatewayv1.AllowedRoutes{Namespaces: &gatewayv1.RouteNamespaces{From: &all}}},
			},
		},
	}
}

func seedRoute(ns string) *gatewayv1.HTTPRoute {
	backend := func(name string, weight int32) gatewayv1.HTTPBackendRef {
		return gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{
				Group: ptr.To(gatewayv1.Group("")), Kind: ptr.To(gatewayv1.Kind("Service")), Name: gatewayv1.ObjectName(name),
				Namespace: ptr.To(gatewayv1.Namespace(ns)), Port: ptr.To(gatewayv1.PortNumber(80)),
			},
			Weight: ptr.To(weight),
		}}
	}
	return &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Labels: map[string]string{"team": "web"}},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{
				Group: ptr.To(gatewayv1.Group(gatewayv1.GroupName)), Kind: ptr.To(gatewayv1.Kind("Gateway")),
				Name: "default", Namespace: ptr.To(gatewayv1.Namespace(ns)), SectionName: ptr.To(gatewayv1.SectionName("web")),
			}}},
			Hostnames: []gatewayv1.Hostname{"example.com"},
			Rules: []gatewayv1.HTTPRouteRule{{
				BackendRefs: []gatewayv1.HTTPBackendRef{backend("web-canary", 0), backend("web-stable", 100)},
				Matches: []gatewayv1.HTTPRouteMatch{{Path: &gatewayv1.HTTPPathMatch{
					Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To("/"),
				}}},
			}},
		},
	}
}

// seedCanary expresses seed 000 as a Canary: the Deployment web on port
// 80, behind listener "web" of Gateway "default" for example.com, with the
// Rollout's steps (50%, then everything) as stepWeights.
func seedCanary(t *testing.T, ns string) *flaggerv1.Canary {
	return createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Name = "web"
		c.Spec.TargetRef.Name = "web"
		c.Spec.RevertOnDeletion = true
		c.Spec.Service = flaggerv1.CanaryService{
			Port:  80,
			Hosts: []string{"example.com"},
			GatewayRefs: []flaggerv1.ParentReference{{
				Name: "default", Namespace: ptr.To(ns), SectionName: ptr.To("web"),
			}},
		}
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, StepWeights: []int{50, 100}}
	})
}

// Seed 000's HTTPRoute is taken over: its rule with the canary backend
// becomes Warbler's weighted rule (web-primary/web-canary), the steps of
// the Rollout show in it, and Finalize gives the route back as it was.
func TestGatewayAPISeed000(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	ctx := testCtx(t)
	if err := d.Client.Create(ctx, seedGateway(ns)); err != nil {
		t.Fatal(err)
	}
	if err := d.Client.Create(ctx, seedRoute(ns)); err != nil {
		t.Fatal(err)
	}
	before := getRoute(t, d, ns, "web")
	c := seedCanary(t, ns)
	r, _ := New(GatewayAPIV1, d)
	if err := r.Reconcile(ctx, c); err != nil {
		t.Fatal(err)
	}
	route := getRoute(t, d, ns, "web")
	if len(route.Spec.Rules) != 1 {
		t.Fatalf("taken-over route has %d rules, want the one weighted rule: %+v", len(route.Spec.Rules), route.Spec.Rules)
	}
	if got := backendWeights(ruleNamed(t, route, ruleWeighted)); got != "web-primary:80=100,web-canary:80=0" {
		t.Fatalf("taken-over route routes %s, want web-primary 100, web-canary 0", got)
	}
	if !equality.Semantic.DeepEqual(route.Spec.ParentRefs, before.Spec.ParentRefs) || route.Spec.Hostnames[0] != "example.com" {
		t.Fatalf("parentRefs %+v / hostnames %v differ from the seed's", route.Spec.ParentRefs, route.Spec.Hostnames)
	}
	if metav1.GetControllerOf(route) != nil || route.Annotations[OriginalAnnotation] == "" {
		t.Fatalf("a route that predates Warbler must keep no owner and carry %s; owner %+v, annotations %v", OriginalAnnotation, metav1.GetControllerOf(route), route.Annotations)
	}
	for _, w := range []int{50, 100} {
		if err := r.SetRoutes(ctx, c, 100-w, w, false); err != nil {
			t.Fatal(err)
		}
		acceptRoute(t, d, ns, "web", metav1.ConditionTrue, current)
		if p, cw, _, err := r.GetRoutes(ctx, c); err != nil || cw != w || p != 100-w {
			t.Fatalf("GetRoutes at step %d = %d, %d, %v", w, p, cw, err)
		}
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	after := getRoute(t, d, ns, "web")
	if !equality.Semantic.DeepEqual(after.Spec, before.Spec) || !equality.Semantic.DeepEqual(after.Labels, before.Labels) || len(after.Annotations) != 0 {
		t.Fatalf("Finalize left\n%+v\nlabels %v annotations %v\nwant the seed's route\n%+v", after.Spec, after.Labels, after.Annotations, before.Spec)
	}
}
