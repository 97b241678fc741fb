package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePrometheus answers /api/v1/query with a recorded response and keeps
// the last request it received.
type fakePrometheus struct {
	status int
	body   []byte
	delay  time.Duration

	mu     sync.Mutex
	query  string
	header http.Header
	method string
	host   string
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	_ = r.ParseForm()
	f.mu.Lock()
	f.query, f.header, f.method, f.host = r.Form.Get("query"), r.Header.Clone(), r.Method, r.Host
	body := f.body
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	}
	if f.status == http.StatusServiceUnavailable {
		// What Prometheus answers while it is not ready.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte("Service Unavailable"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_, _ = w.Write(body)
}

func (f *fakePrometheus) answer(body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body = body
}

func (f *fakePrometheus) last() (query string, header http.Header, method, host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.query, f.header, f.method, f.host
}

func recorded(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "prometheus", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func startFake(t *testing.T, f *fakePrometheus) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPrometheusQueryResults(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		file      string
		want      float64
		wantClass string
		wantMsg   string
	}{
		{name: "a one-series vector gives its value", status: 200, file: "vector.json", want: 90.3470910538393, wantClass: "ok"},
		{name: "of several series the last one wins", status: 200, file: "vector_several.json", want: 123.9, wantClass: "ok"},
		{name: "a scalar gives its value", status: 200, file: "scalar.json", want: 42, wantClass: "ok"},
		{name: "an empty vector is no values", status: 200, file: "vector_empty.json", wantClass: "no values", wantMsg: "empty vector"},
		{name: "NaN is no values", status: 200, file: "vector_nan.json", wantClass: "no values", wantMsg: "NaN"},
		{name: "a NaN scalar is no values", status: 200, file: "scalar_nan.json", wantClass: "no values", wantMsg: "NaN"},
		{name: "a range result is an invalid query", status: 200, file: "matrix.json", wantClass: "invalid query", wantMsg: "query returned multiple values"},
		{name: "bad_data is an invalid query", status: 400, file: "bad_data.json", wantClass: "invalid query", wantMsg: "unclosed left parenthesis"},
		{name: "an execution error is a provider error", status: 422, file: "execution.json", wantClass: "provider error", wantMsg: "many-to-many"},
		{name: "503 is a provider error", status: 503, wantClass: "provider error", wantMsg: "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePrometheus{status: tt.status}
			if tt.file != "" {
				f.body = recorded(t, tt.file)
			}
			p, err := NewPrometheus(PrometheusConfig{Address: startFake(t, f)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Query(context.Background(), "sum(rate(x[1m]))")
			checkErr(t, err, tt.wantClass, tt.wantMsg)
			if err == nil && got != tt.want {
				t.Errorf("value = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPrometheusCollapsesWhitespace(t *testing.T) {
	f := &fakePrometheus{status: 200, body: recorded(t, "vector.json")}
	p, err := NewPrometheus(PrometheusConfig{Address: startFake(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Query(context.Background(), "sum(\n\t\trate(\n\t\t\tx{a=\"b\"}[1m]\n\t\t)\n\t)   * 100\n"); err != nil {
		t.Fatal(err)
	}
	if q, _, _, _ := f.last(); q != `sum( rate( x{a="b"}[1m] ) ) * 100` {
		t.Errorf("Prometheus received %q", q)
	}
}

func TestPrometheusSendsHeadersAndCredentials(t *testing.T) {
	tests := []struct {
		name     string
		cfg      PrometheusConfig
		wantAuth string
	}{
		{name: "bearer token", cfg: PrometheusConfig{Token: "s3cret"}, wantAuth: "Bearer s3cret"},
		{name: "basic auth", cfg: PrometheusConfig{Username: "warbler", Password: "pw"}, wantAuth: "Basic d2FyYmxlcjpwdw=="},
		{name: "token wins over basic auth", cfg: PrometheusConfig{Token: "t", Username: "u", Password: "p"}, wantAuth: "Bearer t"},
		{name: "no credentials", cfg: PrometheusConfig{}, wantAuth: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakePrometheus{status: 200, body: recorded(t, "vector.json")}
			tt.cfg.Address = startFake(t, f)
			tt.cfg.Header = http.Header{"X-Scope-Orgid": {"team-a"}, "Host": {"prometheus.example"}}
			p, err := NewPrometheus(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Query(context.Background(), "up"); err != nil {
				t.Fatal(err)
			}
			_, h, _, host := f.last()
			if got := h.Get("Authorization"); got != tt.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tt.wantAuth)
			}
			if got := h.Get("X-Scope-OrgID"); got != "team-a" {
				t.Errorf("X-Scope-OrgID = %q, want team-a", got)
			}
			if host != "prometheus.example" {
				t.Errorf("Host = %q, want prometheus.example", host)
			}
		})
	}
}

func TestPrometheusTimesOut(t *testing.T) {
	f := &fakePrometheus{status: 200, body: recorded(t, "vector.json"), delay: 10 * time.Second}
	p, err := NewPrometheus(PrometheusConfig{Address: startFake(t, f), Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Query(context.Background(), "up")
	checkErr(t, err, "provider error")
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") && !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("error %q does not say it timed out", err)
	}
}

func TestPrometheusHonoursCallerContext(t *testing.T) {
	f := &fakePrometheus{status: 200, body: recorded(t, "vector.json"), delay: 10 * time.Second}
	p, err := NewPrometheus(PrometheusConfig{Address: startFake(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := p.Query(ctx, "up"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled query returned %v, want context.Canceled", err)
	}
}

func TestPrometheusUnreachableIsProviderError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	p, err := NewPrometheus(PrometheusConfig{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Query(context.Background(), "up")
	checkErr(t, err, "provider error", addr)
	if ok, err := p.IsOnline(context.Background()); ok || err == nil {
		t.Errorf("IsOnline = %v, %v; want false and an error", ok, err)
	}
}

func TestPrometheusIsOnline(t *testing.T) {
	f := &fakePrometheus{status: 200, body: recorded(t, "vector_one.json")}
	p, err := NewPrometheus(PrometheusConfig{Address: startFake(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := p.IsOnline(context.Background())
	if !ok || err != nil {
		t.Fatalf("IsOnline = %v, %v; want true", ok, err)
	}
	if q, _, _, _ := f.last(); q != "vector(1)" {
		t.Errorf("online check ran %q, want vector(1)", q)
	}

	f.answer(recorded(t, "vector.json"))
	if ok, err := p.IsOnline(context.Background()); ok || err == nil || !strings.Contains(err.Error(), "want 1") {
		t.Errorf("vector(1) answering 90.3: IsOnline = %v, %v; want false and an error saying so", ok, err)
	}
}

func TestNewPrometheusRejectsBadAddress(t *testing.T) {
	for _, addr := range []string{"", "prometheus:9090", "ftp://prometheus", "http://"} {
		if _, err := NewPrometheus(PrometheusConfig{Address: addr}); err == nil || !strings.Contains(err.Error(), "http") {
			t.Errorf("address %q: err = %v, want an error asking for an http(s) URL", addr, err)
		}
	}
}
