package load

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestValidateNamesTheField(t *testing.T) {
	good := Config{URL: "http://127.0.0.1:1/", Rate: 10, Duration: time.Second, Connections: 2, Timeout: time.Second}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"missing url", func(c *Config) { c.URL = "" }, "url is required"},
		{"scheme", func(c *Config) { c.URL = "ftp://x/" }, "scheme must be http or https"},
		{"no host", func(c *Config) { c.URL = "http:///path" }, "host is missing"},
		{"method", func(c *Config) { c.Method = "GE T" }, "method"},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "rate"},
		{"huge rate", func(c *Config) { c.Rate = 2e6 }, "rate"},
		{"duration", func(c *Config) { c.Duration = 0 }, "duration"},
		{"connections", func(c *Config) { c.Connections = 0 }, "connections"},
		{"too many connections", func(c *Config) { c.Connections = MaxConnections + 1 }, "connections"},
		{"timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
		{"nothing scheduled", func(c *Config) { c.Rate, c.Duration = 0.5, time.Second }, "schedules no request"},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	for _, c := range cases {
		cfg := good
		c.mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

// server answers on 127.0.0.1 with h and is closed when the test ends.
func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestRunSendsTheScheduleAndCountsCodes(t *testing.T) {
	var n atomic.Int64
	var got http.Header
	var gotHost, gotMethod, gotBody string
	var once sync.Once
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() {
			got, gotHost, gotMethod = r.Header.Clone(), r.Host, r.Method
			b, _ := io.ReadAll(r.Body)
			gotBody = string(b)
		})
		if n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	rep, err := Run(context.Background(), Config{
		URL: srv.URL + "/api", Method: "POST", Body: []byte(`{"a":1}`),
		Header: http.Header{"X-Test": {"yes"}, "Host": {"podinfo.prod"}},
		Rate:   200, Duration: 500 * time.Millisecond, Connections: 4, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scheduled != 100 || rep.Requests != 100 || rep.Dropped != 0 || n.Load() != 100 {
		t.Fatalf("scheduled %d, sent %d, dropped %d, server saw %d; want 100 sent", rep.Scheduled, rep.Requests, rep.Dropped, n.Load())
	}
	if rep.StatusCodes[200] != 90 || rep.StatusCodes[503] != 10 || rep.Errors != 10 || rep.ErrorRate() != 10 {
		t.Errorf("codes %v errors %d rate %v; want 90×200, 10×503 counted as errors", rep.StatusCodes, rep.Errors, rep.ErrorRate())
	}
	if got.Get("X-Test") != "yes" || gotHost != "podinfo.prod" || gotMethod != "POST" || gotBody != `{"a":1}` {
		t.Errorf("request: header %v host %q method %q body %q", got, gotHost, gotMethod, gotBody)
	}
	// the rate is requests over the schedule, or over the sending when the
	// generator ran late; never more than asked
	span := max(rep.Duration, rep.LastSent)
	if rep.Latency.Count() != 100 || rep.AchievedRate() > 200 || rep.AchievedRate() != 100/span.Seconds() {
		t.Errorf("latencies %d, achieved %v over %v", rep.Latency.Count(), rep.AchievedRate(), span)
	}
}

// With one connection and a 50 ms server, requests queue behind each other:
// their latency counts from when they were due, so it grows far beyond the
// server's 50 ms, which is what a user of the service would see.
func TestLatencyCountsFromTheDueTime(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { time.Sleep(50 * time.Millisecond) })
	rep, err := Run(context.Background(), Config{
		URL: srv.URL, Rate: 40, Duration: 500 * time.Millisecond, Connections: 1, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 20 || rep.Dropped != 0 {
		t.Fatalf("sent %d dropped %d, want 20 sent", rep.Requests, rep.Dropped)
	}
	if p99 := rep.Latency.Quantile(0.99); p99 < 400*time.Millisecond {
		t.Errorf("p99 = %v: the queueing behind one busy connection is not in the latency", p99)
	}
	if p50 := rep.Latency.Quantile(0.5); p50 < 150*time.Millisecond {
		t.Errorf("p50 = %v, want the queueing delay included", p50)
	}
	// one connection at 50 ms serves 20 req/s: the last requests went out
	// after the schedule's end, and the achieved rate says so
	if rep.LastSent < 800*time.Millisecond || rep.AchievedRate() > 25 {
		t.Errorf("last sent at %v, achieved %.1f req/s of 40; want about 20", rep.LastSent, rep.AchievedRate())
	}
}

// A hung server holds the only connection; the requests queued behind it
// get what is left of their timeout, counted from when they were due, and
// fail as timeouts, each recorded at the time it gave up.
func TestQueuedRequestsTimeOutFromTheirDueTime(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	rep, err := Run(context.Background(), Config{
		URL: srv.URL, Rate: 50, Duration: 400 * time.Millisecond, Connections: 1, Timeout: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scheduled != 20 || rep.Requests+rep.Dropped != rep.Scheduled {
		t.Fatalf("scheduled %d != sent %d + dropped %d", rep.Scheduled, rep.Requests, rep.Dropped)
	}
	if rep.TransportErrors["timeout (request deadline exceeded)"] != rep.Requests || rep.Errors != rep.Requests {
		t.Errorf("transport errors %v, errors %d of %d sent; want every sent request timed out", rep.TransportErrors, rep.Errors, rep.Requests)
	}
	if rep.Latency.Count() != rep.Requests || rep.Latency.Quantile(0.5) < 90*time.Millisecond {
		t.Errorf("latency count %d p50 %v, want timeouts recorded at about 100ms", rep.Latency.Count(), rep.Latency.Quantile(0.5))
	}
	if rep.FailureRate() != 100 {
		t.Errorf("failure rate %v, want 100", rep.FailureRate())
	}
}

// A request whose whole timeout passed before a connection was free (the
// generator was starved) is not sent but counted as dropped.
func TestARequestPastItsTimeoutIsDropped(t *testing.T) {
	var hits atomic.Int64
	srv := server(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	r, err := newRun(Config{URL: srv.URL, Rate: 1, Duration: time.Second, Connections: 1, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c := &conn{t: r.target}
	defer c.close()
	past := time.Now().Add(-time.Second)
	if o := r.send(context.Background(), c, past, past); !o.dropped {
		t.Fatalf("outcome %+v, want dropped", o)
	}
	now := time.Now()
	if o := r.send(context.Background(), c, now, now); o.dropped || o.code != 200 {
		t.Fatalf("outcome %+v, want a 200", o)
	}
	if hits.Load() != 1 {
		t.Fatalf("server saw %d requests, want 1", hits.Load())
	}
}

func TestCancelCountsTheRestAsDropped(t *testing.T) {
	srv := server(t, func(http.ResponseWriter, *http.Request) {})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	rep, err := Run(ctx, Config{URL: srv.URL, Rate: 100, Duration: 5 * time.Second, Connections: 2, Timeout: time.Second})
	if err != context.DeadlineExceeded {
		t.Fatalf("err = %v, want the context's", err)
	}
	if rep.Scheduled != 500 || rep.Requests+rep.Dropped != 500 || rep.Dropped < 400 {
		t.Fatalf("scheduled %d, sent %d, dropped %d", rep.Scheduled, rep.Requests, rep.Dropped)
	}
}

func TestConnectionRefusedIsATransportError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep, err := Run(context.Background(), Config{URL: "http://" + addr, Rate: 20, Duration: 250 * time.Millisecond, Connections: 1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 5 || len(rep.TransportErrors) != 1 || rep.Latency.Count() != 0 {
		t.Fatalf("errors %d, kinds %v, latencies %d", rep.Errors, rep.TransportErrors, rep.Latency.Count())
	}
	for msg := range rep.TransportErrors {
		if !strings.Contains(msg, "connection refused") || strings.Contains(msg, "http://") {
			t.Errorf("error kind %q, want the cause without the URL", msg)
		}
	}
	res := rep.Result("podinfo.prod")
	if res.StatusCodes["error"] != 5 || res.ErrorRate != 100 {
		t.Errorf("result codes %v error rate %v", res.StatusCodes, res.ErrorRate)
	}
}

func TestTLSIsVerifiedUnlessTurnedOff(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	cfg := Config{URL: srv.URL, Rate: 10, Duration: 200 * time.Millisecond, Connections: 1, Timeout: 2 * time.Second}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.StatusCodes[200] != 0 || rep.Errors != rep.Requests {
		t.Fatalf("a self-signed certificate was accepted: %v", rep.StatusCodes)
	}
	cfg.InsecureSkipVerify = true
	if rep, err = Run(context.Background(), cfg); err != nil || rep.StatusCodes[200] != rep.Requests {
		t.Fatalf("with InsecureSkipVerify: %v %v", rep.StatusCodes, err)
	}
}

func TestResultIsTheWireShape(t *testing.T) {
	rep := &Report{URL: "http://x/", Method: "GET", Duration: 2 * time.Second, TargetRate: 100, Scheduled: 200,
		Requests: 190, Errors: 19, Dropped: 10, StatusCodes: map[int]int64{200: 171, 500: 19}, TransportErrors: map[string]int64{}}
	for range 190 {
		rep.Latency.Record(1500 * time.Microsecond)
	}
	b, err := json.Marshal(rep.Result("podinfo.prod"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	want := map[string]any{"canary": "podinfo.prod", "generator": "load", "targetRate": 100.0, "achievedRate": 95.0,
		"requests": 190.0, "errors": 19.0, "dropped": 10.0, "errorRate": 10.0}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, m[k], v, b)
		}
	}
	lat := m["latencyMs"].(map[string]any)
	if lat["p99"] != 1.5 || lat["p999"] != 1.5 {
		t.Errorf("latencyMs = %v", lat)
	}
	if codes := m["statusCodes"].(map[string]any); codes["200"] != 171.0 || codes["500"] != 19.0 {
		t.Errorf("statusCodes = %v", codes)
	}
	var text strings.Builder
	if err := rep.WriteText(&text); err != nil || !strings.Contains(text.String(), "95.0 req/s (190 sent, 10 dropped)") {
		t.Errorf("text report:\n%s", text.String())
	}
}
