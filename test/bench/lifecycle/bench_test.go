// Package lifecycle measures the controller at scale on the local stack:
// how long a fleet of canaries takes to initialise, what a steady fleet
// costs, and how long a release of every canary at once takes against its
// schedule; and where the time goes: tick lateness and queue waits in the
// controller, client-side throttling, pods getting Ready (kube-controller-
// manager, the scheduler, kwok), CPU per process. It prints a table and
// never fails on the numbers.
//
//	make bench                      # or:
//	go test -run '^$' -bench Lifecycle -benchtime 1x -timeout 90m ./test/bench/lifecycle
//
// WARBLER_BENCH_CANARIES lists the fleet sizes (default "500,2000");
// WARBLER_BENCH_PER_NAMESPACE spreads each fleet over namespaces of that many
// canaries (default: one namespace);
// WARBLER_BENCH_ARGS adds controller flags (e.g. "-kubeconfig-qps=50");
// WARBLER_BENCH_PPROF names a folder for CPU profiles of the controller
// (`go tool pprof -top` them): the first minute of init and of the release.
package lifecycle

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	env = testenv.New()
	os.Exit(env.Run(m))
}

const interval = 10 * time.Second

// steadyTicks is how many intervals the steady phase lasts.
const steadyTicks = 6

func sizes() []int {
	var out []int
	for _, f := range strings.Split(os.Getenv("WARBLER_BENCH_CANARIES"), ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return []int{500, 2000}
	}
	return out
}

func BenchmarkLifecycle(b *testing.B) {
	var results []result
	for _, n := range sizes() {
		b.Run(fmt.Sprintf("canaries=%d", n), func(b *testing.B) {
			for range b.N {
				results = append(results, runLifecycle(b, n))
			}
		})
	}
	if len(results) > 0 {
		fmt.Print(table(results))
	}
}

// result is one fleet size's figures.
type result struct {
	n, namespaces int
	schedule      schedule

	created, initialized time.Duration
	initEach             []time.Duration

	steady, release phase

	releaseEach                   []time.Duration
	rolloutEach, rolloutPerCanary []time.Duration
	peakRSS                       float64
	events                        eventTally
	missedPhases                  int // canaries with a phase of the release never seen
	missedExample                 string
	kcm                           string
}

// phase is what the controller did during the steady phase or the release.
type phase struct {
	took            time.Duration
	ticks           float64 // canary ticks in the phase
	lateness        histogram
	queueWait       histogram
	tickDuration    histogram
	throttle        float64 // seconds requests waited for the rate limiter
	apiLatency      histogram
	audit           apiCount
	clientRequests  float64
	failed          map[string]float64 // requests answered with another code than 2xx, by code
	cpu, rss        float64
	processesCPUSec map[string]float64
}

