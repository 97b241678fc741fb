package charts_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// container returns the only container of a rendered Deployment.
func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", d.Name, n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func appVersion(t *testing.T, name string) string { return loadChart(t, name).Metadata.AppVersion }

// checkHardened asserts the pod runs as a non-root user with a read-only
// root, no privilege escalation, no capabilities and the runtime's seccomp
// profile, and serves http on 8080 with /healthz probes.
func checkHardened(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	pod, c := d.Spec.Template.Spec.SecurityContext, container(t, d)
	if pod == nil || pod.RunAsNonRoot == nil || !*pod.RunAsNonRoot || pod.RunAsUser == nil || *pod.RunAsUser != 65532 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser 65532", pod)
	}
	if pod == nil || pod.SeccompProfile == nil || pod.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want seccompProfile RuntimeDefault", pod)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("container %s has no securityContext", c.Name)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("container %s: root file system is writable", c.Name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("container %s: privilege escalation allowed", c.Name)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("container %s: capabilities %+v, want drop ALL", c.Name, sc.Capabilities)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("container %s ports %+v, want http 8080", c.Name, c.Ports)
	}
	for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port != intstr.FromString("http") {
			t.Errorf("container %s %s probe %+v, want GET /healthz on port http", c.Name, what, p)
		}
	}
}

// servicePort asserts the Service has one port of name and number that
// forwards to the container port named http, and selects the Deployment's
// pods.
func servicePort(t *testing.T, s *corev1.Service, d *appsv1.Deployment, name string, port int32) {
	t.Helper()
	if len(s.Spec.Ports) != 1 {
		t.Fatalf("Service %s ports %+v, want one", s.Name, s.Spec.Ports)
	}
	p := s.Spec.Ports[0]
	if p.Name != name || p.Port != port || p.TargetPort != intstr.FromString("http") {
		t.Errorf("Service %s port %+v, want %s %d -> http", s.Name, p, name, port)
	}
	for k, v := range s.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the pods of %s do not carry (%v)", s.Name, k, v, d.Name, d.Spec.Template.Labels)
		}
	}
}

func secretEnv(t *testing.T, c corev1.Container, name, secret, key string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != name {
			continue
		}
		ref := e.ValueFrom
		if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != secret || ref.SecretKeyRef.Key != key {
			t.Errorf("env %s = %+v, want key %s of Secret %s", name, e, key, secret)
		}
		return
	}
	t.Errorf("container %s has no env %s; env: %+v", c.Name, name, c.Env)
}

func TestWarblerDefaults(t *testing.T) {
	r := render(t, warbler, "warbler", "warbler-system", nil)
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", "warbler"))
	c := container(t, d)
	if want := "ghcr.io/warbler-dev/warbler:" + appVersion(t, warbler); c.Image != want {
		t.Errorf("image %s, want %s", c.Image, want)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v, want 1", d.Spec.Replicas)
	}
	wantArgs := []string{"-port=8080", "-log-level=info", "-mesh-provider=istio",
		"-metrics-server=http://prometheus:9090", "-selector-labels=app,name,app.kubernetes.io/name",
		"-client-config-map=warbler-config", "-client-config-map-namespace=warbler-system"}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q, want %q", c.Args, wantArgs)
	}
	if len(c.Env) != 0 {
		t.Errorf("env %+v, want none without alerts", c.Env)
	}
	checkHardened(t, d)
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "warbler" {
		t.Errorf("serviceAccountName %s, want warbler", sa)
	}
	r.find(t, "ServiceAccount", "warbler")
	servicePort(t, typed[corev1.Service](t, r.find(t, "Service", "warbler")), d, "http-metrics", 8080)
	r.find(t, "ClusterRole", "warbler-warbler-system")
	r.find(t, "ClusterRoleBinding", "warbler-warbler-system")
	checkClientConfig(t, r, "warbler-config", "warbler-system")
	// the client config is the only ConfigMap: no Grafana dashboard by default
	for _, cm := range r.kinds("ConfigMap") {
		if cm.GetName() != "warbler-config" {
			t.Errorf("default values render the ConfigMap %s; want only warbler-config", cm.GetName())
		}
	}
	for _, kind := range []string{"PodDisruptionBudget", "ServiceMonitor", "Secret"} {
		if objs := r.kinds(kind); len(objs) > 0 {
			t.Errorf("default values render a %s (%s); want none", kind, objs[0].GetName())
		}
	}
	if !strings.Contains(r.notes, "kubectl -n warbler-system rollout status deployment/warbler") {
		t.Errorf("NOTES do not say how to check the rollout:\n%s", r.notes)
	}
}

