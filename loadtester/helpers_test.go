package loadtester

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/internal/testenv"

	"github.com/warbler-dev/warbler/internal/logging"
	"github.com/warbler-dev/warbler/loadtester/gates"
)

// logBuffer collects JSON log lines; tasks log from their own goroutines.
type logBuffer struct {
	testenv.LogBuffer
}

// find returns the first line whose msg is msg.
func (b *logBuffer) find(msg string) map[string]any {
	for _, l := range b.Lines() {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

func (b *logBuffer) count(msg string) int {
	n := 0
	for _, l := range b.Lines() {
		if l["msg"] == msg {
			n++
		}
	}
	return n
}

// waitFor polls the log until msg appears.
func (b *logBuffer) waitFor(t *testing.T, msg string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l := b.find(msg); l != nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log line %q did not appear; log:\n%s", msg, b.String())
	return nil
}

func newLog() (*logBuffer, *slog.Logger) {
	b := &logBuffer{}
	return b, logging.New(b, slog.LevelDebug)
}

// fixture is a loadtester with the built-in tasks, in-memory gates and a
// log to read, whose runner stops with the test.
type fixture struct {
	log     *logBuffer
	tasks   *Tasks
	reg     *Registry
	results *Results
	gates   gates.Store
}

func newFixture(t *testing.T, adjust ...func(*Tasks)) *fixture {
	t.Helper()
	logs, logger := newLog()
	limiter := NewLimiter(4)
	runner := NewRunner(limiter, time.Minute, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = runner.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	tasks := &Tasks{Logger: logger, Exec: &Exec{}, Runner: runner, Limiter: limiter, Results: NewResults(), Timeout: time.Minute}
	for _, a := range adjust {
		a(tasks)
	}
	return &fixture{log: logs, tasks: tasks, reg: tasks.Registry(), results: tasks.Results, gates: gates.NewMemory()}
}

// run decodes a payload and runs its task, returning what the HTTP
// encoder would answer.
func (f *fixture) run(t *testing.T, payload string) (int, string) {
	t.Helper()
	task, err := DecodeTask([]byte(payload))
	if err != nil {
		return statusOf(err)
	}
	res, err := f.reg.Run(context.Background(), task)
	if err != nil {
		return statusOf(err)
	}
	return res.Status, res.Body
}

// serve runs a Server on 127.0.0.1 until the test ends and returns its
// base URL.
func serve(t *testing.T, o Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func call(t *testing.T, method, url, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func post(t *testing.T, url, body string, header ...string) (int, string) {
	t.Helper()
	return call(t, http.MethodPost, url, body, header...)
}
