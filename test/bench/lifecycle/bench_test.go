// Package lifecycle measures the controller at scale on the local stack:
// API requests per tick (from the API server's audit log), the time 500
// canaries take to promote when their targets change at once, and the
// controller's CPU and memory. It prints numbers; it never fails on them.
//
//	make bench                      # or:
//	go test -run '^$' -bench Lifecycle -benchtime 1x ./test/bench/lifecycle
//
// WARBLER_BENCH_CANARIES sets the number of canaries (default 500).
package lifecycle

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

const interval = 10 * time.Second

func canaryCount() int {
	if n, err := strconv.Atoi(os.Getenv("WARBLER_BENCH_CANARIES")); err == nil && n > 0 {
		return n
	}
	return 500
}

func BenchmarkLifecycle(b *testing.B) {
	for range b.N {
		runLifecycle(b)
	}
}

func runLifecycle(b *testing.B) {
	n := canaryCount()
	ns := env.Namespace(b)
	audit := filepath.Join(filepath.Dir(env.Kubeconfig), "logs", "audit.log")
	if _, err := os.Stat(audit); err != nil {
		b.Fatalf("no audit log at %s (the stack writes one): %v", audit, err)
	}
	proc := startController(b, ns)
	ctx := context.Background()

	b.Logf("creating %d Deployments and Canaries (interval %s, iterations 3, provider kubernetes)", n, interval)
	parallel(n, func(i int) error {
		name := fmt.Sprintf("app-%03d", i)
		if err := env.Client.Create(ctx, deployment(ns, name, "example.com/app:1")); err != nil {
			return err
		}
		return env.Client.Create(ctx, canary(ns, name))
	})
	initStart := time.Now()
	waitAll(b, ns, n, flaggerv1.CanaryPhaseInitialized, 20*time.Minute)
	b.Logf("%d canaries Initialized in %s", n, time.Since(initStart).Round(time.Second))

	// steady state: nothing changes for six intervals
	const steady = 6 * interval
	before, cpu0 := auditLines(b, audit), cpuSeconds(proc.Process.Pid)
	time.Sleep(steady)
	steadyReqs := countWarbler(b, audit, before)
	steadyCPU := cpuSeconds(proc.Process.Pid) - cpu0
	steadyRSS := memMiB(proc.Process.Pid, "VmRSS")
	steadyTicks := float64(n) * float64(steady/interval)

	// release: every target changes image at once
	before, cpu0 = auditLines(b, audit), cpuSeconds(proc.Process.Pid)
	start := time.Now()
	parallel(n, func(i int) error {
		patch := client.RawPatch("application/strategic-merge-patch+json",
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"example.com/app:2"}]}}}}`))
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%03d", i)}}
		return env.Client.Patch(ctx, d, patch)
	})
	waitAll(b, ns, n, flaggerv1.CanaryPhaseSucceeded, 30*time.Minute)
	took := time.Since(start)
	releaseReqs := countWarbler(b, audit, before)
	releaseCPU := cpuSeconds(proc.Process.Pid) - cpu0
	peak := memMiB(proc.Process.Pid, "VmHWM")
	// the schedule: scale-up, 3 iterations, the extra tick past them,
	// promote, finalise, succeed: 8 ticks of the interval
	schedule := 8 * interval
	releaseTicks := float64(n) * 8

	b.ReportMetric(float64(steadyReqs)/steadyTicks, "api-req/steady-tick")
	b.ReportMetric(steadyCPU/steady.Seconds()*100, "steady-cpu-%")
	b.ReportMetric(steadyRSS, "steady-rss-MiB")
	b.ReportMetric(float64(releaseReqs)/releaseTicks, "api-req/release-tick")
	b.ReportMetric(took.Seconds(), "release-s")
	b.ReportMetric(took.Seconds()/schedule.Seconds(), "release/schedule")
	b.ReportMetric(releaseCPU, "release-cpu-s")
	b.ReportMetric(peak, "peak-rss-MiB")
	fmt.Printf(`
lifecycle benchmark: %d canaries, interval %s, iterations 3, provider kubernetes
  steady (%s, %d canary ticks): %d API requests = %.3f per tick; CPU %.1f%% of a core; RSS %.0f MiB
  release: all Succeeded in %s (schedule %s, ratio %.2f); %d API requests = %.2f per tick; CPU %.1f s; peak RSS %.0f MiB
  Flagger 1.44 on the same kind of setup: ~14 requests per tick; 450 s; 52 CPU-s; 142 MB peak; steady 11%% of a core, 99 MB
`, n, interval, steady, int(steadyTicks), steadyReqs, float64(steadyReqs)/steadyTicks, steadyCPU/steady.Seconds()*100, steadyRSS,
		took.Round(time.Second), schedule, took.Seconds()/schedule.Seconds(), releaseReqs, float64(releaseReqs)/releaseTicks, releaseCPU, peak)
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

// startController builds and runs cmd/warbler against the namespace.
func startController(b *testing.B, ns string) *exec.Cmd {
	bin := filepath.Join(testenv.Build(b, "./cmd/warbler"), "warbler")
	port, _ := testenv.FreePort()
	logf, err := os.Create(filepath.Join(b.TempDir(), "warbler.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-kubeconfig", env.Kubeconfig, "-namespace", ns, "-mesh-provider", "kubernetes",
		"-bind-address", "127.0.0.1", "-port", strconv.Itoa(port), "-log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); logf.Close() })
	testenv.WaitHTTP(b, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), 30*time.Second)
	return cmd
}

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

func waitAll(b *testing.B, ns string, n int, phase flaggerv1.CanaryPhase, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := testenv.Poll(ctx, 2*time.Second, func() error {
		var list flaggerv1.CanaryList
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		done := 0
		for _, c := range list.Items {
			if c.Status.Phase == phase {
				done++
			}
		}
		if done < n {
			return fmt.Errorf("%d of %d canaries %s", done, n, phase)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// auditLines is the number of lines in the audit log so far.
func auditLines(b *testing.B, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}

// countWarbler counts the audit events after line skip that the
// controller sent (its User-Agent starts with "warbler/").
func countWarbler(b *testing.B, path string, skip int) int {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n, line := 0, 0
	for sc.Scan() {
		line++
		if line <= skip {
			continue
		}
		var ev struct {
			UserAgent string `json:"userAgent"`
			Stage     string `json:"stage"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && strings.HasPrefix(ev.UserAgent, "warbler/") && ev.Stage == "ResponseComplete" {
			n++
		}
	}
	return n
}

// cpuSeconds is user+system CPU time of a process.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// memMiB reads a field of /proc/<pid>/status (VmRSS, VmHWM) in MiB.
func memMiB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			return kb / 1024
		}
	}
	return 0
}
