package charts_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/webhooks"
)

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	testenv.LogBuffer
}

// process is a chart's container run as a local process.
type process struct {
	url  string // http://127.0.0.1:<port>
	logs *syncBuffer
	done chan struct{} // closed when the process exits
	env  map[string]string
}

// waitLog waits until the process logs s, and fails when it exits first.
func (p *process) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(90 * time.Second)
	for !strings.Contains(p.logs.String(), s) {
		select {
		case <-p.done:
			t.Fatalf("the process exited before logging %q:\n%s", s, p.logs)
		case <-deadline:
			t.Fatalf("the process did not log %q in 90s:\n%s", s, p.logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runContainer runs the container of the installed Deployment as a local
// process with the pod's identity: its arguments and environment (Secrets
// and the downward API resolved), a token of its ServiceAccount, and a
// private HOME for the emptyDir on /tmp. Only the port is moved to a free
// one, and extra arguments follow the chart's.
func runContainer(t *testing.T, ns, deployment string, extraArgs ...string) *process {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := env.Kube.AppsV1().Deployments(ns).Get(ctx, deployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	vars := podEnv(t, ns, d)
	vars["HOME"], vars["PATH"] = t.TempDir(), os.Getenv("PATH")
	args := append(append([]string{}, c.Args...), "-port="+strconv.Itoa(port),
		"-kubeconfig="+env.ServiceAccountKubeconfig(t, ns, d.Spec.Template.Spec.ServiceAccountName))
	args = append(args, extraArgs...)

	cmd := exec.Command(filepath.Join(binaries(t), c.Name), args...)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{url: fmt.Sprintf("http://127.0.0.1:%d", port), logs: &syncBuffer{}, done: make(chan struct{}), env: vars}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", c.Name, p.logs)
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := http.Get(p.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
			err = fmt.Errorf("/healthz: %s", res.Status)
		}
		select {
		case <-p.done:
			t.Fatalf("%s %s exited", c.Name, strings.Join(args, " "))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer /healthz after a minute: %v", c.Name, err)
		}
	}
}

// podEnv resolves the container's environment as the kubelet would.
func podEnv(t *testing.T, ns string, d *appsv1.Deployment) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch from := e.ValueFrom; {
		case from == nil:
			out[e.Name] = e.Value
		case from.FieldRef != nil && from.FieldRef.FieldPath == "metadata.namespace":
			out[e.Name] = ns
		case from.SecretKeyRef != nil:
			s, err := env.Kube.CoreV1().Secrets(ns).Get(context.Background(), from.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("env %s: %v", e.Name, err)
			}
			v, ok := s.Data[from.SecretKeyRef.Key]
			if !ok && !ptr.Deref(from.SecretKeyRef.Optional, false) {
				t.Fatalf("env %s: Secret %s has no key %s", e.Name, s.Name, from.SecretKeyRef.Key)
			}
			if ok {
				out[e.Name] = string(v)
			}
		default:
			t.Fatalf("env %s: source %+v not resolved by the test", e.Name, from)
		}
	}
	return out
}

// binaries builds cmd/warbler and cmd/loadtester once per test binary.
func binaries(t *testing.T) string {
	t.Helper()
	return env.Binaries(t, "./cmd/warbler", "./cmd/loadtester")
}

// runController runs the installed controller with the release's RBAC
// until its controllers have synced their caches, which needs list and
// watch on everything they watch. It watches only ns: a controller for the
// whole cluster would take over the canaries of other packages' tests.
func runController(t *testing.T, ns, deployment string, leaderElection bool) {
	t.Helper()
	p := runContainer(t, ns, deployment, "-namespace="+ns)
	p.waitLog(t, "Connected to Kubernetes API")
	p.waitLog(t, "Starting workers")
	if strings.Contains(strings.ToLower(p.logs.String()), "forbidden") {
		t.Errorf("the controller was refused an API call with the chart's RBAC:\n%s", p.logs)
	}
	if leaderElection {
		lease, err := env.Kube.CoordinationV1().Leases(ns).Get(context.Background(), "warbler-leader-election", metav1.GetOptions{})
		if err != nil || ptr.Deref(lease.Spec.HolderIdentity, "") == "" {
			t.Errorf("leader-election Lease in the release namespace: %v %+v", err, lease)
		}
	}
}

// post sends a webhook-style request to the loadtester, signed and with a
// bearer token when the pod has those credentials.
func (p *process) post(t *testing.T, path string, payload string, authenticate bool) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+path, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token := p.env["LOADTESTER_BEARER_TOKEN"]; authenticate && token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key := p.env["LOADTESTER_HMAC_KEY"]; authenticate && key != "" {
		req.Header.Set(webhooks.SignatureHeader, webhooks.Sign([]byte(key), time.Now(), req.URL.EscapedPath(), []byte(payload)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// runLoadtester runs the installed loadtester with the release's RBAC and
// credentials, opens a gate (a ConfigMap in the release namespace) and
// runs `helm test` on a release in another namespace, which works only
// with rbac.helmTests.
func runLoadtester(t *testing.T, ns, deployment, payloadNamespace string, helmTests bool) {
	t.Helper()
	p := runContainer(t, ns, deployment)
	p.waitLog(t, "Connected to Kubernetes API")
	gate := fmt.Sprintf(`{"name":"podinfo","namespace":%q,"phase":"Progressing"}`, payloadNamespace)
	authenticated := p.env["LOADTESTER_BEARER_TOKEN"] != "" || p.env["LOADTESTER_HMAC_KEY"] != ""
	if authenticated {
		if code, body := p.post(t, "/gate/open", gate, false); code != http.StatusUnauthorized {
			t.Errorf("unauthenticated /gate/open: %d %s, want 401 with the chart's credentials set", code, body)
		}
	}
	if code, body := p.post(t, "/gate/open", gate, true); code != http.StatusAccepted {
		t.Fatalf("/gate/open: %d %s, want 202", code, body)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		cms, err := env.Kube.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "warbler.dev/gate"})
		if err != nil {
			return err
		}
		if len(cms.Items) != 1 {
			return fmt.Errorf("%d gate ConfigMaps in %s, want 1", len(cms.Items), ns)
		}
		return nil
	})
	if code, body := p.post(t, "/gate/check", gate, true); code != http.StatusOK {
		t.Errorf("/gate/check after /gate/open: %d %s, want 200", code, body)
	}

	target := env.Namespace(t)
	installTestedChart(t, target)
	task := fmt.Sprintf(`{"name":"podinfo","namespace":%q,"phase":"Progressing","metadata":{"type":"helmv3","cmd":"test smoke -n %s"}}`, payloadNamespace, target)
	code, body := p.post(t, "/", task, true)
	switch {
	case helmTests && code != http.StatusOK:
		t.Errorf("helm test with rbac.helmTests.enabled: %d %s, want 200", code, body)
	case !helmTests && (code == http.StatusOK || !strings.Contains(body, "forbidden")):
		t.Errorf("helm test without rbac.helmTests: %d %s, want a failure that says forbidden", code, body)
	}
}

// installTestedChart installs a release "smoke" whose test hook is a bare
// pod, which kwok ends Succeeded.
func installTestedChart(t *testing.T, ns string) {
	t.Helper()
	c := &chart.Chart{
		Metadata: &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "smoke", Version: "0.1.0"},
		Templates: []*chart.File{
			{Name: "templates/configmap.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: smoke\ndata:\n  a: b\n")},
			{Name: "templates/tests/smoke.yaml", Data: []byte(`apiVersion: v1
kind: Pod
metadata:
  name: smoke-test
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
    - name: smoke
      image: busybox
      command: ["true"]
`)},
		},
	}
	install := action.NewInstall(helmConfig(t, ns))
	install.ReleaseName, install.Namespace, install.Timeout = "smoke", ns, time.Minute
	if _, err := install.Run(c, nil); err != nil {
		t.Fatalf("installing the chart under test: %v", err)
	}
}
