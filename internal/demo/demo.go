// Package demo runs seed 003 on the local stack: podinfo in namespace prod,
// a Canary with an acceptance test and hey load through the loadtester,
// podinfo 3.1.1 promoted, then 3.1.2 rolled back after HTTP 500s and 1 s
// delays are injected. `make demo` shows it; test/e2e asserts it.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/providers/routers"
)

// Config is where the scenario runs.
type Config struct {
	// Root is the repository root; Kubeconfig a running stack's.
	Root, Kubeconfig string
	// Dir receives the processes' logs and data.
	Dir string
	// Warbler and Loadtester are the built binaries.
	Warbler, Loadtester string
	// Interval of the analysis; seed 003 has 10s.
	Interval string
	// Out receives the story; Live redraws the progress line in place.
	Out  io.Writer
	Live bool
}

// Result is what happened, for the summary and the end-to-end test.
type Result struct {
	// Phases seen in order, repeats dropped, across both releases.
	Phases []flaggerv1.CanaryPhase
	// Weights seen during the first release, repeats dropped.
	Weights []int
	// PromotedImage is the primary's image after the first release;
	// PrimaryAfterRollback after the second.
	PromotedImage, PrimaryAfterRollback string
	// CanaryReplicasAfterRollback is the target's replica count at the end.
	CanaryReplicasAfterRollback int32
	// Failed is the Canary's status after the rollback.
	Failed flaggerv1.CanaryStatus
	// Messages are the controller's log messages about podinfo.prod, in
	// order: what `jq .msg` shows.
	Messages []string
	// Durations of the two releases.
	Promotion, Rollback time.Duration
}

const (
	namespace = "prod"
	name      = "podinfo"
)

// scenario holds the running parts.
type scenario struct {
	cfg             Config
	c               client.Client
	primary, canary *stack.Podinfo
	prom            *stack.Prometheus
	loadtester      *stack.Process
	loadtesterURL   string
	controller      *stack.Process
	log             *logTail
	users           *users
	procs           []*stack.Process
	res             Result
	lastPhase       flaggerv1.CanaryPhase
	lastSplit       [2]int
	progress        *progress
}

// Run plays the scenario and stops everything it started.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Interval == "" {
		cfg.Interval = "2s"
	}
	s := &scenario{cfg: cfg}
	defer s.stop()
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"connecting to the local cluster", s.connect},
		{"starting podinfo (primary and canary), Prometheus, the loadtester and the controller", s.startProcesses},
		{"applying the podinfo Deployment (3.1.0) and seed 003's Canary", s.apply},
		{"waiting for the Canary to initialise", s.initialise},
		{"waiting for Prometheus to have a rate of the canary's requests (two scrapes)", s.waitForRates},
		{"releasing podinfo 3.1.1", s.promote},
		{"releasing podinfo 3.1.2 and injecting HTTP 500s and 1 s delays", s.rollback},
	}
	for _, st := range steps {
		s.say("==> %s", st.what)
		if err := st.do(ctx); err != nil {
			return &s.res, fmt.Errorf("%s: %w", st.what, err)
		}
	}
	s.res.Messages = s.log.messages()
	return &s.res, nil
}

func (s *scenario) say(format string, args ...any) {
	if s.progress != nil {
		s.progress.clear()
	}
	fmt.Fprintf(s.cfg.Out, format+"\n", args...)
}

func scheme() *runtime.Scheme {
	sc := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(sc))
	utilruntime.Must(apiextensionsv1.AddToScheme(sc))
	utilruntime.Must(flaggerv1.AddToScheme(sc))
	utilruntime.Must(routers.AddToScheme(sc))
	return sc
}

func (s *scenario) connect(ctx context.Context) error {
	rc, err := clientcmd.BuildConfigFromFlags("", s.cfg.Kubeconfig)
	if err != nil {
		return err
	}
	if s.c, err = client.New(rc, client.Options{Scheme: scheme()}); err != nil {
		return err
	}
	if err := stack.InstallCRDs(ctx, s.c, filepath.Join(s.cfg.Root, "charts", "warbler", "crds")); err != nil {
		return err
	}
	if err := stack.InstallTrafficCRDs(ctx, s.c, s.cfg.Root, stack.GatewayAPI); err != nil {
		return err
	}
	return s.freshNamespace(ctx)
}

