package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/utils/ptr"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/chaos"
	"github.com/warbler-dev/warbler/internal/stack"
)

type fault struct {
	name string
	run  func(ctx context.Context, x *h) row
}

var faults = []fault{
	{"controller SIGKILL at random points", killController},
	{"leader failover (SIGKILL of the leader)", failover},
	{"API server restart mid-analysis", apiServerRestart},
	{"etcd stalled 30s (SIGSTOP/SIGCONT)", etcdStall},
	{"Prometheus down for one interval", prometheusDown},
	{"webhook receiver that never answers", hangingWebhook},
	{"loadtester restart with a gate open", loadtesterRestart},
}

// killController: 50 releases (25 good, 25 bad) in waves of 10, each
// started at a random point of an interval; the controller is SIGKILLed
// twice per wave at random points and started again at once.
func killController(ctx context.Context, x *h) row {
	s, err := x.setup(ctx, "kill", 25, 25, nil)
	if err != nil {
		return row{err: err}
	}
	defer s.close()
	// a release takes about 8 intervals: the kills land anywhere in it
	t, took, err := chaos.KillDuringReleases(ctx, s.run(), s.ctl, 10, 2, interval, 9*interval, x.rnd)
	return row{tally: t, slowest: took.Max(), postTwice: postTwice(s.hooks, s.names), err: err, note: "2 kills per wave of 10 releases, 10 kills in all"}
}

// failover: two replicas elect a leader; ten times, the leader is killed
// in the middle of an analysis and started again as the standby.
func failover(ctx context.Context, x *h) row {
	ns, err := x.namespace(ctx, "failover")
	if err != nil {
		return row{err: err}
	}
	elect := []string{"-enable-leader-election", "-leader-election-namespace", ns}
	var replicas [2]*chaos.Controller
	for i := range replicas {
		if replicas[i], err = x.controller(ctx, ns, fmt.Sprintf("replica-%d", i), elect...); err != nil {
			return row{err: err}
		}
		defer replicas[i].Stop()
	}
	hooks, err := chaos.StartHooks(nil)
	if err != nil {
		return row{err: err}
	}
	defer hooks.Close()
	// iterations long enough for the kill to land in the analysis
	f := &chaos.Fleet{Client: x.client, Namespace: ns,
		Analysis: flaggerv1.CanaryAnalysis{Interval: "3s", Threshold: 2, Iterations: 8, Webhooks: hooks.Webhooks("5s")}}
	names := chaos.Names("takeover", 10)
	if err := f.Create(ctx, names...); err != nil {
		return row{err: err}
	}
	if err := f.WaitPhase(ctx, 5*time.Minute, names, flaggerv1.CanaryPhaseInitialized); err != nil {
		return row{err: err}
	}
	var r row
	var took []time.Duration
	var slowest time.Duration
	for _, n := range names {
		res, err := chaos.Failover(ctx, chaos.Run{Fleet: f, Names: []string{n}, Succeeds: succeeds, Timeout: 5 * time.Minute},
			replicas, ns, "warbler-leader-election")
		if err != nil {
			return row{err: err, tally: r.tally}
		}
		took = append(took, res.Took)
		slowest = max(slowest, res.Release)
		r.tally.Releases += res.Releases
		r.tally.AsExpected += res.AsExpected
		r.tally.PromotedTwice += res.PromotedTwice
		r.tally.Wrong = append(r.tally.Wrong, res.Wrong...)
	}
	r.postTwice = postTwice(hooks, names)
	r.slowest = slowest
	r.note = fmt.Sprintf("takeover over %d runs: p50 %s, max %s (the flags' defaults)", len(took),
		percentile(took, 0.5).Round(100*time.Millisecond), percentile(took, 1).Round(100*time.Millisecond))
	return r
}

