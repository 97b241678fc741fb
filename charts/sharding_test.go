package charts_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

func shardedValues(shards ...any) map[string]any {
	return map[string]any{"sharding": map[string]any{"shards": shards}}
}

// watchSelector is the -watch-label-selector a Deployment runs with.
func watchSelector(t *testing.T, d *appsv1.Deployment) string {
	t.Helper()
	for _, a := range container(t, d).Args {
		if v, ok := strings.CutPrefix(a, "-watch-label-selector="); ok {
			return v
		}
	}
	return ""
}

// Each shard is a Deployment of its own that handles its label, the main
// one the unlabelled canaries; no Deployment selects another's pods, and
// the ServiceMonitor scrapes every shard.
func TestWarblerShards(t *testing.T) {
	// the ServiceMonitor of ci/full-values.yaml, which checkServiceMonitor expects
	values := merge(shardedValues("shard1", "shard2"), map[string]any{"serviceMonitor": map[string]any{"enabled": true,
		"interval": "30s", "scrapeTimeout": "10s", "labels": map[string]any{"release": "kube-prometheus-stack"}}})
	r := render(t, warbler, "warbler", "warbler-system", values)
	want := map[string]string{
		"warbler":        "!sharding.warbler.dev/key",
		"warbler-shard1": "sharding.warbler.dev/key in (shard1)",
		"warbler-shard2": "sharding.warbler.dev/key in (shard2)",
	}
	deps := r.kinds("Deployment")
	if len(deps) != len(want) {
		t.Fatalf("rendered %d Deployments (%s), want %d", len(deps), r, len(want))
	}
	var all []*appsv1.Deployment
	for name, sel := range want {
		d := typed[appsv1.Deployment](t, r.find(t, "Deployment", name))
		if got := watchSelector(t, d); got != sel {
			t.Errorf("Deployment %s watches %q, want %q", name, got, sel)
		}
		checkHardened(t, d)
		all = append(all, d)
	}
	for _, a := range all {
		sel, err := metav1.LabelSelectorAsSelector(a.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range all {
			if a != b && sel.Matches(labels.Set(b.Spec.Template.Labels)) {
				t.Errorf("Deployment %s selects the pods of %s (%v)", a.Name, b.Name, b.Spec.Template.Labels)
			}
		}
	}
	// the main Deployment keeps the selector it always had: an upgrade
	// that turns sharding on must not change an immutable field
	plain := typed[appsv1.Deployment](t, render(t, warbler, "warbler", "warbler-system", nil).find(t, "Deployment", "warbler"))
	main := typed[appsv1.Deployment](t, r.find(t, "Deployment", "warbler"))
	if !maps.Equal(plain.Spec.Selector.MatchLabels, main.Spec.Selector.MatchLabels) {
		t.Errorf("sharding changes the main Deployment's selector: %v, was %v", main.Spec.Selector.MatchLabels, plain.Spec.Selector.MatchLabels)
	}
	sm := r.find(t, "ServiceMonitor", "warbler")
	for _, name := range []string{"warbler-shard1", "warbler-shard2"} {
		svc := typed[corev1.Service](t, r.find(t, "Service", name))
		d := typed[appsv1.Deployment](t, r.find(t, "Deployment", name))
		servicePort(t, svc, d, "http-metrics", 8080)
		checkServiceMonitor(t, sm, svc)
	}
	if got := watchSelector(t, plain); got != "" {
		t.Errorf("without shards the controller watches %q, want every canary", got)
	}
}

func TestWarblerShardNamesAreChecked(t *testing.T) {
	for _, bad := range [][]any{{"Shard_1"}, {"a", "a"}, {"-x"}} {
		if _, err := tryRender(warbler, "warbler", "warbler-system", shardedValues(bad...)); err == nil || !strings.Contains(err.Error(), "shards") {
			t.Errorf("shards %v: err %v, want a schema error naming sharding.shards", bad, err)
		}
	}
}

// helm install of two shards: every Deployment's pods get Ready, and each
// controller, run with its Deployment's arguments and the release's
// ServiceAccount, handles its own selector and holds a Lease of its own.
func TestInstallShards(t *testing.T) {
	ns := env.Namespace(t)
	cfg := helmConfig(t, ns)
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = "warbler", ns
	install.Wait, install.Timeout = true, 3*time.Minute
	values := merge(shardedValues("shard1", "shard2"), map[string]any{"namespace": ns, "leaderElection": map[string]any{"enabled": true}})
	if _, err := install.Run(loadChart(t, warbler), values); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() { _, _ = action.NewUninstall(cfg).Run("warbler") })
	checkPodsReady(t, ns, "warbler", 1)
	checkPodsReady(t, ns, "warbler-shard1", 1)
	checkPodsReady(t, ns, "warbler-shard2", 1)
	for name, lease := range map[string]string{
		"warbler":        "warbler-leader-election-unsharded",
		"warbler-shard1": "warbler-leader-election-shard1",
		"warbler-shard2": "warbler-leader-election-shard2",
	} {
		p := runContainer(t, ns, name, "-namespace="+ns)
		p.waitLog(t, "Handling the canaries that match")
		p.waitLog(t, "Starting workers")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		l, err := env.Kube.CoordinationV1().Leases(ns).Get(ctx, lease, metav1.GetOptions{})
		cancel()
		if err != nil || ptr.Deref(l.Spec.HolderIdentity, "") == "" {
			t.Errorf("shard %s: Lease %s: %v %+v", name, lease, err, l)
		}
	}
}

