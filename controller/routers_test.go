package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// routerCase is a provider run through a whole release by the controller.
type routerCase struct {
	provider string
	crds     []string
	// prepare edits the canary and creates what the provider needs.
	prepare func(t *testing.T, ns string, c *flaggerv1.Canary)
	// weights reads the split from the provider's object; ok is false
	// while the object does not exist.
	weights func(t *testing.T, ns string) (split [2]int, ok bool)
	// removed: the traffic object goes with the Canary (garbage
	// collection, or Finalize for a cluster-scoped one).
	removed bool
}

func unstructuredObj(t *testing.T, gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, bool) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return u, true
}

func num(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case float64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(strings.TrimSuffix(x, "m"))
		return n
	}
	return -1
}

// backendSplit sums the weights of backends named podinfo-primary and
// podinfo-canary in a list of maps, the name under key.
func backendSplit(list []any, key func(map[string]any) string) [2]int {
	var out [2]int
	for _, b := range list {
		m := b.(map[string]any)
		switch key(m) {
		case "podinfo-primary":
			out[0] += num(m["weight"])
		case "podinfo-canary":
			out[1] += num(m["weight"])
		}
	}
	return out
}

var routerCases = []routerCase{
	{
		provider: "gatewayapi:v1", crds: []string{testenv.GatewayAPI},
		prepare: func(t *testing.T, ns string, c *flaggerv1.Canary) {
			c.Spec.Service.GatewayRefs = []flaggerv1.ParentReference{{Name: "public"}}
			c.Spec.Service.Hosts = []string{"podinfo.example.com"}
		},
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}, ns, "podinfo")
			if !ok {
				return [2]int{}, false
			}
			rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
			for _, r := range rules {
				refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
				if s := backendSplit(refs, func(m map[string]any) string { return fmt.Sprint(m["name"]) }); s != [2]int{} {
					return s, true
				}
			}
			return [2]int{}, true
		},
	},
	{
		provider: "linkerd", crds: []string{testenv.SMI},
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, schema.GroupVersionKind{Group: "split.smi-spec.io", Version: "v1alpha1", Kind: "TrafficSplit"}, ns, "podinfo")
			if !ok {
				return [2]int{}, false
			}
			backends, _, _ := unstructured.NestedSlice(u.Object, "spec", "backends")
			return backendSplit(backends, func(m map[string]any) string { return fmt.Sprint(m["service"]) }), true
		},
	},
	{
		provider: "emissary", crds: []string{testenv.Emissary},
		prepare: func(t *testing.T, ns string, c *flaggerv1.Canary) {
			c.Spec.Service.Hosts = []string{"podinfo.example.com"}
		},
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, schema.GroupVersionKind{Group: "getambassador.io", Version: "v3alpha1", Kind: "Mapping"}, ns, "podinfo-canary")
			if !ok {
				return [2]int{}, false
			}
			w, _, _ := unstructured.NestedInt64(u.Object, "spec", "weight")
			return [2]int{100 - int(w), int(w)}, true
		},
	},
	{
		provider: "istio", crds: []string{testenv.Istio},
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, schema.GroupVersionKind{Group: "networking.istio.io", Version: "v1beta1", Kind: "VirtualService"}, ns, "podinfo")
			if !ok {
				return [2]int{}, false
			}
			http, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			if len(http) == 0 {
				return [2]int{}, true
			}
			dests, _, _ := unstructured.NestedSlice(http[len(http)-1].(map[string]any), "route")
			return backendSplit(dests, func(m map[string]any) string {
				h, _, _ := unstructured.NestedString(m, "destination", "host")
				return h
			}), true
		},
	},
	{
		provider: "nginx",
		prepare: func(t *testing.T, ns string, c *flaggerv1.Canary) {
			pt := networkingv1.PathTypePrefix
			create(t, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
				Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "podinfo.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
					HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "podinfo", Port: networkingv1.ServiceBackendPort{Number: 9898}}}}}}}}}}})
			c.Spec.IngressRef = &flaggerv1.IngressReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		},
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			var ing networkingv1.Ingress
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-canary"}, &ing); err != nil {
				return [2]int{}, false
			}
			w, _ := strconv.Atoi(ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"])
			return [2]int{100 - w, w}, true
		},
	},
}

// roleOf maps a backend name to podinfo-primary or podinfo-canary when it
// ends with the role and suffix, so that backendSplit can sum it.
func roleOf(name, prefix, suffix string) string {
	for _, role := range []string{"primary", "canary"} {
		if name == prefix+role+suffix {
			return "podinfo-" + role
		}
	}
	return name
}

