package heycmd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunCountsLikeHey(t *testing.T) {
	var hits atomic.Int64
	var body atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1)%4 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
		b := make([]byte, 16)
		n, _ := r.Body.Read(b)
		body.Store(string(b[:n]) + "|" + r.Header.Get("Authorization") + "|" + r.Host)
	}))
	defer srv.Close()
	c, err := parseLine(t, "hey -n 103 -c 4 -m PUT -d payload -a u:pw -host api.local "+srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// hey sends N/C per worker: 25 × 4 = 100, the remainder of 3 is not sent
	if s.Requests != 100 || hits.Load() != 100 {
		t.Fatalf("hey reported %d requests, server saw %d; want 100", s.Requests, hits.Load())
	}
	if s.StatusCodes[200] != 75 || s.StatusCodes[500] != 25 || s.ErrorCount() != 25 {
		t.Errorf("codes %v, errors %d", s.StatusCodes, s.ErrorCount())
	}
	if got := body.Load().(string); got != "payload|Basic dTpwdw==|api.local" {
		t.Errorf("request seen as %q", got)
	}
	if s.P50 <= 0 || s.P99 < s.P50 || s.Slowest < s.P99 || s.Fastest > s.P50 || s.Mean <= 0 {
		t.Errorf("latencies p50 %v p99 %v fastest %v slowest %v mean %v", s.P50, s.P99, s.Fastest, s.Slowest, s.Mean)
	}
	r := s.Result("podinfo.prod")
	if r.Generator != "hey" || r.Requests != 100 || r.Errors != 25 || r.ErrorRate != 25 || r.StatusCodes["500"] != 25 {
		t.Errorf("result %+v", r)
	}
}

func TestRunStopsAfterDurationAndOnCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	c, err := parseLine(t, "hey -z 300ms -c 2 -q 50 "+srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	// 2 workers at 50 req/s each for 300 ms: about 30, never near unlimited
	if s.Requests < 1 || s.Requests > 40 {
		t.Errorf("-z 300ms -c 2 -q 50 sent %d requests", s.Requests)
	}

	c, _ = parseLine(t, "hey -z 1h -c 3 "+srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		_, _ = Run(ctx, c)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a -z 1h run did not stop when its context ended")
	}
}

func TestRunWithNoResponseStillSummarises(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	url := srv.URL
	srv.Close()
	c, _ := parseLine(t, "hey -n 4 -c 2 "+url)
	s, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 4 || s.ErrorCount() != 4 || s.P99 != 0 {
		t.Fatalf("summary %+v", s)
	}
	for msg := range s.Errors {
		if !strings.Contains(msg, "connection refused") {
			t.Errorf("error %q", msg)
		}
	}
}

func TestBodyFile(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		got.Store(string(b[:n]))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(path, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := parseLine(t, "hey -n 1 -c 1 -d ignored -D "+path+" "+srv.URL)
	if _, err := Run(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got.Load() != `{"from":"file"}` {
		t.Errorf("body %v, want the file's (-D wins over -d, as in hey)", got.Load())
	}
	c, _ = parseLine(t, "hey -n 1 -c 1 -D /does/not/exist "+srv.URL)
	if _, err := Run(context.Background(), c); err == nil || !strings.Contains(err.Error(), "-D") {
		t.Errorf("missing body file: err = %v", err)
	}
}

func TestTopErrorsKeepsTheFrequentOnes(t *testing.T) {
	errs := map[string]int64{}
	for i := range 15 {
		errs[strings.Repeat("e", i+1)] = int64(i + 1)
	}
	top := topErrors(errs, 10)
	if len(top) != 11 || top["other"] != 1+2+3+4+5 || top[strings.Repeat("e", 15)] != 15 {
		t.Errorf("top = %v", top)
	}
}

// hey leaves out the percentiles a few requests do not reach; the summary
// then reports the slowest request there, not 0.
func TestFewRequestsStillHaveHighPercentiles(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c, err := parseLine(t, "hey -n 5 -c 1 "+srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if s.Requests != 5 || s.P90 <= 0 || s.P99 <= 0 || s.P90 > s.Slowest || s.P99 > s.Slowest || s.P50 > s.P90 {
		t.Errorf("5 requests: p50 %v p90 %v p99 %v slowest %v", s.P50, s.P90, s.P99, s.Slowest)
	}
}