// apiServerRestart restarts kube-apiserver two intervals into the
// releases, with the same flags.
func apiServerRestart(ctx context.Context, x *h) row {
	s, err := x.setup(ctx, "apiserver", 5, 5, nil)
	if err != nil {
		return row{err: err}
	}
	defer s.close()
	var down time.Duration
	t, took, err := chaos.During(ctx, s.run(), 2*interval, func(ctx context.Context) error {
		start := time.Now()
		out, err := exec.CommandContext(ctx, filepath.Join(x.root, "hack", "stack.sh"), "restart", x.stackDir, "kube-apiserver").CombinedOutput()
		if err != nil {
			return fmt.Errorf("restart: %v: %s", err, out)
		}
		err = x.waitAPI(ctx)
		down = time.Since(start)
		return err
	})
	return row{tally: t, slowest: took.Max(), postTwice: postTwice(s.hooks, s.names), err: err,
		note: fmt.Sprintf("API server unavailable for %s", down.Round(100*time.Millisecond))}
}

// waitAPI waits until the API server answers again.
func (x *h) waitAPI(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return stack.Poll(ctx, 200*time.Millisecond, func() error {
		var ns flaggerv1.CanaryList
		return x.client.List(ctx, &ns)
	})
}

// pid reads a component's process id from the stack's pids file.
func (x *h) pid(name string) (int, error) {
	data, err := os.ReadFile(filepath.Join(x.stackDir, "pids"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no %s in %s/pids", name, x.stackDir)
}

// etcdStall stops etcd (SIGSTOP) for 30 s two intervals into the
// releases: the API server's requests hang, then everything resumes.
func etcdStall(ctx context.Context, x *h) row {
	s, err := x.setup(ctx, "etcd", 5, 5, nil)
	if err != nil {
		return row{err: err}
	}
	defer s.close()
	pid, err := x.pid("etcd")
	if err != nil {
		return row{err: err}
	}
	t, took, err := chaos.During(ctx, s.run(), 2*interval, func(context.Context) error {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			return err
		}
		time.Sleep(30 * time.Second)
		return syscall.Kill(pid, syscall.SIGCONT)
	})
	return row{tally: t, slowest: took.Max(), postTwice: postTwice(s.hooks, s.names), err: err, note: "etcd stopped for 30s"}
}

// prometheusDown: every canary checks a metric on a real Prometheus
// (vector(100) must be at least 99 for the good ones; vector(0) fails the
// bad ones), which is stopped for one analysis interval and started again
// on the same port and data. The failed check it causes stays below the
// threshold.
func prometheusDown(ctx context.Context, x *h) row {
	const every = 10 * time.Second
	bin, err := stack.Binary(x.root, "prometheus")
	if err != nil {
		return row{err: err}
	}
	dir := filepath.Join(x.dir, "prometheus")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return row{err: err}
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(stack.PrometheusConfig(time.Second, nil)), 0o644); err != nil {
		return row{err: err}
	}
	p := &server{name: "prometheus", bin: bin, dir: dir, ready: "/-/ready", args: func(port int) []string {
		return []string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
			fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--log.level=warn"}
	}}
	if err := p.start(ctx); err != nil {
		return row{err: err}
	}
	defer p.stop()
	s, err := x.setup(ctx, "prometheus", 5, 5, func(s *setup) {
		f := s.fleet
		f.Analysis.Interval, f.Analysis.Threshold = every.String(), 3
		f.Analysis.Webhooks = nil
		f.Setup = func(c *flaggerv1.Canary) {
			q := "vector(100)"
			if isBad(c.Name) {
				q = "vector(0)"
			}
			c.Spec.MetricsServer = p.url
			c.Spec.Analysis.Metrics = []flaggerv1.CanaryMetric{{Name: "availability", Query: q, Interval: "1m",
				ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(99.0)}, ErrorRetries: ptr.To(0)}}
		}
	})
	if err != nil {
		return row{err: err}
	}
	defer s.close()
	t, took, err := chaos.During(ctx, s.run(), 2*every, func(ctx context.Context) error {
		p.stop()
		time.Sleep(every)
		return p.start(ctx)
	})
	return row{tally: t, slowest: took.Max(), err: err,
		note: fmt.Sprintf("interval %s, threshold 3: the query error is one failed check, not a rollback", every)}
}

