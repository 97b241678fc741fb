package charts_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/internal/testenv"
)

// helmLog keeps the Helm SDK's debug lines and prints them when the test
// fails. The SDK may log from its own goroutines, so it never calls t.Log
// directly.
type helmLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *helmLog) printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
}

// helmConfig is what `helm --kubeconfig <env> -n <ns>` works with.
func helmConfig(t *testing.T, namespace string) *action.Configuration {
	t.Helper()
	getter := kube.GetConfig(env.Kubeconfig, "", namespace)
	cache := t.TempDir()
	getter.CacheDir = &cache
	log := &helmLog{}
	t.Cleanup(func() {
		if t.Failed() {
			log.mu.Lock()
			defer log.mu.Unlock()
			t.Logf("helm SDK log:\n%s", strings.Join(log.lines, "\n"))
		}
	})
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, "secret", log.printf); err != nil {
		t.Fatalf("helm configuration: %v", err)
	}
	return cfg
}

// access is one question to the API server's authorizer:
// "group/resource[/subresource] verb", in a namespace ("" for the cluster).
type access struct {
	namespace, what string
}

// can asks the API server whether the ServiceAccount may do what a says,
// as `kubectl auth can-i --as=system:serviceaccount:...` does.
func can(t *testing.T, namespace, serviceAccount string, a access) bool {
	t.Helper()
	gr, verb, _ := strings.Cut(a.what, " ")
	group, resource, _ := strings.Cut(gr, "/")
	resource, sub, _ := strings.Cut(resource, "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   fmt.Sprintf("system:serviceaccount:%s:%s", namespace, serviceAccount),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: a.namespace, Verb: verb, Group: group, Resource: resource, Subresource: sub,
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := env.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview %+v: %v", a, err)
	}
	return res.Status.Allowed
}

// installCase is one `helm install`, what the release's ServiceAccount
// must and must not be allowed to do, and what else to check before
// `helm uninstall`.
type installCase struct {
	name, chart, release string
	values               func(ns string) map[string]any
	serviceAccount       string
	replicas             int
	allowed, denied      func(ns string) []access
	check                func(t *testing.T, ns string, rel *release.Release)
	// run runs the installed containers as local processes with the
	// release's ServiceAccount, RBAC and Secrets.
	run func(t *testing.T, ns string)
}

