package routers

import (
	"strconv"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// sourceIngress is the user's Ingress: / to podinfo, /static to static.
func sourceIngress(t *testing.T, d Deps, ns string) *networkingv1.Ingress {
	t.Helper()
	path := func(p, svc string) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: ptr.To(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 9898}},
		}}
	}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Labels: map[string]string{"app": "podinfo"},
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": "8m"}},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr.To("nginx"),
			Rules: []networkingv1.IngressRule{{Host: "app.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{path("/", "podinfo"), path("/static", "static")}},
			}}},
		},
	}
	if err := d.Client.Create(testCtx(t), ing); err != nil {
		t.Fatal(err)
	}
	return ing
}

func getIngress(t *testing.T, d Deps, ns, name string) *networkingv1.Ingress {
	t.Helper()
	ing := &networkingv1.Ingress{}
	if err := d.Client.Get(testCtx(t), client.ObjectKey{Namespace: ns, Name: name}, ing); err != nil {
		t.Fatalf("reading Ingress %s: %v", name, err)
	}
	return ing
}

func ingressCanary(t *testing.T, ns string, edit func(*flaggerv1.Canary)) *flaggerv1.Canary {
	return createCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.IngressRef = &flaggerv1.IngressReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
		if edit != nil {
			edit(c)
		}
	})
}

func TestNGINXWeightSteps(t *testing.T) {
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	d.IngressClass = "nginx-internal"
	sourceIngress(t, d, ns)
	c := ingressCanary(t, ns, nil)
	r, _ := New(NGINX, d)
	driveWeights(t, r, c, func(t *testing.T) [2]int {
		a := getIngress(t, d, ns, "podinfo-canary").Annotations
		w, err := strconv.Atoi(a["nginx.ingress.kubernetes.io/canary-weight"])
		if err != nil || a["nginx.ingress.kubernetes.io/canary"] != "true" {
			t.Fatalf("canary Ingress annotations = %v", a)
		}
		return [2]int{100 - w, w}
	})
	ing := getIngress(t, d, ns, "podinfo-canary")
	paths := ing.Spec.Rules[0].HTTP.Paths
	if paths[0].Backend.Service.Name != "podinfo-canary" || paths[1].Backend.Service.Name != "static" || ing.Spec.Rules[0].Host != "app.example.com" {
		t.Errorf("canary Ingress rules = %+v, want / on podinfo-canary and /static unchanged", ing.Spec.Rules)
	}
	if ptr.Deref(ing.Spec.IngressClassName, "") != "nginx-internal" || ing.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] != "8m" || ing.Labels["app"] != "podinfo" {
		t.Errorf("canary Ingress class %v annotations %v labels %v", ing.Spec.IngressClassName, ing.Annotations, ing.Labels)
	}
	if ref := metav1.GetControllerOf(ing); ref == nil || ref.UID != c.UID {
		t.Errorf("canary Ingress controller = %+v, want the Canary", ref)
	}
	if src := getIngress(t, d, ns, "podinfo"); src.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name != "podinfo" || len(src.Annotations) != 1 {
		t.Errorf("the user's Ingress changed: %+v %v", src.Spec, src.Annotations)
	}
}

// A/B testing uses the header of analysis.match while the canary gets
// traffic, under the configured annotations prefix.
func TestNGINXABTesting(t *testing.T) {
	ns := env.Namespace(t)
	d, _ := testDeps(t)
	d.IngressAnnotationsPrefix = "custom.ingress.kubernetes.io"
	sourceIngress(t, d, ns)
	c := ingressCanary(t, ns, func(c *flaggerv1.Canary) {
		c.Spec.Analysis = &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, Iterations: 10,
			Match: []flaggerv1.HTTPMatchRequest{{Headers: map[string]flaggerv1.StringMatch{"x-canary": {Regex: "^(insider|beta)$"}}}}}
	})
	r := NewNGINX(d)
	ctx := testCtx(t)
	if err := r.SetRoutes(ctx, c, 0, 100, false); err != nil {
		t.Fatal(err)
	}
	a := getIngress(t, d, ns, "podinfo-canary").Annotations
	p := "custom.ingress.kubernetes.io/"
	if a[p+"canary"] != "true" || a[p+"canary-by-header"] != "x-canary" || a[p+"canary-by-header-pattern"] != "^(insider|beta)$" || a[p+"canary-weight"] != "" {
		t.Fatalf("A/B annotations = %v", a)
	}
	if pw, cw, _, err := r.GetRoutes(ctx, c); err != nil || pw != 0 || cw != 100 {
		t.Fatalf("GetRoutes = %d, %d, %v", pw, cw, err)
	}
	if err := r.SetRoutes(ctx, c, 100, 0, false); err != nil {
		t.Fatal(err)
	}
	a = getIngress(t, d, ns, "podinfo-canary").Annotations
	if a[p+"canary-weight"] != "0" || a[p+"canary-by-header"] != "" {
		t.Fatalf("annotations back at 100/0 = %v", a)
	}
}
