// Package integration tests the loadtester against real parts: a control
// plane (internal/testenv), podinfo processes, the loadtester binary, and
// servers on 127.0.0.1. The unit tests of package loadtester need none of
// these, so its fuzz targets run without a cluster.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/internal/logging"
	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/loadtester"
	"github.com/warbler-dev/warbler/loadtester/gates"
	"github.com/warbler-dev/warbler/webhooks"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

// logBuffer collects the JSON log lines of an in-process loadtester.
type logBuffer struct {
	testenv.LogBuffer
}

// waitFor returns the first log line whose msg starts with prefix.
func (b *logBuffer) waitFor(t *testing.T, prefix string, timeout time.Duration) map[string]any {
	t.Helper()
	var found map[string]any
	testenv.Eventually(t, timeout, func() error {
		for line := range strings.Lines(b.String()) {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && strings.HasPrefix(fmt.Sprint(m["msg"]), prefix) {
				found = m
				return nil
			}
		}
		return fmt.Errorf("no log line starting with %q yet", prefix)
	})
	return found
}

// instance is an in-process loadtester serving on 127.0.0.1.
type instance struct {
	URL     string
	Log     *logBuffer
	Results *loadtester.Results
}

type instanceOptions struct {
	gates    gates.Store
	helm     bool
	lookPath func(string) (string, error)
}

func startInstance(t *testing.T, o instanceOptions) *instance {
	t.Helper()
	logs := &logBuffer{}
	log := logging.New(logs, slog.LevelDebug)
	limiter := loadtester.NewLimiter(8)
	runner := loadtester.NewRunner(limiter, 5*time.Minute, time.Second)
	results := loadtester.NewResults()
	tasks := &loadtester.Tasks{Logger: log, Exec: &loadtester.Exec{LookPath: o.lookPath, Env: []string{"KUBECONFIG=" + env.Kubeconfig}},
		Runner: runner, Limiter: limiter, Results: results, Timeout: 5 * time.Minute}
	if o.helm {
		h, err := loadtester.NewHelm(env.Config, log)
		if err != nil {
			t.Fatal(err)
		}
		tasks.Helm = h
	}
	if o.gates == nil {
		o.gates = gates.NewMemory()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := loadtester.NewServer(loadtester.Options{Tasks: tasks.Registry(), Gates: o.gates, Results: results, Logger: log, TaskTimeout: 5 * time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = runner.Start(ctx) })
	wg.Go(func() { _ = srv.Serve(ctx, ln) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("--- loadtester log ---\n%s", tail(logs.String(), 4000))
		}
	})
	return &instance{URL: "http://" + ln.Addr().String(), Log: logs, Results: results}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// post sends a webhook payload and returns the status and body.
func post(t *testing.T, url string, p webhooks.Payload) (int, string) {
	t.Helper()
	body, _ := json.Marshal(p)
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func task(name, namespace string, md ...string) webhooks.Payload {
	p := webhooks.Payload{Name: name, Namespace: namespace, Phase: "Progressing", Metadata: map[string]string{}}
	for i := 0; i+1 < len(md); i += 2 {
		p.Metadata[md[i]] = md[i+1]
	}
	return p
}

// requestsServed sums podinfo's http_requests_total over its status codes.
func requestsServed(t *testing.T, podinfoURL string) float64 {
	t.Helper()
	resp, err := http.Get(podinfoURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "http_requests_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		total += v
	}
	return total
}

// loadtesterBinary builds cmd/loadtester once per test binary.
func loadtesterBinary(t *testing.T) string {
	t.Helper()
	return filepath.Join(env.Binaries(t, "./cmd/loadtester"), "loadtester")
}

// process is a loadtester binary serving on 127.0.0.1.
type process struct {
	*testenv.Process
	URL string
}

func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"-port", strconv.Itoa(port)}, args...)
	p := testenv.StartProcess(t, name, loadtesterBinary(t), args...)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.WaitHTTP(t, url+"/healthz", 30*time.Second)
	return &process{Process: p, URL: url}
}

func (p *process) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