// firstRouteSplit reads the backends of the first route of an object:
// path leads to the routes, backends to the list in a route, name to the
// backend's name.
func firstRouteSplit(u *unstructured.Unstructured, path, backends []string, name func(map[string]any) string) [2]int {
	routes, _, _ := unstructured.NestedSlice(u.Object, path...)
	if len(routes) == 0 {
		return [2]int{}
	}
	list, _, _ := unstructured.NestedSlice(routes[0].(map[string]any), backends...)
	return backendSplit(list, name)
}

func str(m map[string]any, path ...string) string {
	s, _, _ := unstructured.NestedString(m, path...)
	return s
}

func gvk(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

// ingressPrepare creates the user's Ingress podinfo and points the canary
// at it.
func ingressPrepare(t *testing.T, ns string, c *flaggerv1.Canary) {
	pt := networkingv1.PathTypePrefix
	create(t, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "podinfo.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pt,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "podinfo", Port: networkingv1.ServiceBackendPort{Number: 9898}}}}}}}}}}})
	c.Spec.IngressRef = &flaggerv1.IngressReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
}

// The routers of the Flagger providers added by issue 13.
var moreRouterCases = []routerCase{
	{
		provider: "contour", crds: []string{testenv.Contour}, removed: true,
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, gvk("projectcontour.io", "v1", "HTTPProxy"), ns, "podinfo")
			if !ok {
				return [2]int{}, false
			}
			return firstRouteSplit(u, []string{"spec", "routes"}, []string{"services"}, func(m map[string]any) string { return str(m, "name") }), true
		},
	},
	{
		provider: "gloo", crds: []string{testenv.Gloo}, removed: true,
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, gvk("gateway.solo.io", "v1", "RouteTable"), ns, "podinfo")
			if !ok {
				return [2]int{}, false
			}
			return firstRouteSplit(u, []string{"spec", "routes"}, []string{"routeAction", "multi", "destinations"}, func(m map[string]any) string {
				return roleOf(str(m, "destination", "upstream", "name"), ns+"-podinfo-", "upstream-9898")
			}), true
		},
	},
	{
		provider: "traefik", crds: []string{testenv.Traefik}, removed: true,
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, gvk("traefik.io", "v1alpha1", "TraefikService"), ns, "podinfo")
			if !ok {
				return [2]int{}, false
			}
			services, _, _ := unstructured.NestedSlice(u.Object, "spec", "weighted", "services")
			return backendSplit(services, func(m map[string]any) string { return str(m, "name") }), true
		},
	},
	{
		provider: "skipper", prepare: ingressPrepare, removed: true,
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			var ing networkingv1.Ingress
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-canary"}, &ing); err != nil {
				return [2]int{}, false
			}
			var w map[string]int
			_ = json.Unmarshal([]byte(ing.Annotations["zalando.org/backend-weights"]), &w)
			return [2]int{w["podinfo-primary"], w["podinfo-canary"]}, true
		},
	},
	{
		// TrafficRoutes are cluster-scoped: the apex service is named
		// after the namespace so that runs do not meet.
		provider: "kuma", crds: []string{testenv.Kuma}, removed: true,
		prepare: func(t *testing.T, ns string, c *flaggerv1.Canary) { c.Spec.Service.Name = ns },
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, gvk("kuma.io", "v1alpha1", "TrafficRoute"), "", ns)
			if !ok {
				return [2]int{}, false
			}
			split, _, _ := unstructured.NestedSlice(u.Object, "spec", "conf", "split")
			return backendSplit(split, func(m map[string]any) string {
				return roleOf(str(m, "destination", "kuma.io/service"), ns+"-", "_"+ns+"_svc_9898")
			}), true
		},
	},
	{
		provider: "kuma:meshhttproute", crds: []string{testenv.Kuma}, removed: true,
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, gvk("kuma.io", "v1alpha1", "MeshHTTPRoute"), ns, "podinfo")
			if !ok {
				return [2]int{}, false
			}
			to, _, _ := unstructured.NestedSlice(u.Object, "spec", "to")
			if len(to) == 0 {
				return [2]int{}, true
			}
			return firstRouteSplit(&unstructured.Unstructured{Object: to[0].(map[string]any)}, []string{"rules"}, []string{"default", "backendRefs"},
				func(m map[string]any) string { return roleOf(str(m, "name"), "podinfo-", "_"+ns+"_svc_9898") }), true
		},
	},
	{
		provider: "apisix", crds: []string{testenv.APISIX}, removed: true,
		prepare: func(t *testing.T, ns string, c *flaggerv1.Canary) {
			create(t, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute",
				"metadata": map[string]any{"name": "podinfo", "namespace": ns},
				"spec": map[string]any{"http": []any{map[string]any{"name": "main", "match": map[string]any{"paths": []any{"/*"}},
					"backends": []any{map[string]any{"serviceName": "podinfo", "servicePort": int64(9898)}}}}},
			}})
			c.Spec.RouteRef = &flaggerv1.RouteReference{APIVersion: "apisix.apache.org/v2", Kind: "ApisixRoute", Name: "podinfo"}
		},
		weights: func(t *testing.T, ns string) ([2]int, bool) {
			u, ok := unstructuredObj(t, gvk("apisix.apache.org", "v2", "ApisixRoute"), ns, "podinfo-podinfo-canary")
			if !ok {
				return [2]int{}, false
			}
			return firstRouteSplit(u, []string{"spec", "http"}, []string{"backends"}, func(m map[string]any) string { return str(m, "serviceName") }), true
		},
	},
}