// freshNamespace (re)creates namespace prod.
func (s *scenario) freshNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := s.c.Delete(ctx, ns); err == nil {
		s.say("    (deleting the namespace %s left by an earlier run)", namespace)
	}
	return stack.Poll(ctx, 500*time.Millisecond, func() error {
		err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s is still terminating", namespace)
		}
		if err != nil {
			return err
		}
		return stack.Poll(ctx, 100*time.Millisecond, func() error {
			return s.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "default"}, &corev1.ServiceAccount{})
		})
	})
}

func (s *scenario) startProcesses(ctx context.Context) error {
	var err error
	if s.primary, err = stack.StartPodinfo(ctx, s.cfg.Root, s.cfg.Dir, "podinfo-primary"); err != nil {
		return err
	}
	s.procs = append(s.procs, s.primary.Process)
	if s.canary, err = stack.StartPodinfo(ctx, s.cfg.Root, s.cfg.Dir, "podinfo-canary"); err != nil {
		return err
	}
	s.procs = append(s.procs, s.canary.Process)
	// The processes pose as pods of the Deployments, labelled the way
	// Flagger's bundled Prometheus relabels pods.
	s.prom, err = stack.StartPrometheus(ctx, s.cfg.Root, s.cfg.Dir, time.Second,
		stack.ScrapeTarget{Address: hostPort(s.primary.URL), Labels: map[string]string{"kubernetes_namespace": namespace, "kubernetes_pod_name": "podinfo-primary-5d8f7b-x2x1q"}},
		stack.ScrapeTarget{Address: hostPort(s.canary.URL), Labels: map[string]string{"kubernetes_namespace": namespace, "kubernetes_pod_name": canaryPod}})
	if err != nil {
		return err
	}
	s.procs = append(s.procs, s.prom.Process)
	s.users = startUsers(ctx, s.primary.URL, s.canary.URL)
	if err := s.startLoadtester(ctx); err != nil {
		return err
	}
	return s.startController(ctx)
}

// canaryPod is the pod name the canary podinfo process poses as.
const canaryPod = "podinfo-7d9c5f-q8k2m"

// waitForRates waits until Prometheus can compute a rate of the canary's
// requests, which takes two scrapes. A cluster's Prometheus has that
// history long before a release; a Prometheus started seconds ago does
// not, and the first check of the release would find no values.
func (s *scenario) waitForRates(ctx context.Context) error {
	query := fmt.Sprintf(`rate(http_request_duration_seconds_count{kubernetes_namespace=%q,kubernetes_pod_name=%q}[1m])`, namespace, canaryPod)
	u := s.prom.URL + "/api/v1/query?query=" + url.QueryEscape(query)
	hc := &http.Client{Timeout: 5 * time.Second}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return stack.Poll(wctx, 500*time.Millisecond, func() error {
		resp, err := hc.Get(u)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return fmt.Errorf("prometheus answered %s: %w", resp.Status, err)
		}
		if len(body.Data.Result) == 0 {
			return fmt.Errorf("%s returns no series yet", query)
		}
		return nil
	})
}

func hostPort(url string) string { return strings.TrimPrefix(url, "http://") }

func (s *scenario) startLoadtester(ctx context.Context) error {
	port, err := stack.FreePort()
	if err != nil {
		return err
	}
	p, err := stack.Start("loadtester", filepath.Join(s.cfg.Dir, "loadtester.log"), s.cfg.Loadtester,
		"-bind-address", "127.0.0.1", "-port", strconv.Itoa(port), "-kubeconfig", s.cfg.Kubeconfig, "-namespace", namespace, "-log-level", "info")
	if err != nil {
		return err
	}
	s.procs = append(s.procs, p)
	s.loadtester = p
	s.loadtesterURL = fmt.Sprintf("http://127.0.0.1:%d", port)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return stack.WaitHTTP(wctx, s.loadtesterURL+"/healthz")
}

