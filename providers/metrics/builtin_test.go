package metrics

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"

	"github.com/warbler-dev/warbler/internal/golden"
)

// goldenModel gives every function a distinct value, so the golden file
// shows which one each query uses.
var goldenModel = Model{
	Name: "podinfo", Namespace: "prod", Target: "podinfo-deploy",
	Service: "podinfo-svc", Ingress: "podinfo-ing", Route: "podinfo-route", Interval: "30s",
}

func TestBuiltinQueriesMatchGolden(t *testing.T) {
	var b strings.Builder
	for _, provider := range BuiltinProviders() {
		for _, metric := range []string{RequestSuccessRate, RequestDuration} {
			q, err := BuiltinQuery(provider, metric, goldenModel)
			if err != nil {
				t.Fatalf("%s %s: %v", provider, metric, err)
			}
			fmt.Fprintf(&b, "%s %s\n%s\n\n", provider, metric, q)
		}
	}
	golden.Check(t, "builtin-queries.golden", b.String())
}

func TestBuiltinQueryFamilies(t *testing.T) {
	tests := []struct {
		provider string
		want     string // a metric name only that family's success-rate query uses
	}{
		{"kubernetes", "http_request_duration_seconds_count"},
		{"kubernetes:replicas", "http_request_duration_seconds_count"},
		{"gatewayapi:v1", "http_request_duration_seconds_count"},
		{"gatewayapi:v1beta1", "http_request_duration_seconds_count"},
		{"istio", "istio_requests_total"},
		{"linkerd", "response_total"},
		{"smi:linkerd", "response_total"},
		{"nginx", "nginx_ingress_controller_requests"},
		{"contour", "envoy_cluster_upstream_rq"},
		{"knative", "envoy_cluster_upstream_rq"},
		{"gloo", "envoy_cluster_upstream_rq"},
		{"kuma", "envoy_cluster_upstream_rq"},
		{"kuma:meshhttproute", "envoy_cluster_upstream_rq"},
		{"traefik", "traefik_service_request_duration_seconds_bucket"},
		{"skipper", "skipper_response_duration_seconds_bucket"},
		{"apisix", "apisix_http_status"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			q, err := BuiltinQuery(tt.provider, RequestSuccessRate, goldenModel)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(q, "sum(rate("+tt.want+"{") {
				t.Errorf("provider %s got query %s, want one over %s", tt.provider, q, tt.want)
			}
		})
	}
}

func TestBuiltinQueryErrors(t *testing.T) {
	tests := []struct {
		name, provider, metric string
		wantMsg                []string
	}{
		{"ambassador has no builtin queries", "ambassador", RequestSuccessRate,
			[]string{`provider "ambassador" has no builtin request-success-rate query`, "apisix, contour, gatewayapi:v1, gatewayapi:v1beta1, gloo, istio, knative, kubernetes, kubernetes:replicas, kuma, kuma:meshhttproute, linkerd, nginx, skipper, traefik", "templateRef"}},
		{"emissary has no builtin queries", "emissary", RequestDuration, []string{`provider "emissary"`}},
		{"an SMI version does not name the mesh", "smi:v1alpha3", RequestSuccessRate, []string{`provider "smi:v1alpha3"`, "-mesh-provider=linkerd"}},
		{"gatewayapi needs its version", "gatewayapi", RequestDuration, []string{`provider "gatewayapi"`}},
		{"no provider at all", "", RequestDuration, []string{"no traffic provider", "-mesh-provider"}},
		{"a metric that is not builtin", "istio", "error-rate", []string{`metric "error-rate" is not builtin`, "request-duration and request-success-rate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuiltinQuery(tt.provider, tt.metric, goldenModel)
			checkErr(t, err, "invalid query", tt.wantMsg...)
		})
	}
}