// Each router, driven by the controller: 100/0 after init, every step in
// the object during the analysis, 100/0 with the new primary after
// promotion, 100/0 after a rollback, and a clean deletion.
func TestRoutersThroughARelease(t *testing.T) {
	for _, rc := range slices.Concat(routerCases, moreRouterCases) {
		t.Run(rc.provider, func(t *testing.T) {
			env.TrafficCRDs(t, rc.crds...)
			ns := env.Namespace(t)
			startController(t, nil, ns)
			hooks := newHookServer(t)
			c := canary(ns, "podinfo", rc.provider, &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 25, MaxWeight: 50,
				Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("load", flaggerv1.RolloutHook)}})
			c.Spec.RevertOnDeletion = true
			if rc.prepare != nil {
				rc.prepare(t, ns, c)
			}
			create(t, deployment(ns, "podinfo", imageV1, 1), c)
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
			if w, ok := rc.weights(t, ns); !ok || w != [2]int{100, 0} {
				t.Fatalf("after init the route object routes %v (exists %v), want 100/0", w, ok)
			}

			setImage(t, ns, "podinfo", imageV2)
			seen := watchWeights(t, ns, rc, flaggerv1.CanaryPhaseSucceeded)
			for _, want := range [][2]int{{75, 25}, {50, 50}} {
				if !slices.Contains(seen, want) {
					t.Errorf("splits seen in the object %v, want %v among them", seen, want)
				}
			}
			if w, _ := rc.weights(t, ns); w != [2]int{100, 0} {
				t.Errorf("after promotion the object routes %v, want 100/0", w)
			}
			if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV2 {
				t.Errorf("primary image %q after promotion, want %q", img, imageV2)
			}

			hooks.set("load", http.StatusInternalServerError)
			setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)
			if w, _ := rc.weights(t, ns); w != [2]int{100, 0} {
				t.Errorf("after the rollback the object routes %v, want 100/0", w)
			}

			deleteCanary(t, ns, "podinfo")
			if rc.removed {
				testenv.Eventually(t, 60*time.Second, func() error {
					if w, ok := rc.weights(t, ns); ok {
						return fmt.Errorf("the traffic object is still there after the Canary's deletion (routing %v)", w)
					}
					return nil
				})
			}
		})
	}
}

// watchWeights polls the object's split until the canary reaches phase.
func watchWeights(t *testing.T, ns string, rc routerCase, phase flaggerv1.CanaryPhase) [][2]int {
	t.Helper()
	var seen [][2]int
	testenv.Eventually(t, 90*time.Second, func() error {
		if w, ok := rc.weights(t, ns); ok && (len(seen) == 0 || seen[len(seen)-1] != w) {
			seen = append(seen, w)
		}
		if p := getCanary(t, ns, "podinfo").Status.Phase; p != phase {
			return fmt.Errorf("phase %s, want %s (splits so far %v)", p, phase, seen)
		}
		return nil
	})
	return seen
}