func TestInstallAndUninstall(t *testing.T) {
	inCluster := func(what ...string) func(string) []access {
		return func(string) []access {
			var out []access
			for _, w := range what {
				out = append(out, access{"", w})
			}
			return out
		}
	}
	warblerFull, loadtesterFull := fullValues(t, warbler), fullValues(t, loadtester)
	cases := []installCase{
		{
			name: "warbler default", chart: warbler, release: "warbler", serviceAccount: "warbler", replicas: 1,
			values:  func(string) map[string]any { return nil },
			allowed: inCluster(controllerPermissions()...),
			denied: inCluster("apps/deployments delete", "/services delete", "/pods list", "/secrets delete",
				"flagger.app/canaries delete", "flagger.app/canaries create", "rbac.authorization.k8s.io/clusterroles create",
				"coordination.k8s.io/leases get"),
			run: func(t *testing.T, ns string) { runController(t, ns, "warbler", false) },
		},
		{
			name: "warbler full", chart: warbler, release: "flagger", serviceAccount: "canary-controller", replicas: 2,
			values: func(ns string) map[string]any {
				// the Prometheus Operator CRDs are not in the test cluster
				return merge(warblerFull, map[string]any{"namespace": ns, "serviceMonitor": map[string]any{"enabled": false}})
			},
			allowed: func(ns string) []access {
				out := []access{{ns, "coordination.k8s.io/leases get"}, {ns, "coordination.k8s.io/leases create"}, {ns, "coordination.k8s.io/leases update"}}
				for _, p := range controllerPermissions() {
					out = append(out, access{ns, p})
				}
				return out
			},
			denied: func(string) []access {
				return []access{{"", "flagger.app/canaries list"}, {"default", "flagger.app/canaries list"},
					{"default", "apps/deployments update"}, {"kube-system", "coordination.k8s.io/leases update"}}
			},
			check: checkPDB,
			run: func(t *testing.T, ns string) {
				runController(t, ns, "flagger-warbler", true)
				checkProviderDiscovery(t, ns, "flagger-warbler-config", "kubernetes")
			},
		},
		{
			name: "loadtester default", chart: loadtester, release: "flagger-loadtester", serviceAccount: "flagger-loadtester", replicas: 1,
			values: func(string) map[string]any { return nil },
			allowed: func(ns string) []access {
				return []access{{ns, "/configmaps get"}, {ns, "/configmaps list"}, {ns, "/configmaps watch"},
					{ns, "/configmaps create"}, {ns, "/configmaps update"}}
			},
			denied: func(ns string) []access {
				return []access{{ns, "/configmaps delete"}, {ns, "/configmaps patch"}, {"default", "/configmaps create"}, {ns, "/pods create"},
					{ns, "/secrets list"}, {"", "/configmaps list"}}
			},
			check: func(t *testing.T, ns string, rel *release.Release) {
				checkServiceEndpoints(t, ns, "flagger-loadtester", 1)
				if !strings.Contains(rel.Info.Notes, "http://flagger-loadtester."+ns+"/") {
					t.Errorf("NOTES:\n%s", rel.Info.Notes)
				}
			},
			run: func(t *testing.T, ns string) { runLoadtester(t, ns, "flagger-loadtester", ns, false) },
		},
		{
			name: "loadtester full", chart: loadtester, release: "helm-tester", serviceAccount: "helm-tester", replicas: 2,
			values: func(string) map[string]any { return loadtesterFull },
			allowed: func(ns string) []access {
				return []access{{ns, "/configmaps update"}, {"default", "/pods create"}, {"default", "/pods watch"},
					{"default", "/pods delete"}, {"default", "/pods/log get"}, {"default", "/secrets list"},
					{"default", "/secrets update"}, {"default", "batch/jobs create"}}
			},
			denied: func(ns string) []access {
				return []access{{"default", "/secrets delete"}, {"default", "/secrets create"}, {"default", "/pods/exec create"},
					{"default", "/configmaps update"}, {ns, "/configmaps delete"}}
			},
			check: func(t *testing.T, ns string, _ *release.Release) {
				checkServiceEndpoints(t, ns, "helm-tester", 2)
				checkPDB(t, ns, nil)
			},
			// payloads name a namespace that -namespace-regexp accepts
			run: func(t *testing.T, ns string) { runLoadtester(t, ns, "helm-tester", "prod", true) },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			installAndUninstall(t, tc)
		})
	}
}

func installAndUninstall(t *testing.T, tc installCase) {
	ns := env.Namespace(t)
	cfg := helmConfig(t, ns)
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = tc.release, ns
	install.Wait, install.Timeout = true, 3*time.Minute
	start := time.Now()
	rel, err := install.Run(loadChart(t, tc.chart), tc.values(ns))
	if err != nil {
		t.Fatalf("helm install %s %s -n %s: %v", tc.release, tc.chart, ns, err)
	}
	t.Logf("helm install --wait took %v", time.Since(start).Round(time.Millisecond))
	uninstalled := false
	t.Cleanup(func() {
		// a failed test still removes its cluster-scoped objects
		if !uninstalled {
			_, _ = action.NewUninstall(cfg).Run(tc.release)
		}
	})
	if rel.Info.Status != release.StatusDeployed {
		t.Fatalf("release status %s, want deployed", rel.Info.Status)
	}
	checkPodsReady(t, ns, tc.release, tc.replicas)
	for _, a := range tc.allowed(ns) {
		if !can(t, ns, tc.serviceAccount, a) {
			t.Errorf("ServiceAccount %s may not %s in namespace %q; the binary needs it", tc.serviceAccount, a.what, a.namespace)
		}
	}
	for _, a := range tc.denied(ns) {
		if can(t, ns, tc.serviceAccount, a) {
			t.Errorf("ServiceAccount %s may %s in namespace %q; least privilege says no", tc.serviceAccount, a.what, a.namespace)
		}
	}
	if tc.check != nil {
		tc.check(t, ns, rel)
	}
	// a subtest, so that the processes stop before the uninstall
	t.Run("binaries with the release's identity", func(t *testing.T) { tc.run(t, ns) })

	uninstall := action.NewUninstall(cfg)
	uninstall.Wait, uninstall.Timeout = true, 2*time.Minute
	if _, err := uninstall.Run(tc.release); err != nil {
		t.Fatalf("helm uninstall %s -n %s: %v", tc.release, ns, err)
	}
	uninstalled = true
	checkGone(t, ns, tc.release, render(t, tc.chart, tc.release, ns, tc.values(ns)))
	if tc.chart == warbler {
		checkCRDsKept(t)
	}
}