// The loadtester admits only the controller's namespace, its own and the
// namespaces listed; the policy can be turned off.
func TestLoadtesterNetworkPolicy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"default", nil, []string{"test", "flagger-system"}},
		{"full", fullValues(t, loadtester), []string{"test", "warbler-system", "monitoring", "ci"}},
		{"controller in the loadtester's namespace", map[string]any{"networkPolicy": map[string]any{"controllerNamespace": "test"}}, []string{"test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, loadtester, "flagger-loadtester", "test", tc.values)
			np := typed[networkingv1.NetworkPolicy](t, r.find(t, "NetworkPolicy", fullnameOf(r)))
			d := typed[appsv1.Deployment](t, r.find(t, "Deployment", fullnameOf(r)))
			sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("NetworkPolicy selects %v, not the loadtester's pods %v", np.Spec.PodSelector, d.Spec.Template.Labels)
			}
			if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
				t.Errorf("policy types %v, want Ingress only (load and helm tests go out freely)", np.Spec.PolicyTypes)
			}
			if got := admitted(t, np); !slices.Equal(got, tc.want) {
				t.Errorf("admits namespaces %v, want %v", got, tc.want)
			}
			if !strings.Contains(r.notes, "NetworkPolicy lets in only namespaces "+strings.Join(tc.want, ", ")) {
				t.Errorf("NOTES do not say who may call:\n%s", r.notes)
			}
		})
	}
	r := render(t, loadtester, "flagger-loadtester", "test", map[string]any{"networkPolicy": map[string]any{"enabled": false}})
	if nps := r.kinds("NetworkPolicy"); len(nps) > 0 {
		t.Errorf("networkPolicy.enabled=false renders %s", nps[0].GetName())
	}
	if !strings.Contains(r.notes, "every pod of the cluster can reach the loadtester") {
		t.Errorf("NOTES do not warn that the loadtester is open:\n%s", r.notes)
	}
	if _, err := tryRender(loadtester, "flagger-loadtester", "test", map[string]any{"networkPolicy": map[string]any{"allowedNamespaces": []any{"Not A Namespace"}}}); err == nil {
		t.Error("an invalid namespace name in networkPolicy.allowedNamespaces renders")
	}
}

func fullnameOf(r rendered) string { return r.kinds("Deployment")[0].GetName() }

// admitted lists the namespaces the policy's only ingress rule lets in, by
// their kubernetes.io/metadata.name label.
func admitted(t *testing.T, np *networkingv1.NetworkPolicy) []string {
	t.Helper()
	if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].NamespaceSelector == nil || np.Spec.Ingress[0].From[0].PodSelector != nil {
		t.Fatalf("ingress %+v, want one rule from a namespace selector", np.Spec.Ingress)
	}
	sel := np.Spec.Ingress[0].From[0].NamespaceSelector
	if len(sel.MatchLabels) > 0 || len(sel.MatchExpressions) != 1 {
		t.Fatalf("namespace selector %+v, want one expression", sel)
	}
	e := sel.MatchExpressions[0]
	if e.Key != corev1.LabelMetadataName || e.Operator != metav1.LabelSelectorOpIn {
		t.Fatalf("namespace selector %+v, want %s In (...)", e, corev1.LabelMetadataName)
	}
	return e.Values
}
