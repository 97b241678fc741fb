package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/webhooks"
)

// fakeLoadtester serves GET /results/{namespace}/{name} from a map keyed
// "name.namespace", 404 for the others, and /healthz.
func fakeLoadtester(t *testing.T, results map[string]webhooks.LoadResult, seen *http.Header) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /results/{namespace}/{name}", func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			*seen = r.Header.Clone()
		}
		res, ok := results[r.PathValue("name")+"."+r.PathValue("namespace")]
		if !ok {
			http.Error(w, "no results", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

var podinfoLoad = webhooks.LoadResult{
	Canary: "podinfo.prod", URL: "http://podinfo-canary.prod/", Method: "GET",
	Started: time.Unix(1795321000, 0), Finished: time.Unix(1795321060, 0),
	TargetRate: 50, AchievedRate: 48, Requests: 2880, Errors: 36, Dropped: 120, ErrorRate: 1.25,
	StatusCodes: map[string]int64{"200": 2844, "503": 36},
	LatencyMs:   webhooks.Latency{P50: 12.5, P90: 40, P99: 180.25, P999: 420, Max: 650, Mean: 21.75},
}

func newLoadtest(t *testing.T, addr string, secret map[string][]byte) Provider {
	t.Helper()
	spec := flaggerv1.MetricTemplateProvider{Type: TypeLoadtest, Address: addr}
	if secret != nil {
		spec.SecretRef = &flaggerv1.LocalSecretReference{Name: "loadtester-token"}
	}
	p, err := New(spec, secret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadtestFields(t *testing.T) {
	var seen http.Header
	addr := fakeLoadtester(t, map[string]webhooks.LoadResult{"podinfo.prod": podinfoLoad}, &seen)
	// A base URL with a trailing slash, as in Flagger examples.
	p := newLoadtest(t, addr+"/", map[string][]byte{"token": []byte("lt-token")})
	m := Model{Name: "podinfo", Namespace: "prod", Target: "podinfo"}
	want := map[string]float64{
		"p50": 12.5, "p90": 40, "p99": 180.25, "p999": 420, "max": 650, "mean": 21.75,
		"errorRate": 1.25, "achievedRate": 48, "targetRate": 50,
		"requests": 2880, "errors": 36, "dropped": 120, "achievedRatio": 96,
	}
	if len(want) != len(LoadtestFields()) {
		t.Fatalf("test covers %d fields, the provider has %v", len(want), LoadtestFields())
	}
	for field, w := range want {
		q, v, err := Evaluate(context.Background(), p, "load", "  "+field+"\n", m)
		if err != nil || v != w || q != field {
			t.Errorf("field %s: Evaluate = %q, %v, %v; want %v", field, q, v, err, w)
		}
	}
	if got := seen.Get("Authorization"); got != "Bearer lt-token" {
		t.Errorf("Authorization = %q, want the Secret's token", got)
	}
}

func TestLoadtestQueryNamesTheCanary(t *testing.T) {
	addr := fakeLoadtester(t, map[string]webhooks.LoadResult{"podinfo.prod": podinfoLoad}, nil)
	p := newLoadtest(t, addr, nil)

	if v, err := p.Query(context.Background(), "prod/podinfo/p99"); err != nil || v != 180.25 {
		t.Errorf("Query(prod/podinfo/p99) = %v, %v; want 180.25", v, err)
	}
	// A qualified query run through Evaluate reads the canary it names.
	_, v, err := Evaluate(context.Background(), p, "load", "{{ namespace }}/podinfo/errors", Model{Name: "other", Namespace: "prod"})
	if err != nil || v != 36 {
		t.Errorf("Evaluate of a qualified query = %v, %v; want 36", v, err)
	}
	_, err = p.Query(context.Background(), "p99")
	checkErr(t, err, "invalid query", "names no canary", "<namespace>/<name>/<field>")
}

func TestLoadtestNoValuesAndInvalid(t *testing.T) {
	idle := podinfoLoad
	idle.Requests, idle.Errors, idle.ErrorRate, idle.AchievedRate, idle.TargetRate = 0, 0, 0, 0, 0
	idle.LatencyMs = webhooks.Latency{}
	hey := podinfoLoad
	hey.Generator = "hey"
	addr := fakeLoadtester(t, map[string]webhooks.LoadResult{"idle.prod": idle, "hey.prod": hey}, nil)
	p := newLoadtest(t, addr, nil)
	tests := []struct {
		name, canary, query string
		wantClass, wantMsg  string
	}{
		{"no result yet (404) is no values", "podinfo", "p99", "no values", "no load result for podinfo.prod yet"},
		{"a latency of a load that sent nothing is no values", "idle", "p99", "no values", "sent no requests"},
		{"an error rate of a load that sent nothing is no values", "idle", "errorRate", "no values", "sent no requests"},
		{"achievedRatio without a target rate is no values", "idle", "achievedRatio", "no values", "no target rate"},
		{"p999 of a hey run is no values", "hey", "p999", "no values", "hey run, which does not measure p99.9"},
		{"p99 of a hey run is a value", "hey", "p99", "ok", ""},
		{"the request count of an idle load is 0, a value", "idle", "requests", "ok", ""},
		{"an unknown field is invalid and lists the valid ones", "idle", "p95", "invalid query",
			"achievedRate, achievedRatio, dropped, errorRate, errors, max, mean, p50, p90, p99, p999, requests, targetRate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Evaluate(context.Background(), p, "load", tt.query, Model{Name: tt.canary, Namespace: "prod"})
			checkErr(t, err, tt.wantClass, tt.wantMsg)
		})
	}
}

func TestLoadtestServerErrorsAndOnline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	p := newLoadtest(t, srv.URL, nil)
	_, _, err := Evaluate(context.Background(), p, "load", "p99", Model{Name: "podinfo", Namespace: "prod"})
	checkErr(t, err, "provider error", "401")
	if ok, err := p.IsOnline(context.Background()); ok || err == nil {
		t.Errorf("IsOnline on a 401 server = %v, %v; want false", ok, err)
	}

	up := newLoadtest(t, fakeLoadtester(t, nil, nil), nil)
	if ok, err := up.IsOnline(context.Background()); !ok || err != nil {
		t.Errorf("IsOnline = %v, %v; want true", ok, err)
	}
}

func TestLoadtestSignsRequestsWithTheHMACKey(t *testing.T) {
	var seen http.Header
	addr := fakeLoadtester(t, map[string]webhooks.LoadResult{"podinfo.prod": podinfoLoad}, &seen)
	p := newLoadtest(t, addr, map[string][]byte{"hmacKey": []byte("k3y")})
	if _, v, err := Evaluate(context.Background(), p, "load", "p99", Model{Name: "podinfo", Namespace: "prod"}); err != nil || v != 180.25 {
		t.Fatalf("Evaluate = %v, %v", v, err)
	}
	if err := webhooks.Verify(seen.Get(webhooks.SignatureHeader), []byte("k3y"), "/results/prod/podinfo", nil, time.Now(), time.Minute); err != nil {
		t.Errorf("the loadtester cannot verify the request: %v", err)
	}
	if seen.Get("Authorization") != "" {
		t.Errorf("Authorization %q sent with an hmacKey-only secret", seen.Get("Authorization"))
	}
}
