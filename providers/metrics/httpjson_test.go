package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// jsonServer serves a fixed body and status at every path and keeps the
// headers and path of the last request.
type jsonServer struct {
	status int
	body   string

	mu     sync.Mutex
	header http.Header
	path   string
}

func (s *jsonServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.header, s.path = r.Header.Clone(), r.URL.EscapedPath()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

func (s *jsonServer) last() (http.Header, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header, s.path
}

func (s *jsonServer) start(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.URL
}

const sloDoc = `{
  "data": {"errorRate": 0.25, "latency": "120.5", "empty": null, "flag": true, "name": "slo",
           "items": [{"value": 3}, {"value": 4.5}]},
  "labels": {"app.kubernetes.io/name": 7},
  "series": [[1, 2], [3, 4]],
  "nan": "NaN"
}`

func TestLookupNumber(t *testing.T) {
	tests := []struct {
		path      string
		want      float64
		wantClass string
		wantMsg   string
	}{
		{path: ".data.errorRate", want: 0.25, wantClass: "ok"},
		{path: "data.errorRate", want: 0.25, wantClass: "ok"},
		{path: "data.items[1].value", want: 4.5, wantClass: "ok"},
		{path: ".series[1][0]", want: 3, wantClass: "ok"},
		{path: `.labels["app.kubernetes.io/name"]`, want: 7, wantClass: "ok"},
		{path: ".data.latency", want: 120.5, wantClass: "ok"},
		{path: ".data.missing", wantClass: "no values", wantMsg: `key "missing" not found at .data`},
		{path: ".data.items[5].value", wantClass: "no values", wantMsg: "index 5 not found at .data.items (2 elements)"},
		{path: ".data.empty", wantClass: "no values", wantMsg: "null"},
		{path: ".nan", wantClass: "no values", wantMsg: "NaN"},
		{path: ".data.flag", wantClass: "invalid query", wantMsg: "is a boolean, not a number"},
		{path: ".data.name", wantClass: "invalid query", wantMsg: `the string "slo", not a number`},
		{path: ".data", wantClass: "invalid query", wantMsg: "is an object"},
		{path: ".data.errorRate.x", wantClass: "invalid query", wantMsg: "goes into a number"},
		{path: ".data[0]", wantClass: "invalid query", wantMsg: "indexes an object"},
		{path: ".data.items.value", wantClass: "invalid query", wantMsg: "reads a key of an array"},
		{path: ".data..x", wantClass: "invalid query", wantMsg: "empty key"},
		{path: ".data.", wantClass: "invalid query", wantMsg: "ends with a dot"},
		{path: ".data.items[x]", wantClass: "invalid query", wantMsg: "not an array index"},
		{path: ".data.items[0", wantClass: "invalid query", wantMsg: "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := lookupNumber([]byte(sloDoc), tt.path)
			checkErr(t, err, tt.wantClass, tt.wantMsg)
			if err == nil && got != tt.want {
				t.Errorf("value %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLookupNumberWholeDocument(t *testing.T) {
	for _, path := range []string{"", "."} {
		if v, err := lookupNumber([]byte(" 42 "), path); err != nil || v != 42 {
			t.Errorf("path %q of 42: %v, %v", path, v, err)
		}
	}
}

func TestHTTPProviderQuery(t *testing.T) {
	s := &jsonServer{status: 200, body: sloDoc}
	addr := s.start(t)
	p, err := New(flaggerv1.MetricTemplateProvider{
		Type: TypeHTTP, Address: addr + "/slo/podinfo",
		Headers:   map[string][]string{"X-Team": {"checkout"}},
		SecretRef: &flaggerv1.LocalSecretReference{Name: "slo-api"},
	}, map[string][]byte{"token": []byte("abc\n"), "headers": []byte("X-Api-Key: k1\n\nX-Org: acme\n")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Query(context.Background(), ".data.items[0].value")
	if err != nil || v != 3 {
		t.Fatalf("Query = %v, %v; want 3", v, err)
	}
	h, path := s.last()
	if path != "/slo/podinfo" {
		t.Errorf("GET %s, want /slo/podinfo", path)
	}
	for k, want := range map[string]string{"Authorization": "Bearer abc", "X-Team": "checkout", "X-Api-Key": "k1", "X-Org": "acme"} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if ok, err := p.IsOnline(context.Background()); !ok || err != nil {
		t.Errorf("IsOnline = %v, %v", ok, err)
	}
}

func TestHTTPProviderErrors(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantClass string
		wantMsg   string
	}{
		{"a 5xx is a provider error", 502, `{"error":"upstream"}`, "provider error", "502 Bad Gateway"},
		{"a 404 is a provider error (a wrong address, not missing data)", 404, "not found", "provider error", "404"},
		{"a body that is not JSON is a provider error", 200, "<html>login</html>", "provider error", "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &jsonServer{status: tt.status, body: tt.body}
			p, err := New(flaggerv1.MetricTemplateProvider{Type: TypeHTTP, Address: s.start(t)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Query(context.Background(), ".error")
			checkErr(t, err, tt.wantClass, tt.wantMsg)
		})
	}
}