func checkPodsReady(t *testing.T, ns, instance string, want int) {
	t.Helper()
	testenv.Eventually(t, time.Minute, func() error {
		pods, err := env.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + instance})
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready != want || len(pods.Items) != want {
			return fmt.Errorf("%d of %d pods of %s Ready, want %d", ready, len(pods.Items), instance, want)
		}
		return nil
	})
}

// checkServiceEndpoints asserts that the Service's port 80 reaches the
// ready pods on port 8080, named http: the path of
// http://<release>.<namespace>/.
func checkServiceEndpoints(t *testing.T, ns, service string, want int) {
	t.Helper()
	testenv.Eventually(t, time.Minute, func() error {
		var slices discoveryv1.EndpointSliceList
		if err := env.Client.List(context.Background(), &slices, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: service}); err != nil {
			return err
		}
		ready := 0
		for _, s := range slices.Items {
			if len(s.Ports) != 1 || s.Ports[0].Port == nil || *s.Ports[0].Port != 8080 || s.Ports[0].Name == nil || *s.Ports[0].Name != "http" {
				return fmt.Errorf("EndpointSlice %s ports %+v, want http 8080", s.Name, s.Ports)
			}
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					ready++
				}
			}
		}
		if ready != want {
			return fmt.Errorf("Service %s has %d ready endpoints, want %d", service, ready, want)
		}
		return nil
	})
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: service}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Ports[0].Port != 80 {
		t.Errorf("Service %s port %d, want 80", service, svc.Spec.Ports[0].Port)
	}
}

func checkPDB(t *testing.T, ns string, _ *release.Release) {
	t.Helper()
	pdbs, err := env.Kube.PolicyV1().PodDisruptionBudgets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pdbs.Items) != 1 || pdbs.Items[0].Spec.MinAvailable == nil || pdbs.Items[0].Spec.MinAvailable.IntValue() != 1 {
		t.Fatalf("PodDisruptionBudgets %+v, want one with minAvailable 1", pdbs.Items)
	}
	// the disruption controller counts the Ready pods it protects
	testenv.Eventually(t, time.Minute, func() error {
		pdb, err := env.Kube.PolicyV1().PodDisruptionBudgets(ns).Get(context.Background(), pdbs.Items[0].Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pdb.Status.ExpectedPods != 2 || pdb.Status.CurrentHealthy != 2 || pdb.Status.DisruptionsAllowed != 1 {
			return fmt.Errorf("PDB %s status %+v, want 2 healthy pods and 1 disruption allowed", pdb.Name, pdb.Status)
		}
		return nil
	})
}

// checkGone asserts that everything the chart installed is deleted, pods
// included, and that Helm forgot the release.
func checkGone(t *testing.T, ns, instance string, r rendered) {
	t.Helper()
	for _, obj := range r.objects {
		if obj.GetKind() == "ServiceMonitor" {
			continue
		}
		u := obj.DeepCopy()
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(obj), u)
		if !apierrors.IsNotFound(err) {
			t.Errorf("after helm uninstall, %s %s/%s: %v (want NotFound)", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
		}
	}
	testenv.Eventually(t, time.Minute, func() error {
		pods, err := env.Kube.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + instance})
		if err != nil {
			return err
		}
		if len(pods.Items) > 0 {
			return fmt.Errorf("%d pods of %s left after helm uninstall", len(pods.Items), instance)
		}
		return nil
	})
	secrets, err := env.Kube.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "owner=helm,name=" + instance})
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets.Items) > 0 {
		t.Errorf("Helm release Secret %s left after helm uninstall", secrets.Items[0].Name)
	}
}

// checkCRDsKept asserts that the flagger.app CRDs outlive the release:
// deleting them would delete every Canary in the cluster.
func checkCRDsKept(t *testing.T) {
	t.Helper()
	for _, name := range []string{"canaries.flagger.app", "metrictemplates.flagger.app", "alertproviders.flagger.app"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: name}, crd); err != nil {
			t.Errorf("CRD %s after helm uninstall: %v", name, err)
			continue
		}
		if crd.DeletionTimestamp != nil {
			t.Errorf("CRD %s is being deleted after helm uninstall", name)
		}
		if crd.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("CRD %s annotations %v lack helm.sh/resource-policy: keep", name, crd.Annotations)
		}
	}
}
