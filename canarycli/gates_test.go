package canarycli

import (
	"net/url"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

func TestServiceProxyPath(t *testing.T) {
	cases := []struct {
		url, want string
		proxied   bool
	}{
		{"http://flagger-loadtester.test/gate/open", "/api/v1/namespaces/test/services/flagger-loadtester:80/proxy/gate/open", true},
		{"http://loadtester.ops.svc.cluster.local:8080/gate/open", "/api/v1/namespaces/ops/services/loadtester:8080/proxy/gate/open", true},
		{"http://loadtester.ops.svc:9090/gate/close", "/api/v1/namespaces/ops/services/loadtester:9090/proxy/gate/close", true},
		{"https://loadtester/rollback/open", "/api/v1/namespaces/canaries/services/https:loadtester:443/proxy/rollback/open", true},
		{"http://127.0.0.1:9090/gate/open", "", false},
		{"http://localhost:9090/gate/open", "", false},
		{"http://[::1]:9090/gate/open", "", false},
		{"https://gates.example.com/gate/open", "", false},
	}
	for _, tc := range cases {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := serviceProxyPath(u, "canaries")
		if got != tc.want || ok != tc.proxied {
			t.Errorf("%s: got %q %v, want %q %v", tc.url, got, ok, tc.want, tc.proxied)
		}
	}
}

func TestGateCalls(t *testing.T) {
	hooks := []flaggerv1.CanaryWebhook{
		{Name: "start", Type: flaggerv1.ConfirmRolloutHook, URL: "http://lt.test/gate/check"},
		{Name: "promote", Type: flaggerv1.ConfirmPromotionHook, URL: "http://lt.test/gate/check"}, // same gate
		{Name: "step", Type: flaggerv1.ConfirmTrafficIncreaseHook, URL: "http://other.test:8080/prefix/gate/check"},
		{Name: "halt", Type: flaggerv1.ConfirmPromotionHook, URL: "http://lt.test/gate/halt"}, // not a gate store
		{Name: "abort", Type: flaggerv1.RollbackHook, URL: "http://lt.test/rollback/check"},
		{Name: "load", Type: flaggerv1.RolloutHook, URL: "http://lt.test/"},
	}
	c := &flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: flaggerv1.CanarySpec{Analysis: &flaggerv1.CanaryAnalysis{Webhooks: hooks}}}
	targets := func(calls []gateCall) string {
		var out []string
		for _, c := range calls {
			out = append(out, c.hook.Name+" "+c.target.String())
		}
		return strings.Join(out, ", ")
	}
	approve, err := gateCalls(c, true, "")
	if got := targets(approve); err != nil || got != "start http://lt.test/gate/open, step http://other.test:8080/prefix/gate/open" {
		t.Errorf("approve: %v %q", err, got)
	}
	reject, err := gateCalls(c, false, "")
	if got := targets(reject); err != nil || got != "start http://lt.test/gate/close, step http://other.test:8080/prefix/gate/close, abort http://lt.test/rollback/open" {
		t.Errorf("reject: %v %q", err, got)
	}
	only, err := gateCalls(c, true, "step")
	if got := targets(only); err != nil || got != "step http://other.test:8080/prefix/gate/open" {
		t.Errorf("--hook step: %v %q", err, got)
	}

	c.Spec.Analysis.Webhooks = hooks[3:]
	if _, err := gateCalls(c, true, ""); err == nil || !strings.Contains(err.Error(), "canary podinfo.test has no gate webhooks") {
		t.Errorf("approve without gates: %v", err)
	}
	if calls, err := gateCalls(c, false, ""); err != nil || targets(calls) != "abort http://lt.test/rollback/open" {
		t.Errorf("reject with only a rollback hook: %v %q", err, targets(calls))
	}
}
