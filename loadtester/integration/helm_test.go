package integration

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/warbler-dev/warbler/internal/testenv"
)

// smokeChart has one regular resource and one test-hook pod. kwok ends the
// pod Succeeded, or Failed with exit code .Values.exitCode when it is set.
func smokeChart() *chart.Chart {
	return &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: "v2", Name: "smoke", Version: "0.1.0"},
		Values:   map[string]any{"exitCode": ""},
		Templates: []*chart.File{
			{Name: "templates/configmap.yaml", Data: []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: hello
`)},
			{Name: "templates/tests/smoke.yaml", Data: []byte(`apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-smoke
  annotations:
    helm.sh/hook: test
{{- if .Values.exitCode }}
    warbler.dev/exit-code: {{ .Values.exitCode | quote }}
{{- end }}
spec:
  restartPolicy: Never
  containers:
  - name: smoke
    image: curlimages/curl:8.10.1
    command: ["curl", "-sf", "http://podinfo:9898/healthz"]
`)},
		},
	}
}

// install installs the chart with the Helm SDK, as a user's `helm install`
// would.
func install(t *testing.T, namespace, release string, values map[string]any) {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig, flags.Namespace = &env.Kubeconfig, &namespace
	cacheDir := filepath.Join(t.TempDir(), "kube-cache")
	flags.CacheDir = &cacheDir
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, namespace, "secret", t.Logf); err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(cfg)
	in.ReleaseName, in.Namespace = release, namespace
	if _, err := in.Run(smokeChart(), values); err != nil {
		t.Fatalf("helm install %s: %v", release, err)
	}
}

func TestHelmTestThroughTheSDK(t *testing.T) {
	ns := env.Namespace(t)
	install(t, ns, "good", nil)
	install(t, ns, "bad", map[string]any{"exitCode": "3"})
	// no helm binary: only the SDK can run these
	lt := startInstance(t, instanceOptions{helm: true, lookPath: func(name string) (string, error) {
		if name == "helm" {
			return "", exec.ErrNotFound
		}
		return exec.LookPath(name)
	}})

	code, body := post(t, lt.URL+"/", task("podinfo", ns, "type", "helm", "cmd", "test good -n "+ns+" --timeout 2m", "returnCmdOutput", "true"))
	if code != http.StatusOK || !strings.Contains(body, "test Pod good-smoke: Succeeded") {
		t.Fatalf("passing helm test: %d %q", code, body)
	}
	lt.Log.waitFor(t, "command finished helm test good", time.Second)

	code, body = post(t, lt.URL+"/", task("podinfo", ns, "type", "helmv3", "cmd", "test bad --namespace "+ns))
	want := "helm test bad in " + ns + " failed: 1 error occurred: * pod bad-smoke failed\n" +
		"test Pod bad-smoke: Failed (container smoke: exit code 3, reason Error)"
	if code != http.StatusInternalServerError || body != want {
		t.Fatalf("failing helm test: %d %q, want 500 %q", code, body, want)
	}
	// the test pod really ran in the cluster, and the release records it
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pod, err := env.Kube.CoreV1().Pods(ns).Get(ctx, "bad-smoke", metav1.GetOptions{})
	if err != nil || pod.Status.Phase != corev1.PodFailed {
		t.Fatalf("test pod: %v %v", pod.Status.Phase, err)
	}

	// the release namespace defaults to the canary's; another helm command
	// without a helm binary is a clear 400
	if code, body = post(t, lt.URL+"/", task("podinfo", ns, "type", "helm", "cmd", "test good")); code != http.StatusOK {
		t.Errorf("helm test in the canary's namespace: %d %q", code, body)
	}
	if code, body = post(t, lt.URL+"/", task("podinfo", ns, "type", "helm", "cmd", "rollback good 1")); code != 400 ||
		!strings.Contains(body, "other helm commands need a helm binary") {
		t.Errorf("helm rollback: %d %q", code, body)
	}
	if code, body = post(t, lt.URL+"/", task("podinfo", ns, "type", "helm", "cmd", "test missing -n "+ns)); code != 500 ||
		!strings.Contains(body, "release: not found") {
		t.Errorf("unknown release: %d %q", code, body)
	}
}

// kubectl tasks run the kubectl binary against the loadtester's cluster.
func TestKubectlTaskRunsTheBinary(t *testing.T) {
	ns := env.Namespace(t)
	kubectl := testenv.StackBinary(t, "kubectl")
	lt := startInstance(t, instanceOptions{lookPath: func(name string) (string, error) {
		if name == "kubectl" {
			return kubectl, nil
		}
		return exec.LookPath(name)
	}})
	code, body := post(t, lt.URL+"/", task("podinfo", ns, "type", "kubectl",
		"cmd", "create configmap from-task --from-literal=a=b -n "+ns, "returnCmdOutput", "true"))
	if code != http.StatusOK || !strings.Contains(body, "configmap/from-task created") {
		t.Fatalf("kubectl create: %d %q", code, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := env.Kube.CoreV1().ConfigMaps(ns).Get(ctx, "from-task", metav1.GetOptions{})
	if err != nil || cm.Data["a"] != "b" {
		t.Fatalf("configmap created by the task: %v %v", cm.Data, err)
	}
	code, body = post(t, lt.URL+"/", task("podinfo", ns, "type", "kubectl", "cmd", "get configmap nope -n "+ns))
	if code != 500 || !strings.Contains(body, `configmaps "nope" not found`) || !strings.Contains(body, "exit status 1") {
		t.Errorf("kubectl failure: %d %q", code, body)
	}
}
