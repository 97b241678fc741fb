package testenv

import (
	"context"
	"fmt"
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
)

// Process is a helper program started by a test on 127.0.0.1.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	Log  string // path of the combined stdout/stderr

	once sync.Once
}

// Stop ends the process (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (p *Process) Stop() {
	p.once.Do(func() {
		if p.Cmd.Process == nil {
			return
		}
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-done
		}
	})
}

// StartProcess runs bin with args, logging to a file in the test's temp dir,
// and stops it when the test ends. The child is killed if the test binary
// dies first.
func StartProcess(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p := &Process{Name: name, Cmd: cmd, Log: logPath}
	t.Cleanup(func() {
		p.Stop()
		f.Close()
		if t.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				t.Logf("--- %s log (last 3000 bytes) ---\n%s", name, tail(out, 3000))
			}
		}
	})
	return p
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// StackBinary returns the path of a binary from the stack's cache (etcd,
// kwok, podinfo, prometheus, …), building or installing it if needed.
func StackBinary(t testing.TB, name string) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(root, "hack", "stack.sh"), "bin", name).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("hack/stack.sh bin %s: %v %s", name, err, msg)
	}
	return strings.TrimSpace(string(out))
}

// WaitHTTP waits until GET url answers 200.
func WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := Poll(ctx, 50*time.Millisecond, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", url, err)
	}
}

// Podinfo is a podinfo process serving on 127.0.0.1.
type Podinfo struct {
	*Process
	// URL of the HTTP API, such as http://127.0.0.1:40123.
	URL string
	// Port of the HTTP API.
	Port int
}

// StartPodinfo runs podinfo on a free port. Extra arguments are passed on
// (for example "--random-error").
func StartPodinfo(t testing.TB, name string, extra ...string) *Podinfo {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--data-path", t.TempDir(), "--level", "warn"}, extra...)
	p := StartProcess(t, name, StackBinary(t, "podinfo"), args...)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	WaitHTTP(t, url+"/readyz", 30*time.Second)
	return &Podinfo{Process: p, URL: url, Port: port}
}

// Prometheus is a Prometheus server on 127.0.0.1.
type Prometheus struct {
	*Process
	URL string
}

// ScrapeTarget is a static scrape target with labels, such as a podinfo
// process posing as a pod: {"kubernetes_namespace": "prod",
// "kubernetes_pod_name": "podinfo-7d9c-x2x1"}.
type ScrapeTarget struct {
	Address string
	Labels  map[string]string
}

// StartPrometheus runs Prometheus scraping the targets every scrape
// interval (1s when zero).
func StartPrometheus(t testing.TB, scrape time.Duration, targets ...ScrapeTarget) *Prometheus {
	t.Helper()
	if scrape == 0 {
		scrape = time.Second
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(PrometheusConfig(scrape, targets)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := StartProcess(t, "prometheus", StackBinary(t, "prometheus"),
		"--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--storage.tsdb.retention.time=1h",
		"--log.level=warn")
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	WaitHTTP(t, url+"/-/ready", 60*time.Second)
	return &Prometheus{Process: p, URL: url}
}

// PrometheusConfig renders a scrape configuration with one static job per
// target, so that each target carries its own labels.
func PrometheusConfig(scrape time.Duration, targets []ScrapeTarget) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\nscrape_configs:\n", scrape, scrape)
	for i, tg := range targets {
		fmt.Fprintf(&b, "- job_name: target-%d\n  static_configs:\n  - targets: [%q]\n", i, tg.Address)
		if len(tg.Labels) > 0 {
			b.WriteString("    labels:\n")
			for k, v := range tg.Labels {
				fmt.Fprintf(&b, "      %s: %q\n", k, v)
			}
		}
	}
	return b.String()
}