func (s *scenario) startController(ctx context.Context) error {
	port, err := stack.FreePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.cfg.Dir, "warbler.log")
	p, err := stack.Start("warbler", logPath, s.cfg.Warbler,
		"-kubeconfig", s.cfg.Kubeconfig, "-namespace", namespace, "-metrics-server", s.prom.URL,
		"-mesh-provider", "gatewayapi:v1", "-min-analysis-interval", "1s", "-route-acceptance-timeout", "2s",
		"-bind-address", "127.0.0.1", "-port", strconv.Itoa(port), "-log-level", "info")
	if err != nil {
		return err
	}
	s.procs = append(s.procs, p)
	s.controller = p
	s.log = tailLog(logPath, name+"."+namespace, func(msg string) { s.say("    | %s", msg) })
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return stack.WaitHTTP(wctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
}

func (s *scenario) stop() {
	if s.log != nil {
		s.log.stop()
	}
	if s.users != nil {
		s.users.stop()
	}
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].Stop()
	}
	if s.c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	}
}

// deployment is the podinfo Deployment of seed 003's HelmRelease.
func deployment(tag string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfod", Image: "stefanprodan/podinfo:" + tag,
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}}}}}},
		},
	}
}

// canary is seed 003's Canary, changed only where the local stack needs it.
func (s *scenario) canaryObject() *flaggerv1.Canary {
	canary := hostPort(s.canary.URL)
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Annotations: map[string]string{"fluxcd.io/ignore": "false"}},
		Spec: flaggerv1.CanarySpec{
			Provider:  "gatewayapi:v1",
			TargetRef: flaggerv1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   flaggerv1.CanaryService{Port: 9898, GatewayRefs: []flaggerv1.ParentReference{{Name: "public"}}},
			Analysis: &flaggerv1.CanaryAnalysis{
				Interval: s.cfg.Interval, MaxWeight: 100, StepWeight: 5, Threshold: 5,
				Metrics: []flaggerv1.CanaryMetric{
					{Name: "request-success-rate", Interval: "1m", ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(99.0)}},
					{Name: "request-duration", Interval: "1m", ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(500.0)}},
				},
				Webhooks: []flaggerv1.CanaryWebhook{
					{Name: "acceptance-test", Type: flaggerv1.PreRolloutHook, URL: s.loadtesterURL + "/", Timeout: "30s",
						Metadata: map[string]string{"type": "bash", "cmd": "curl -sd 'test' http://" + canary + "/token | grep token"}},
					{Name: "load-test", Type: flaggerv1.RolloutHook, URL: s.loadtesterURL + "/",
						Metadata: map[string]string{"cmd": "hey -z 2m -q 10 -c 2 http://" + canary + "/"}},
				},
			},
		},
	}
}

func (s *scenario) apply(ctx context.Context) error {
	c := s.canaryObject()
	s.say(`    seed 003's Canary, changed only where the local stack must differ:
      - provider gatewayapi:v1 instead of Linkerd: there is no Linkerd proxy here. The weights
        are written to an HTTPRoute (shown below), and the builtin checks read podinfo's own
        http_request_duration_seconds, scraped by a real Prometheus from real podinfo processes.
      - webhook and hey targets are 127.0.0.1 ports: loadtester %s, canary podinfo %s
        (primary podinfo %s); there is no cluster DNS.
      - analysis.interval %s instead of 10s, so the 20 steps of 5%% take under a minute, not four.
      - no kubelet: kwok plays the node, so pods are Ready without containers; the podinfo
        processes stand for the canary's and the primary's pods, and the demo sends them the
        kubelet's readiness probes (GET /readyz each second).
      - no gateway: simulated users send 20 requests/s straight to the two podinfo processes,
        split by the HTTPRoute's weights, as a gateway applying it would.`, s.loadtesterURL, s.canary.URL, s.primary.URL, c.Spec.Analysis.Interval)
	if out, err := json.MarshalIndent(c.Spec.Analysis.Webhooks, "      ", "  "); err == nil {
		s.say("      webhooks: %s", out)
	}
	if err := s.c.Create(ctx, deployment("3.1.0")); err != nil {
		return err
	}
	return s.c.Create(ctx, c)
}