func TestBuiltinProvider(t *testing.T) {
	tests := []struct{ mesh, canary, want string }{
		{"istio", "", "istio"},
		{"istio", "kubernetes", "kubernetes"},
		{"kubernetes", "gatewayapi:v1", "gatewayapi:v1"},
		{"linkerd", "kubernetes", "linkerd"},
		{"smi:linkerd", "nginx", "linkerd"},
		{"linkerd", "smi:v1alpha3", "linkerd"},
		{"", "contour", "contour"},
	}
	for _, tt := range tests {
		if got := BuiltinProvider(tt.mesh, tt.canary); got != tt.want {
			t.Errorf("BuiltinProvider(%q, %q) = %q, want %q", tt.mesh, tt.canary, got, tt.want)
		}
	}
}

func TestBuiltinUnit(t *testing.T) {
	if u, ok := BuiltinUnit(RequestSuccessRate); !ok || u != Percent {
		t.Errorf("request-success-rate: %q %v", u, ok)
	}
	if u, ok := BuiltinUnit(RequestDuration); !ok || u != Milliseconds {
		t.Errorf("request-duration: %q %v", u, ok)
	}
	if _, ok := BuiltinUnit("latency"); ok {
		t.Error("latency reported as builtin")
	}
}

// The builtin queries of the other side select only that side's workload:
// pod-name regular expressions (anchored, as Prometheus anchors them) of
// the canary must not match the primary's or the baseline's pods, and the
// reverse; a family whose query cannot tell the sides apart refuses.
func TestBuiltinQueriesPerSide(t *testing.T) {
	pods := map[Side]string{
		SideCanary:   "podinfo-7d9c5f8b6-q8k2m",
		SidePrimary:  "podinfo-primary-5d8f7b9c4-x2x1q",
		SideBaseline: "podinfo-baseline-6c7d8e9f1-a1b2c",
	}
	m := Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Primary: "podinfo-primary", Baseline: "podinfo-baseline", Interval: "1m"}
	selector := regexp.MustCompile(`(kubernetes_pod_name|destination_workload|deployment|envoy_cluster_name)=~"([^"]+)"`)
	for _, provider := range BuiltinProviders() {
		for _, side := range []Side{SideCanary, SidePrimary, SideBaseline} {
			q, err := BuiltinQuery(provider, RequestSuccessRate, m.ForSide(side))
			if provider == "nginx" || canaryOnly[provider] {
				// their queries select the canary's ingress, route or
				// cluster, whatever the side
				if side != SideCanary && (!errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), "cannot tell the "+string(side))) {
					t.Errorf("%s %s: %v, want a refusal", provider, side, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s %s: %v", provider, side, err)
			}
			sel := selector.FindStringSubmatch(q)
			if sel == nil {
				t.Fatalf("%s %s: no selector in %s", provider, side, q)
			}
			re := regexp.MustCompile("^(?:" + sel[2] + ")$")
			for other, pod := range pods {
				name := pod
				switch sel[1] {
				case "destination_workload", "deployment":
					name = map[Side]string{SideCanary: "podinfo", SidePrimary: "podinfo-primary", SideBaseline: "podinfo-baseline"}[other]
				case "envoy_cluster_name":
					name = "prod_podinfo-" + string(other) + "_9898"
					if other == SideCanary {
						name = "prod_podinfo-canary_9898"
					}
				}
				if re.MatchString(name) != (other == side) {
					t.Errorf("%s %s: selector %s matches %s: %v", provider, side, sel[2], name, re.MatchString(name))
				}
			}
		}
	}
}

func TestTemplatesNameEverySide(t *testing.T) {
	m := NewModel(&flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "prod"},
		Spec: flaggerv1.CanarySpec{TargetRef: flaggerv1.LocalObjectReference{Name: "podinfo"}}}, flaggerv1.CanaryMetric{Interval: "30s"})
	const tmpl = `{{ side }}: {{ target }} {{ primary }} {{ baseline }}`
	for side, want := range map[Side]string{
		SideCanary:   "canary: podinfo podinfo-primary podinfo-baseline",
		SidePrimary:  "primary: podinfo-primary podinfo-primary podinfo-baseline",
		SideBaseline: "baseline: podinfo-baseline podinfo-primary podinfo-baseline",
	} {
		got, err := Render("t", tmpl, m.ForSide(side))
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", side, got, err, want)
		}
	}
}