// An unknown provider is an event naming the valid ones; the canary stays
// Initializing and the controller carries on.
func TestUnknownProviderIsReported(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	create(t, deployment(ns, "podinfo", imageV1, 1), deployment(ns, "other", imageV1, 1),
		canary(ns, "podinfo", "gatewayapi", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 10}),
		canary(ns, "other", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 1}))
	waitEvent(t, ns, "podinfo", `unknown provider "gatewayapi"; valid providers: `)
	waitEvent(t, ns, "podinfo", "gatewayapi:v1")
	waitPhase(t, ns, "other", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	c := getCanary(t, ns, "podinfo")
	if c.Status.Phase != flaggerv1.CanaryPhaseInitializing || !strings.Contains(c.Status.Message, "spec.provider") {
		t.Errorf("phase %q message %q, want Initializing with a message naming spec.provider", c.Status.Phase, c.Status.Message)
	}
	var primary metav1.PartialObjectMetadata
	primary.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, &primary); !apierrors.IsNotFound(err) {
		t.Errorf("a primary was created for a canary with an unknown provider: %v", err)
	}
}

// The seed 000 setup: an HTTPRoute with stable and canary backends written
// by hand, plus a rule the user added; Warbler takes the route over, runs a
// whole release through it, and the user's rule survives.
func TestSeed000HTTPRouteKeepsHandAddedRule(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	startController(t, nil, ns)
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "podinfo", "namespace": ns},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "default", "sectionName": "web"}},
			"hostnames":  []any{"example.com"},
			"rules": []any{
				map[string]any{"backendRefs": []any{
					map[string]any{"name": "podinfo-stable", "port": int64(9898), "weight": int64(100)},
					map[string]any{"name": "podinfo-canary", "port": int64(9898), "weight": int64(0)},
				}},
				map[string]any{
					"matches":     []any{map[string]any{"path": map[string]any{"type": "PathPrefix", "value": "/legacy"}}},
					"backendRefs": []any{map[string]any{"name": "legacy", "port": int64(80)}},
				},
			},
		},
	}}
	create(t, route)
	c := canary(ns, "podinfo", "gatewayapi:v1", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50})
	c.Spec.RevertOnDeletion = true
	c.Spec.Service.GatewayRefs = []flaggerv1.ParentReference{{Name: "default", SectionName: ptr.To("web")}}
	c.Spec.Service.Hosts = []string{"example.com"}
	create(t, deployment(ns, "podinfo", imageV1, 1), c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	setImage(t, ns, "podinfo", imageV2)
	rc := routerCases[0]
	seen := watchWeights(t, ns, rc, flaggerv1.CanaryPhaseSucceeded)
	if !slices.Contains(seen, [2]int{50, 50}) {
		t.Errorf("splits seen %v, want 50/50 among them", seen)
	}
	u, _ := unstructuredObj(t, route.GroupVersionKind(), ns, "podinfo")
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	found := false
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, b := range refs {
			if b.(map[string]any)["name"] == "legacy" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("the hand-added /legacy rule is gone after a release: %v", rules)
	}

	// deleting the Canary (revertOnDeletion) gives the route back as it was
	if err := env.Client.Delete(context.Background(), getCanary(t, ns, "podinfo")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		u, ok := unstructuredObj(t, route.GroupVersionKind(), ns, "podinfo")
		if !ok {
			return fmt.Errorf("the HTTPRoute that existed before Warbler is gone")
		}
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		want, _, _ := unstructured.NestedSlice(route.Object, "spec", "rules")
		if len(rules) != len(want) {
			return fmt.Errorf("route has %d rules after the Canary's deletion, want the original %d", len(rules), len(want))
		}
		refs, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "backendRefs")
		if len(refs) != 2 || refs[0].(map[string]any)["name"] != "podinfo-stable" {
			return fmt.Errorf("first rule's backends %v, want the original podinfo-stable/podinfo-canary", refs)
		}
		return nil
	})
}

// App Mesh is refused with its retirement and the alternatives in the
// event and the status message; nothing is created for the canary.
func TestAppMeshIsRefusedAsRetired(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	create(t, deployment(ns, "podinfo", imageV1, 1),
		canary(ns, "podinfo", "appmesh", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 10}))
	waitEvent(t, ns, "podinfo", `provider "appmesh": AWS discontinued App Mesh on 30 September 2026`)
	c := getCanary(t, ns, "podinfo")
	for _, want := range []string{"spec.provider", "use gatewayapi:v1", "or istio", "valid providers: "} {
		if !strings.Contains(c.Status.Message, want) {
			t.Errorf("status message %q does not say %q", c.Status.Message, want)
		}
	}
	var primary metav1.PartialObjectMetadata
	primary.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, &primary); !apierrors.IsNotFound(err) {
		t.Errorf("a primary was created for an App Mesh canary: %v", err)
	}
}