// server is a process on 127.0.0.1 that can be stopped and started again
// on the same port (and data); each start logs to a file of its own.
type server struct {
	name, bin, dir, url string
	ready               string // the path that answers 200 once it serves
	args                func(port int) []string
	port                int
	proc                *stack.Process
	starts              int
}

func (s *server) start(ctx context.Context) error {
	var err error
	if s.port == 0 {
		if s.port, err = stack.FreePort(); err != nil {
			return err
		}
		s.url = fmt.Sprintf("http://127.0.0.1:%d", s.port)
	}
	s.starts++
	s.proc, err = stack.Start(s.name, filepath.Join(s.dir, fmt.Sprintf("%s-%d.log", s.name, s.starts)), s.bin, s.args(s.port)...)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return stack.WaitHTTP(wctx, s.url+s.ready)
}

func (s *server) stop() {
	if s.proc != nil {
		s.proc.Stop()
		s.proc = nil
	}
}

// hangingWebhook: two canaries call a rollout webhook that never answers
// (5 s timeout); they roll back on failed checks. Eight others, with a
// working webhook, release meanwhile and must not wait for them.
func hangingWebhook(ctx context.Context, x *h) row {
	s, err := x.setup(ctx, "hang", 8, 2, func(s *setup) {
		s.fleet.Setup = func(c *flaggerv1.Canary) {
			if isBad(c.Name) {
				c.Spec.Analysis.Webhooks[0].URL = s.hooks.URL + "/hang"
			}
		}
	})
	if err != nil {
		return row{err: err}
	}
	defer s.close()
	t, took, err := chaos.During(ctx, s.run(), 0, func(context.Context) error { return nil })
	good := chaos.Names("good", 8)
	return row{tally: t, slowest: took.Max(), postTwice: postTwice(s.hooks, s.names), err: err,
		note: fmt.Sprintf("the 8 others' slowest release %s; hanging calls %d", took.Max(good...).Round(100*time.Millisecond),
			s.hooks.Calls("/hang", "bad-0", "")+s.hooks.Calls("/hang", "bad-1", ""))}
}

// loadtesterRestart: every canary waits at a confirm-promotion gate of a
// real loadtester, opened before the release; the loadtester is stopped
// and started again (same port) while the canaries analyse. Gates live in
// ConfigMaps, so they are still open and the releases promote.
func loadtesterRestart(ctx context.Context, x *h) row {
	ns, err := x.namespace(ctx, "loadtester")
	if err != nil {
		return row{err: err}
	}
	lt := &server{name: "loadtester", bin: x.loadtester, dir: x.dir, ready: "/healthz", args: func(port int) []string {
		return []string{"-kubeconfig", x.kubeconfig, "-namespace", ns, "-bind-address", "127.0.0.1", "-port", strconv.Itoa(port), "-shutdown-grace", "5s"}
	}}
	if err := lt.start(ctx); err != nil {
		return row{err: err}
	}
	defer lt.stop()
	s, err := x.setup(ctx, "gates", 6, 0, func(s *setup) {
		f := s.fleet
		f.Analysis.Webhooks = append(f.Analysis.Webhooks, flaggerv1.CanaryWebhook{Name: "approval",
			Type: flaggerv1.ConfirmPromotionHook, URL: lt.url + "/gate/check", Timeout: "5s"})
	})
	if err != nil {
		return row{err: err}
	}
	defer s.close()
	for _, n := range s.names {
		if err := openGate(lt.url, s.fleet.Namespace, n); err != nil {
			return row{err: err}
		}
	}
	t, took, err := chaos.During(ctx, s.run(), 3*interval, func(ctx context.Context) error {
		lt.stop()
		return lt.start(ctx)
	})
	return row{tally: t, slowest: took.Max(), postTwice: postTwice(s.hooks, s.names), err: err,
		note: "gates opened before the release, loadtester restarted during it"}
}

// openGate opens the confirm-promotion gate of a canary on a loadtester.
func openGate(url, ns, name string) error {
	body := fmt.Sprintf(`{"name":%q,"namespace":%q}`, name, ns)
	resp, err := http.Post(url+"/gate/open", "application/json", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("opening the gate of %s: %s", name, resp.Status)
	}
	return nil
}