func TestWarblerFullValues(t *testing.T) {
	r := render(t, warbler, "flagger", "flagger-system", fullValues(t, warbler))
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", "flagger-warbler"))
	c := container(t, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	for _, want := range []string{
		"-port=8080", "-log-level=debug", "-mesh-provider=kubernetes", "-metrics-server=http://prometheus.monitoring:9090",
		"-selector-labels=app,app.kubernetes.io/name", "-include-label-prefix=*", "-namespace=apps",
		"-enable-leader-election=true", "-leader-election-namespace=flagger-system", "-threadiness=4",
		"-event-webhook=http://events.monitoring/warbler", "-cluster-name=prod-eu-1", "-no-cross-namespace-refs=true",
		"-ingress-annotations-prefix=custom.ingress.kubernetes.io", "-ingress-class=nginx-internal",
		"-slack-channel=releases", "-slack-user=warbler", "-min-analysis-interval=5s", "-release-history-limit=20",
		"-client-config-map=flagger-warbler-config", "-client-config-map-namespace=flagger-system",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	checkHardened(t, d)
	secretEnv(t, c, "SLACK_URL", "flagger-warbler-notifiers", "slack-url")
	secretEnv(t, c, "MSTEAMS_URL", "flagger-warbler-notifiers", "msteams-url")
	secret := typed[corev1.Secret](t, r.find(t, "Secret", "flagger-warbler-notifiers"))
	if string(secret.Data["slack-url"]) != "https://hooks.slack.com/services/T000/B000/XXXX" || len(secret.Data["msteams-url"]) == 0 {
		t.Errorf("notifier Secret data %q", secret.Data)
	}
	for _, arg := range c.Args {
		if strings.Contains(arg, "hooks.slack.com") || strings.Contains(arg, "webhook.office.com") {
			t.Errorf("a webhook URL is on the command line, visible in the pod spec: %s", arg)
		}
	}
	if d.Spec.Template.Annotations["checksum/notifiers"] == "" {
		t.Errorf("pod annotations %v: want checksum/notifiers, so that a new URL restarts the controller", d.Spec.Template.Annotations)
	}
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "canary-controller" {
		t.Errorf("serviceAccountName %s, want canary-controller", sa)
	}
	if d.Spec.Template.Labels["team"] != "platform" || d.Spec.Template.Annotations["example.com/team"] != "platform" {
		t.Errorf("podLabels/podAnnotations not applied: %v %v", d.Spec.Template.Labels, d.Spec.Template.Annotations)
	}
	spec := d.Spec.Template.Spec
	if spec.NodeSelector["kubernetes.io/os"] != "linux" || len(spec.Tolerations) != 1 || spec.Affinity == nil || len(spec.TopologySpreadConstraints) != 1 {
		t.Errorf("scheduling values not applied: %+v", spec)
	}

	// namespace-scoped: a Role in the watched namespace, no ClusterRole
	if role := r.find(t, "Role", "flagger-warbler"); role.GetNamespace() != "apps" {
		t.Errorf("Role in namespace %s, want apps", role.GetNamespace())
	}
	r.find(t, "RoleBinding", "flagger-warbler")
	if objs := append(r.kinds("ClusterRole"), r.kinds("ClusterRoleBinding")...); len(objs) > 0 {
		t.Errorf("namespace-scoped install renders %s %s", objs[0].GetKind(), objs[0].GetName())
	}
	if le := r.find(t, "Role", "flagger-warbler-leader-election"); le.GetNamespace() != "flagger-system" {
		t.Errorf("leader-election Role in namespace %s, want the release namespace", le.GetNamespace())
	}

	svc := typed[corev1.Service](t, r.find(t, "Service", "flagger-warbler"))
	servicePort(t, svc, d, "http-metrics", 8080)
	pdb := typed[policyv1.PodDisruptionBudget](t, r.find(t, "PodDisruptionBudget", "flagger-warbler"))
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(1) {
		t.Errorf("PDB minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	checkServiceMonitor(t, r.find(t, "ServiceMonitor", "flagger-warbler"), svc)
	checkGrafanaDashboard(t, typed[corev1.ConfigMap](t, r.find(t, "ConfigMap", "flagger-warbler-grafana-dashboard")), "flagger-system")
}

// checkGrafanaDashboard asserts the ConfigMap carries the label Grafana's
// sidecar looks for and the chart's dashboard file, unchanged.
func checkGrafanaDashboard(t *testing.T, cm *corev1.ConfigMap, ns string) {
	t.Helper()
	if cm.Namespace != ns || cm.Labels["grafana_dashboard"] != "1" || cm.Labels["team"] != "platform" || cm.Annotations["grafana_folder"] != "Canaries" {
		t.Errorf("dashboard ConfigMap %s/%s labels %v annotations %v: want namespace %s, grafana_dashboard=1 and the values' labels and annotations",
			cm.Namespace, cm.Name, cm.Labels, cm.Annotations, ns)
	}
	file, err := os.ReadFile(filepath.Join(chartDir(warbler), "dashboards", "warbler-canaries.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["warbler-canaries.json"]; got != strings.TrimRight(string(file), "\n") {
		t.Errorf("ConfigMap data is not the dashboard file (%d bytes, file %d)", len(got), len(file))
	}
	var dash struct{ UID string }
	if err := json.Unmarshal([]byte(cm.Data["warbler-canaries.json"]), &dash); err != nil || dash.UID != "warbler-canaries" {
		t.Errorf("dashboard JSON: uid %q, %v", dash.UID, err)
	}
}

func TestWarblerGrafanaDashboardNamespace(t *testing.T) {
	r := render(t, warbler, "warbler", "warbler-system", map[string]any{"grafanaDashboard": map[string]any{"enabled": true, "namespace": "monitoring"}})
	if cm := r.find(t, "ConfigMap", "warbler-grafana-dashboard"); cm.GetNamespace() != "monitoring" || cm.GetLabels()["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap in %s with labels %v, want namespace monitoring and grafana_dashboard=1", cm.GetNamespace(), cm.GetLabels())
	}
}

// checkServiceMonitor asserts the ServiceMonitor scrapes /metrics on the
// metrics Service's port. Its CRD is not in the test cluster (the
// Prometheus Operator's schemas are not vendored), so this is checked on
// the rendered object.
func checkServiceMonitor(t *testing.T, sm *unstructured.Unstructured, svc *corev1.Service) {
	t.Helper()
	if sm.GetAPIVersion() != "monitoring.coreos.com/v1" || sm.GetNamespace() != svc.Namespace {
		t.Errorf("ServiceMonitor %s/%s apiVersion %s", sm.GetNamespace(), sm.GetName(), sm.GetAPIVersion())
	}
	if sm.GetLabels()["release"] != "kube-prometheus-stack" {
		t.Errorf("ServiceMonitor labels %v lack serviceMonitor.labels", sm.GetLabels())
	}
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 {
		t.Errorf("ServiceMonitor selects nothing")
	}
	for k, v := range sel {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, Service %s has labels %v", k, v, svc.Name, svc.Labels)
		}
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor endpoints %v, want one", eps)
	}
	ep := eps[0].(map[string]any)
	if ep["port"] != svc.Spec.Ports[0].Name || ep["path"] != "/metrics" || ep["interval"] != "30s" || ep["scrapeTimeout"] != "10s" {
		t.Errorf("ServiceMonitor endpoint %v, want port %s path /metrics interval 30s scrapeTimeout 10s", ep, svc.Spec.Ports[0].Name)
	}
}

func TestWarblerPDBFollowsReplicas(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   bool
	}{
		{"one replica", nil, false},
		{"two replicas with leader election", map[string]any{"replicas": 2, "leaderElection": map[string]any{"enabled": true}}, true},
		{"Flagger's leaderElection.replicaCount", map[string]any{"leaderElection": map[string]any{"enabled": true, "replicaCount": 2}}, true},
		{"toggle with one replica", map[string]any{"podDisruptionBudget": map[string]any{"enabled": true}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, warbler, "warbler", "ns", tc.values)
			if got := len(r.kinds("PodDisruptionBudget")) == 1; got != tc.want {
				t.Errorf("PodDisruptionBudget rendered: %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWarblerListValues(t *testing.T) {
	// Flagger's comma-separated strings and YAML lists give the same flag.
	for _, v := range []any{"app,name", []any{"app", "name"}} {
		r := render(t, warbler, "warbler", "ns", map[string]any{"selectorLabels": v, "includeLabelPrefix": v})
		c := container(t, typed[appsv1.Deployment](t, r.find(t, "Deployment", "warbler")))
		for _, want := range []string{"-selector-labels=app,name", "-include-label-prefix=app,name"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("selectorLabels %v: args %q lack %q", v, c.Args, want)
			}
		}
	}
}

func TestWarblerExistingNotifierSecret(t *testing.T) {
	r := render(t, warbler, "warbler", "ns", map[string]any{
		"notifiers": map[string]any{"existingSecret": "alerting"},
		"slack":     map[string]any{"url": "https://ignored.example"},
	})
	if objs := r.kinds("Secret"); len(objs) > 0 {
		t.Errorf("rendered Secret %s although notifiers.existingSecret is set", objs[0].GetName())
	}
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", "warbler"))
	secretEnv(t, container(t, d), "SLACK_URL", "alerting", "slack-url")
	secretEnv(t, container(t, d), "MSTEAMS_URL", "alerting", "msteams-url")
}

func TestLoadtesterDefaults(t *testing.T) {
	r := render(t, loadtester, "flagger-loadtester", "test", nil)
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", "flagger-loadtester"))
	c := container(t, d)
	if want := "ghcr.io/warbler-dev/loadtester:" + appVersion(t, loadtester); c.Image != want {
		t.Errorf("image %s, want %s", c.Image, want)
	}
	if want := []string{"-port=8080", "-log-level=info", "-timeout=1h"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %q, want %q", c.Args, want)
	}
	checkHardened(t, d)
	checkWritableTmp(t, d)
	var podNS bool
	for _, e := range c.Env {
		podNS = podNS || e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
		if strings.HasPrefix(e.Name, "LOADTESTER_") {
			t.Errorf("env %s set without auth values", e.Name)
		}
	}
	if !podNS {
		t.Errorf("env %+v: want POD_NAMESPACE from metadata.namespace, where the gates live", c.Env)
	}
	// Flagger's URL http://flagger-loadtester.test/ reaches port 8080
	servicePort(t, typed[corev1.Service](t, r.find(t, "Service", "flagger-loadtester")), d, "http", 80)
	if !strings.Contains(r.notes, "http://flagger-loadtester.test/") {
		t.Errorf("NOTES do not give the webhook URL:\n%s", r.notes)
	}
	for _, warning := range []string{"callers are not authenticated", "may run any shell command"} {
		if !strings.Contains(r.notes, warning) {
			t.Errorf("NOTES do not warn that %s:\n%s", warning, r.notes)
		}
	}
	r.find(t, "Role", "flagger-loadtester-gates")
	r.find(t, "RoleBinding", "flagger-loadtester-gates")
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "PodDisruptionBudget", "Secret"} {
		if objs := r.kinds(kind); len(objs) > 0 {
			t.Errorf("default values render a %s (%s); want none", kind, objs[0].GetName())
		}
	}
}

func checkWritableTmp(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	var mounted bool
	for _, m := range container(t, d).VolumeMounts {
		mounted = mounted || m.MountPath == "/tmp" && !m.ReadOnly
	}
	var emptyDir bool
	for _, v := range d.Spec.Template.Spec.Volumes {
		emptyDir = emptyDir || v.Name == "tmp" && v.EmptyDir != nil
	}
	if !mounted || !emptyDir {
		t.Errorf("want a writable emptyDir on /tmp; mounts %+v volumes %+v", container(t, d).VolumeMounts, d.Spec.Template.Spec.Volumes)
	}
}

// Seed 003 installs Flagger's chart with these two values and calls
// http://helm-tester.prod/.
func TestLoadtesterSeedHelmTester(t *testing.T) {
	r := render(t, loadtester, "helm-tester", "prod", map[string]any{"fullnameOverride": "helm-tester", "serviceAccountName": "helm-tester"})
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", "helm-tester"))
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "helm-tester" {
		t.Errorf("serviceAccountName %s, want helm-tester", sa)
	}
	r.find(t, "ServiceAccount", "helm-tester")
	servicePort(t, typed[corev1.Service](t, r.find(t, "Service", "helm-tester")), d, "http", 80)
	binding := r.find(t, "RoleBinding", "helm-tester-gates")
	subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
	if len(subjects) != 1 || subjects[0].(map[string]any)["name"] != "helm-tester" {
		t.Errorf("gates RoleBinding subjects %v, want ServiceAccount helm-tester", subjects)
	}

	// an account made outside the chart is used, not created
	r = render(t, loadtester, "helm-tester", "prod", map[string]any{"serviceAccountName": "existing", "serviceAccount": map[string]any{"create": false}})
	if objs := r.kinds("ServiceAccount"); len(objs) > 0 {
		t.Errorf("rendered ServiceAccount %s with serviceAccount.create=false", objs[0].GetName())
	}
	d = typed[appsv1.Deployment](t, r.find(t, "Deployment", "helm-tester-loadtester"))
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "existing" {
		t.Errorf("serviceAccountName %s, want existing", sa)
	}
}

func TestLoadtesterFullValues(t *testing.T) {
	r := render(t, loadtester, "lt", "prod", fullValues(t, loadtester))
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", "helm-tester"))
	c := container(t, d)
	for _, want := range []string{"-port=8080", "-log-level=debug", "-timeout=30m", "-namespace-regexp=^(prod|staging)$",
		"-allow-command=hey,curl,helm", "-hmac-window=2m", "-max-concurrent-tasks=16"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", c.Args, want)
		}
	}
	checkHardened(t, d)
	checkWritableTmp(t, d)
	secretEnv(t, c, "LOADTESTER_BEARER_TOKEN", "helm-tester-auth", "bearer-token")
	secretEnv(t, c, "LOADTESTER_HMAC_KEY", "helm-tester-auth", "hmac-key")
	secret := typed[corev1.Secret](t, r.find(t, "Secret", "helm-tester-auth"))
	if string(secret.Data["bearer-token"]) != "not-a-real-token" || string(secret.Data["hmac-key"]) != "not-a-real-key" {
		t.Errorf("auth Secret data %q", secret.Data)
	}
	if d.Spec.Template.Annotations["checksum/auth"] == "" {
		t.Errorf("pod annotations %v: want checksum/auth, so that new credentials restart the loadtester", d.Spec.Template.Annotations)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	r.find(t, "PodDisruptionBudget", "helm-tester")
	r.find(t, "ClusterRole", "helm-tester-prod-helm-tests")
	r.find(t, "ClusterRoleBinding", "helm-tester-prod-helm-tests")
	if !strings.Contains(r.notes, "http://helm-tester.prod/") || strings.Contains(r.notes, "WARNING") {
		t.Errorf("NOTES:\n%s", r.notes)
	}
}

func TestLoadtesterHelmTestsInListedNamespaces(t *testing.T) {
	r := render(t, loadtester, "lt", "tools", map[string]any{"rbac": map[string]any{"helmTests": map[string]any{"enabled": true, "namespaces": []any{"prod", "staging"}}}})
	if objs := r.kinds("ClusterRole"); len(objs) > 0 {
		t.Errorf("rendered ClusterRole %s although helm tests are limited to namespaces", objs[0].GetName())
	}
	var got []string
	for _, role := range r.kinds("Role") {
		if role.GetName() == "lt-loadtester-helm-tests" {
			got = append(got, role.GetNamespace())
		}
	}
	if slices.Sort(got); !slices.Equal(got, []string{"prod", "staging"}) {
		t.Errorf("helm-test Roles in %v, want prod and staging", got)
	}
	for _, b := range r.kinds("RoleBinding") {
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		if s := subjects[0].(map[string]any); s["namespace"] != "tools" {
			t.Errorf("RoleBinding %s/%s binds ServiceAccount in %v, want tools", b.GetNamespace(), b.GetName(), s["namespace"])
		}
	}
}

func TestLoadtesterTokensFile(t *testing.T) {
	r := render(t, loadtester, "lt", "ns", map[string]any{"auth": map[string]any{"existingSecret": "callers", "tokensFile": true}})
	if objs := r.kinds("Secret"); len(objs) > 0 {
		t.Errorf("rendered Secret %s although auth.existingSecret is set", objs[0].GetName())
	}
	d := typed[appsv1.Deployment](t, r.find(t, "Deployment", "lt-loadtester"))
	c := container(t, d)
	if !slices.Contains(c.Args, "-bearer-token-file=/etc/loadtester/auth/tokens") {
		t.Errorf("args %q lack -bearer-token-file", c.Args)
	}
	secretEnv(t, c, "LOADTESTER_BEARER_TOKEN", "callers", "bearer-token")
	var ok bool
	for _, v := range d.Spec.Template.Spec.Volumes {
		ok = ok || v.Secret != nil && v.Secret.SecretName == "callers" && len(v.Secret.Items) == 1 && v.Secret.Items[0].Key == "tokens"
	}
	if !ok {
		t.Errorf("volumes %+v: want key tokens of Secret callers", d.Spec.Template.Spec.Volumes)
	}
}

// checkClientConfig asserts the ConfigMap kubectl canary finds by its label,
// empty (the controller fills it), and the Role that lets the controller
// patch it and nothing else: the only Role in the release namespace besides
// leader election's.
func checkClientConfig(t *testing.T, r rendered, name, ns string) {
	t.Helper()
	cm := typed[corev1.ConfigMap](t, r.find(t, "ConfigMap", name))
	if cm.Namespace != ns || cm.Labels["warbler.dev/controller-config"] != "true" || len(cm.Data) != 0 {
		t.Errorf("ConfigMap %s.%s labels %v data %v: want the label warbler.dev/controller-config and no data", cm.Name, cm.Namespace, cm.Labels, cm.Data)
	}
	role := typed[rbacv1.Role](t, r.find(t, "Role", name))
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{name}, Verbs: []string{"patch"}}}
	if role.Namespace != ns || !equality.Semantic.DeepEqual(role.Rules, want) {
		t.Errorf("Role %s.%s rules %+v, want %+v", role.Name, role.Namespace, role.Rules, want)
	}
	rb := typed[rbacv1.RoleBinding](t, r.find(t, "RoleBinding", name))
	if rb.RoleRef.Name != name || len(rb.Subjects) != 1 || rb.Subjects[0].Kind != "ServiceAccount" {
		t.Errorf("RoleBinding %s: %+v", rb.Name, rb)
	}
}