func runLifecycle(b *testing.B, n int) result {
	ctx := context.Background()
	l := spread(b, n)
	stackDir := filepath.Dir(env.Kubeconfig)
	res := result{n: n, namespaces: len(l.namespaces), schedule: simulate(b, l.canary(0))}
	ctl := startController(b, l)
	procs := stackProcesses(stackDir, ctl.pid)
	fl, err := watchFleet(ctx, l.namespaces...)
	if err != nil {
		b.Fatal(err)
	}

	b.Logf("creating %d Deployments and Canaries (interval %s, iterations 3, provider kubernetes)", n, interval)
	fl.expect(flaggerv1.CanaryPhaseInitialized)
	ctl.profile(b, fmt.Sprintf("init-%d", n))
	start := time.Now()
	parallel(n, func(i int) error {
		if err := createIfMissing(ctx, deployment(l.ns(i), name(i), "example.com/app:1")); err != nil {
			return err
		}
		return createIfMissing(ctx, l.canary(i))
	})
	res.created = time.Since(start)
	if err := fl.waitAll(n, 30*time.Minute); err != nil {
		b.Fatal(err)
	}
	res.initialized = time.Since(start)
	res.initEach = fl.phaseTimes(start)
	b.Logf("%d canaries Initialized %s after the first create", n, res.initialized.Round(time.Second))

	// steady: nothing changes for a few intervals
	res.steady = measure(b, ctl, procs, stackDir, func() time.Duration {
		time.Sleep(steadyTicks * interval)
		return steadyTicks * interval
	})
	res.steady.ticks = float64(n * steadyTicks)

	// release: every target changes image at once
	kcm0 := kcmMetrics(stackDir)
	fl.expect(flaggerv1.CanaryPhaseSucceeded)
	res.release = measure(b, ctl, procs, stackDir, func() time.Duration {
		ctl.profile(b, fmt.Sprintf("release-%d", n))
		start := time.Now()
		parallel(n, func(i int) error {
			patch := client.RawPatch("application/strategic-merge-patch+json",
				[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"example.com/app:2"}]}}}}`))
			return env.Client.Patch(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: l.ns(i), Name: name(i)}}, patch)
		})
		if err := fl.waitAll(n, 60*time.Minute); err != nil {
			b.Fatal(err)
		}
		res.releaseEach = fl.phaseTimes(start)
		return time.Since(start)
	})
	res.release.ticks = float64(n * res.schedule.ticks)
	res.rolloutEach, res.rolloutPerCanary = fl.rolloutWaits()
	names := make([]string, n)
	for i := range n {
		names[i] = name(i)
	}
	res.missedPhases, res.missedExample = fl.missedPhases(names, res.schedule.phases)
	res.kcm = kcmQueues(kcm0, kcmMetrics(stackDir))
	res.peakRSS = memMiB(ctl.pid, "VmHWM")

	want := map[string][]string{}
	for i := range n {
		want[name(i)] = res.schedule.expected(name(i), l.ns(i))
	}
	// events are written asynchronously by the events library
	time.Sleep(5 * time.Second)
	if res.events, err = tallyEvents(ctx, l.namespaces, want); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.release.took.Seconds(), "release-s")
	b.ReportMetric(res.release.took.Seconds()/res.schedule.duration.Seconds(), "release/schedule")
	b.ReportMetric(res.steady.lateness.quantile(0.99), "steady-lateness-p99-s")
	b.ReportMetric(res.steady.cpu, "steady-cpu-%")
	b.ReportMetric(res.peakRSS, "peak-rss-MiB")
	return res
}

func name(i int) string { return fmt.Sprintf("app-%04d", i) }

// measure runs a phase and records what the controller and the stack did
// meanwhile.
func measure(b *testing.B, ctl *controllerProc, procs processes, stackDir string, run func() time.Duration) phase {
	m0 := ctl.metrics(b)
	cpu0 := procs.cpu()
	from := time.Now()
	took := run()
	to := time.Now()
	m1 := ctl.metrics(b)
	var p phase
	p.took = took
	p.lateness = m1.histogram("warbler_tick_lateness_seconds", nil).minus(m0.histogram("warbler_tick_lateness_seconds", nil))
	p.queueWait = m1.histogram("warbler_workqueue_queue_duration_seconds", nil).minus(m0.histogram("warbler_workqueue_queue_duration_seconds", nil))
	p.tickDuration = m1.histogram("flagger_canary_duration_seconds", nil).minus(m0.histogram("flagger_canary_duration_seconds", nil))
	p.apiLatency = m1.histogram("rest_client_request_duration_seconds", nil).minus(m0.histogram("rest_client_request_duration_seconds", nil))
	p.throttle = m1.sum("rest_client_rate_limiter_duration_seconds_sum", nil) - m0.sum("rest_client_rate_limiter_duration_seconds_sum", nil)
	p.clientRequests = m1.sum("rest_client_requests_total", nil) - m0.sum("rest_client_requests_total", nil)
	p.failed = map[string]float64{}
	before := m0.byLabel("rest_client_requests_total", "code")
	for code, n := range m1.byLabel("rest_client_requests_total", "code") {
		if d := n - before[code]; d > 0 && !strings.HasPrefix(code, "2") {
			p.failed[code] = d
		}
	}
	cpu1 := procs.cpu()
	p.cpu = (cpu1["warbler"] - cpu0["warbler"]) / took.Seconds() * 100
	p.rss = memMiB(ctl.pid, "VmRSS")
	p.processesCPUSec = map[string]float64{}
	for k, v := range cpu1 {
		p.processesCPUSec[k] = v - cpu0[k]
	}
	var err error
	if p.audit, err = countAudit(filepath.Join(stackDir, "logs"), from, to); err != nil {
		b.Logf("counting the audit log: %v", err)
	}
	return p
}

// controllerProc is cmd/warbler running against the benchmark's namespace.
type controllerProc struct {
	pid       int
	metrics   func(testing.TB) scrape
	pprofAddr string
}

// profile saves CPU profiles of the next minute of the controller, the
// API server and kube-controller-manager to WARBLER_BENCH_PPROF, in the
// background.
func (c *controllerProc) profile(b *testing.B, name string) {
	dir := os.Getenv("WARBLER_BENCH_PPROF")
	if dir == "" {
		return
	}
	const path = "/debug/pprof/profile?seconds=60"
	type endpoint struct {
		client *http.Client
		url    string
	}
	targets := map[string]endpoint{"warbler": {&http.Client{Timeout: 2 * time.Minute}, "http://" + c.pprofAddr + path}}
	if port, cert, err := stackAccess(filepath.Dir(env.Kubeconfig)); err == nil {
		tc := tlsClient(cert)
		tc.Timeout = 2 * time.Minute
		targets["kube-apiserver"] = endpoint{tc, fmt.Sprintf("https://127.0.0.1:%d%s", port+2, path)}
		targets["kube-controller-manager"] = endpoint{tc, fmt.Sprintf("https://127.0.0.1:%d%s", port+3, path)}
	}
	for proc, t := range targets {
		go func() {
			resp, err := t.client.Get(t.url)
			if err != nil {
				b.Logf("profile of %s: %v", proc, err)
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(filepath.Join(dir, name+"-"+proc+".pprof"))
			if err != nil {
				b.Logf("profile of %s: %v", proc, err)
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		}()
	}
}

// startController builds and runs cmd/warbler for the fleet: its
// namespace, or the canaries labelled with the fleet's label.
func startController(b *testing.B, l layout) *controllerProc {
	bin := filepath.Join(env.Binaries(b, "./cmd/kubectl-canary", "./cmd/warbler"), "warbler")
	port, _ := testenv.FreePort()
	logf, err := os.Create(filepath.Join(b.TempDir(), "warbler.log"))
	if err != nil {
		b.Fatal(err)
	}
	pprofPort, _ := testenv.FreePort()
	pprofAddr := "127.0.0.1:" + strconv.Itoa(pprofPort)
	args := []string{"-kubeconfig", env.Kubeconfig, "-mesh-provider", "kubernetes",
		"-bind-address", "127.0.0.1", "-port", strconv.Itoa(port), "-log-level", "info", "-pprof-bind-address", pprofAddr}
	if len(l.namespaces) == 1 {
		args = append(args, "-namespace", l.namespaces[0])
	} else {
		args = append(args, "-watch-label-selector", fleetLabel+"="+l.label)
	}
	args = append(args, strings.Fields(os.Getenv("WARBLER_BENCH_ARGS"))...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	testenv.WaitHTTP(b, url, 30*time.Second)
	return &controllerProc{pid: cmd.Process.Pid, pprofAddr: pprofAddr, metrics: func(t testing.TB) scrape {
		s, err := getMetrics(plainHTTP, url)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

// stackAccess reads the port base of hack/stack.sh's stack and its admin
// certificate, which may read the components' /metrics and /debug/pprof.
func stackAccess(stackDir string) (int, tls.Certificate, error) {
	base, err := os.ReadFile(filepath.Join(stackDir, "port-base"))
	if err != nil {
		return 0, tls.Certificate{}, err
	}
	port, err := strconv.Atoi(strings.TrimSpace(string(base)))
	if err != nil {
		return 0, tls.Certificate{}, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(stackDir, "pki", "admin.crt"), filepath.Join(stackDir, "pki", "admin.key"))
	return port, cert, err
}

// kcmMetrics scrapes kube-controller-manager; nil when the stack is not
// hack/stack.sh's.
func kcmMetrics(stackDir string) scrape {
	port, cert, err := stackAccess(stackDir)
	if err != nil {
		return nil
	}
	s, err := getMetrics(tlsClient(cert), fmt.Sprintf("https://127.0.0.1:%d/metrics", port+3))
	if err != nil {
		return nil
	}
	return s
}

// kcmQueues summarises kube-controller-manager's work queues that a
// release goes through: items added, and p99 of the time one waited for a
// worker.
func kcmQueues(before, after scrape) string {
	if before == nil || after == nil {
		return "-"
	}
	var parts []string
	for _, q := range []string{"deployment", "replicaset", "endpoint_slice", "endpoint"} {
		m := map[string]string{"name": q}
		adds := after.sum("workqueue_adds_total", m) - before.sum("workqueue_adds_total", m)
		wait := after.histogram("workqueue_queue_duration_seconds", m).minus(before.histogram("workqueue_queue_duration_seconds", m))
		parts = append(parts, fmt.Sprintf("%s %d adds, wait p99 %s", q, int(adds), seconds(wait.quantile(0.99))))
	}
	return strings.Join(parts, "; ")
}

// layout places the fleet's canaries in namespaces, round robin.
type layout struct {
	namespaces []string
	label      string // the value of fleetLabel on every Canary
}

// fleetLabel marks the benchmark's Canaries; spread over namespaces, the
// controller watches the canaries that carry it (-watch-label-selector).
const fleetLabel = "warbler.dev/bench"

func (l layout) ns(i int) string { return l.namespaces[i%len(l.namespaces)] }

func (l layout) canary(i int) *flaggerv1.Canary {
	c := canary(l.ns(i), name(i))
	c.Labels = map[string]string{fleetLabel: l.label}
	return c
}

// spread creates the fleet's namespaces (WARBLER_BENCH_PER_NAMESPACE
// canaries each, else one) and deletes them, waiting until they are gone,
// when the benchmark ends: the next fleet size must not share the stack
// with namespaces being emptied.
func spread(b *testing.B, n int) layout {
	count := 1
	if per, err := strconv.Atoi(os.Getenv("WARBLER_BENCH_PER_NAMESPACE")); err == nil && per > 0 {
		count = (n + per - 1) / per
	}
	l := layout{label: fmt.Sprintf("%d-%04x", n, rand.IntN(1<<16))}
	ctx := context.Background()
	for k := range count {
		ns := fmt.Sprintf("lifecycle-%s-%d", l.label, k)
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
		l.namespaces = append(l.namespaces, ns)
	}
	b.Cleanup(func() {
		for _, ns := range l.namespaces {
			_ = env.Client.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
		defer cancel()
		_ = testenv.Poll(wctx, 2*time.Second, func() error {
			for _, ns := range l.namespaces {
				if err := env.Client.Get(wctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); !apierrors.IsNotFound(err) {
					return fmt.Errorf("namespace %s still exists", ns)
				}
			}
			return nil
		})
	})
	return l
}

func deployment(ns, name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}},
		},
	}
}

func canary(ns, name string) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: flaggerv1.CanarySpec{
			Provider:  "kubernetes",
			TargetRef: flaggerv1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   flaggerv1.CanaryService{Port: 8080},
			Analysis:  &flaggerv1.CanaryAnalysis{Interval: interval.String(), Threshold: 2, Iterations: 3},
		},
	}
}

func createIfMissing(ctx context.Context, o client.Object) error {
	if err := env.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// parallel runs f for 0..n-1 on 16 workers, retrying each a few times.
func parallel(n int, f func(i int) error) {
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				for attempt := 0; attempt < 5; attempt++ {
					if f(i) == nil {
						break
					}
					time.Sleep(time.Second)
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}
