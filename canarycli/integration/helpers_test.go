// Package integration runs kubectl canary, and the alerts of package
// alerts, against a real control plane (internal/testenv) with the
// controller running in-process.
package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli"
	"github.com/warbler-dev/warbler/controller"
	"github.com/warbler-dev/warbler/internal/controllertest"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	env = testenv.New()
	os.Exit(env.Run(m))
}

const (
	imageV1 = "ghcr.io/stefanprodan/podinfo:6.0.0"
	imageV2 = "ghcr.io/stefanprodan/podinfo:6.0.1"
)

// metrics answers metric checks with values the test sets, by name.
type metrics struct {
	mu     sync.Mutex
	values map[string]float64
}

func newMetrics(values map[string]float64) *metrics { return &metrics{values: values} }

func (m *metrics) set(name string, v float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.values[name] = v
}

func (m *metrics) Run(_ context.Context, _ *flaggerv1.Canary, cm flaggerv1.CanaryMetric, _ string, _ analysis.Window) analysis.MetricResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.values[cm.Name]
	if !ok {
		return analysis.MetricResult{Outcome: analysis.QueryNoData, Query: cm.Query}
	}
	return analysis.MetricResult{Outcome: analysis.QueryOK, Value: v, Query: cm.Query}
}

// startController runs the controller in-process for the namespace until
// the test ends.
func startController(t *testing.T, ns string, m controller.MetricRunner, alerts controller.Notifier) {
	t.Helper()
	controllertest.Start(t, env, controllertest.Config{Namespaces: []string{ns}, Metrics: m, Alerts: alerts})
}

func kubectlCanary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return kubectlCanaryAt(t, time.Now, args...)
}

func kubectlCanaryAt(t *testing.T, now func() time.Time, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := &canarycli.App{Stdout: &stdout, Stderr: &stderr, Now: now, PollInterval: 200 * time.Millisecond,
		Getenv: func(k string) string {
			if k == "KUBECONFIG" {
				return env.Kubeconfig
			}
			return ""
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := app.Run(ctx, args)
	return code, stdout.String(), stderr.String()
}

// deployment and canaryOf are the fixtures of testenv.
var (
	deployment = testenv.Deployment
	canaryOf   = testenv.Canary
)

// checkedMetrics are a builtin and a custom metric.
func checkedMetrics() []flaggerv1.CanaryMetric {
	return []flaggerv1.CanaryMetric{
		{Name: "request-success-rate", Interval: "1m", ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(99.0)}},
		{Name: "latency-p99", Interval: "1m", Query: "histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[1m]))",
			ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(500.0)}},
	}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	env.Create(t, objs...)
}

func getCanary(t *testing.T, ns, name string) *flaggerv1.Canary {
	t.Helper()
	var c flaggerv1.Canary
	env.Get(t, ns, name, &c)
	return &c
}

func getDeployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	env.Get(t, ns, name, &d)
	return &d
}

// waitCanary waits until ok holds for the canary.
func waitCanary(t *testing.T, ns, name string, timeout time.Duration, what string, ok func(*flaggerv1.Canary) bool) *flaggerv1.Canary {
	t.Helper()
	var last *flaggerv1.Canary
	testenv.Eventually(t, timeout, func() error {
		last = getCanary(t, ns, name)
		if !ok(last) {
			s := last.Status
			return fmt.Errorf("canary %s.%s: want %s; phase %q weight %d failed checks %d message %q", name, ns, what, s.Phase, s.CanaryWeight, s.FailedChecks, s.Message)
		}
		return nil
	})
	return last
}

func waitPhase(t *testing.T, ns, name string, phase flaggerv1.CanaryPhase, timeout time.Duration) *flaggerv1.Canary {
	t.Helper()
	return waitCanary(t, ns, name, timeout, "phase "+string(phase), func(c *flaggerv1.Canary) bool { return c.Status.Phase == phase })
}

func setImage(t *testing.T, ns, name, image string) {
	t.Helper()
	d := getDeployment(t, ns, name)
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = image
	if err := env.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// specs is the JSON of the Canary's spec and of the target's pod
// template: what an imperative request must never change.
func specs(t *testing.T, ns, name string) string {
	t.Helper()
	c, d := getCanary(t, ns, name), getDeployment(t, ns, name)
	cs, _ := json.Marshal(c.Spec)
	ts, _ := json.Marshal(d.Spec.Template)
	return string(cs) + "\n" + string(ts)
}

// gateServer answers confirm-* webhooks by name: open, closed, or open for the
// first n calls only.
type gateServer struct {
	*httptest.Server
	mu    sync.Mutex
	allow map[string]int // remaining allowed calls; -1 is always
	calls map[string]int
}

func newGates(t *testing.T) *gateServer {
	g := &gateServer{allow: map[string]int{}, calls: map[string]int{}}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		name := strings.TrimPrefix(r.URL.Path, "/")
		g.mu.Lock()
		g.calls[name]++
		n := g.allow[name]
		if n > 0 {
			g.allow[name]--
		}
		g.mu.Unlock()
		if n != 0 {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, "Forbidden", http.StatusForbidden)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateServer) set(name string, allowed int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allow[name] = allowed
}

func (g *gateServer) hook(name string, typ flaggerv1.HookType) flaggerv1.CanaryWebhook {
	return flaggerv1.CanaryWebhook{Name: name, Type: typ, URL: g.URL + "/" + name, Timeout: "5s"}
}