func (s *scenario) initialise(ctx context.Context) error {
	_, err := s.watch(ctx, 3*time.Minute, func(c *flaggerv1.Canary) bool { return c.Status.Phase == flaggerv1.CanaryPhaseInitialized })
	return err
}

// setImage releases a podinfo version, as seed 003's HelmRelease change does.
func (s *scenario) setImage(ctx context.Context, tag string) error {
	var d appsv1.Deployment
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &d); err != nil {
		return err
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = "stefanprodan/podinfo:" + tag
	return s.c.Patch(ctx, &d, patch)
}

func (s *scenario) promote(ctx context.Context) error {
	if err := s.setImage(ctx, "3.1.1"); err != nil {
		return err
	}
	start := time.Now()
	started := false
	c, err := s.watch(ctx, 10*time.Minute, func(c *flaggerv1.Canary) bool {
		started = started || c.Status.Phase == flaggerv1.CanaryPhaseProgressing
		if c.Status.Phase == flaggerv1.CanaryPhaseProgressing && (len(s.res.Weights) == 0 || s.res.Weights[len(s.res.Weights)-1] != c.Status.CanaryWeight) {
			s.res.Weights = append(s.res.Weights, c.Status.CanaryWeight)
		}
		return started && (c.Status.Phase == flaggerv1.CanaryPhaseSucceeded || c.Status.Phase == flaggerv1.CanaryPhaseFailed)
	})
	if err != nil {
		return err
	}
	s.res.Promotion = time.Since(start)
	if c.Status.Phase != flaggerv1.CanaryPhaseSucceeded {
		return fmt.Errorf("podinfo 3.1.1 was not promoted: %s (%s)", c.Status.Phase, c.Status.Message)
	}
	var primary appsv1.Deployment
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name + "-primary"}, &primary); err != nil {
		return err
	}
	s.res.PromotedImage = primary.Spec.Template.Spec.Containers[0].Image
	s.say("    podinfo 3.1.1 promoted in %s: podinfo-primary runs %s", s.res.Promotion.Round(time.Second), s.res.PromotedImage)
	return nil
}

func (s *scenario) rollback(ctx context.Context) error {
	if err := s.setImage(ctx, "3.1.2"); err != nil {
		return err
	}
	start := time.Now()
	injected, started := false, false
	c, err := s.watch(ctx, 10*time.Minute, func(c *flaggerv1.Canary) bool {
		started = started || c.Status.Phase == flaggerv1.CanaryPhaseProgressing
		if !injected && c.Status.Phase == flaggerv1.CanaryPhaseProgressing && c.Status.CanaryWeight >= 10 {
			injected = true
			s.injectFaults(ctx)
		}
		return started && (c.Status.Phase == flaggerv1.CanaryPhaseFailed || c.Status.Phase == flaggerv1.CanaryPhaseSucceeded)
	})
	if err != nil {
		return err
	}
	s.res.Rollback = time.Since(start)
	s.res.Failed = c.Status
	if c.Status.Phase != flaggerv1.CanaryPhaseFailed {
		return fmt.Errorf("podinfo 3.1.2 was not rolled back: %s", c.Status.Phase)
	}
	var target, primary appsv1.Deployment
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &target); err != nil {
		return err
	}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name + "-primary"}, &primary); err != nil {
		return err
	}
	s.res.CanaryReplicasAfterRollback = ptr.Deref(target.Spec.Replicas, -1)
	s.res.PrimaryAfterRollback = primary.Spec.Template.Spec.Containers[0].Image
	return nil
}

// injectFaults runs seed 003's fault injection through the loadtester, as
// the seed does from a shell in the loadtester's pod.
func (s *scenario) injectFaults(ctx context.Context) {
	canary := "http://" + hostPort(s.canary.URL)
	for _, cmd := range []string{"hey -z 1m -c 5 -q 5 " + canary + "/status/500", "hey -z 1m -c 5 -q 5 " + canary + "/delay/1"} {
		s.say("    injecting faults: %s", cmd)
		if err := postTask(ctx, s.loadtesterURL, "fault-injection", cmd); err != nil {
			s.say("    fault injection failed: %v", err)
		}
	}
}
