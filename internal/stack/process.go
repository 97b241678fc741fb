package stack

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
	"sync"
	"syscall"
	"time"
)

// Process is a helper program running on 127.0.0.1.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	// Log is the file with its combined stdout and stderr.
	Log string

	once sync.Once
	file *os.File
}

// Start runs bin with args, its output in logPath. The child is killed if
// the calling process dies first.
func Start(name, logPath, bin string, args ...string) (*Process, error) {
	return startCmd(name, logPath, exec.Command(bin, args...))
}

// startCmd is Start for a command with its own environment.
func startCmd(name, logPath string, cmd *exec.Cmd) (*Process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return &Process{Name: name, Cmd: cmd, Log: logPath, file: f}, nil
}

// Stop ends the process (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (p *Process) Stop() {
	p.once.Do(func() {
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = p.Cmd.Process.Kill()
			<-done
		}
		p.file.Close()
	})
}

// Podinfo is a podinfo process serving on 127.0.0.1.
type Podinfo struct {
	*Process
	// URL of the HTTP API, such as http://127.0.0.1:40123.
	URL  string
	Port int
}

// StartPodinfo runs podinfo on a free port, its data and log in dir. Extra
// arguments are passed on.
func StartPodinfo(ctx context.Context, root, dir, name string, extra ...string) (*Podinfo, error) {
	bin, err := Binary(root, "podinfo")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name+"-data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--data-path", data, "--level", "warn"}, extra...)
	p, err := Start(name, filepath.Join(dir, name+".log"), bin, args...)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, url+"/readyz"); err != nil {
		p.Stop()
		return nil, fmt.Errorf("podinfo %s did not get ready: %w", name, err)
	}
	return &Podinfo{Process: p, URL: url, Port: port}, nil
}

// Prometheus is a Prometheus server on 127.0.0.1.
type Prometheus struct {
	*Process
	URL string
	// config is its configuration file; scrape its scrape interval.
	config string
	scrape time.Duration
}

// Rescrape replaces the scrape targets and reloads the configuration
// (SIGHUP); it returns once Prometheus serves the new one.
func (p *Prometheus) Rescrape(ctx context.Context, targets ...ScrapeTarget) error {
	cfg := PrometheusConfig(p.scrape, targets)
	if err := os.WriteFile(p.config, []byte(cfg), 0o644); err != nil {
		return err
	}
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("reloading prometheus: %w", err)
	}
	return Poll(ctx, 100*time.Millisecond, func() error {
		resp, err := http.Get(p.URL + "/api/v1/status/config")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		for _, t := range targets {
			if !strings.Contains(string(body), t.Address) {
				return fmt.Errorf("prometheus does not scrape %s yet", t.Address)
			}
		}
		return nil
	})
}

// ScrapeTarget is a static scrape target with labels, such as a podinfo
// process posing as a pod: {"kubernetes_namespace": "prod",
// "kubernetes_pod_name": "podinfo-7d9c-x2x1"}.
type ScrapeTarget struct {
	Address string
	Labels  map[string]string
}

// StartPrometheus runs Prometheus scraping the targets every scrape
// interval (1s when zero), its data and log in dir.
func StartPrometheus(ctx context.Context, root, dir string, scrape time.Duration, targets ...ScrapeTarget) (*Prometheus, error) {
	if scrape == 0 {
		scrape = time.Second
	}
	bin, err := Binary(root, "prometheus")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(PrometheusConfig(scrape, targets)), 0o644); err != nil {
		return nil, err
	}
	p, err := Start("prometheus", filepath.Join(dir, "prometheus.log"), bin,
		"--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "prometheus-data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--storage.tsdb.retention.time=1h", "--log.level=warn")
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := WaitHTTP(wctx, url+"/-/ready"); err != nil {
		p.Stop()
		return nil, fmt.Errorf("prometheus did not get ready: %w", err)
	}
	return &Prometheus{Process: p, URL: url, config: cfg, scrape: scrape}, nil
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
