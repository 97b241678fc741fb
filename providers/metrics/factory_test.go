package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

func TestNewProviderTypes(t *testing.T) {
	ref := &flaggerv1.LocalSecretReference{Name: "prom-auth"}
	tests := []struct {
		name    string
		spec    flaggerv1.MetricTemplateProvider
		secret  map[string][]byte
		wantErr []string // empty: New succeeds
	}{
		{name: "prometheus", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://prometheus:9090"}},
		{name: "http", spec: flaggerv1.MetricTemplateProvider{Type: "http", Address: "https://slo.example/api"}},
		{name: "loadtest", spec: flaggerv1.MetricTemplateProvider{Type: "loadtest", Address: "http://flagger-loadtester.test/"}},
		{name: "a Flagger type Warbler does not run", spec: flaggerv1.MetricTemplateProvider{Type: "externalmetrics", Address: "https://api"},
			wantErr: []string{`provider type "externalmetrics" is a Flagger provider that Warbler does not run`, "supported types: cloudwatch, datadog, dynatrace, graphite, http, influxdb, keptn, loadtest, newrelic, prometheus, splunk, stackdriver"}},
		{name: "datadog names the missing key", spec: flaggerv1.MetricTemplateProvider{Type: "datadog", SecretRef: ref},
			secret: map[string][]byte{"datadog_api_key": []byte("k")}, wantErr: []string{`datadog provider: secret "prom-auth" has no key "datadog_application_key"`, `"datadog_api_key", "datadog_application_key"`}},
		{name: "datadog without secretRef", spec: flaggerv1.MetricTemplateProvider{Type: "datadog"},
			wantErr: []string{`datadog provider: spec.provider.secretRef is not set`, `"datadog_api_key", "datadog_application_key"`}},
		{name: "datadog with both keys, default address", spec: flaggerv1.MetricTemplateProvider{Type: "datadog", SecretRef: ref},
			secret: map[string][]byte{"datadog_api_key": []byte("k"), "datadog_application_key": []byte("a")}},
		{name: "influxdb without address", spec: flaggerv1.MetricTemplateProvider{Type: "influxdb"}, wantErr: []string{"influxdb provider: provider address is empty"}},
		{name: "keptn without a Kubernetes client", spec: flaggerv1.MetricTemplateProvider{Type: "keptn"}, wantErr: []string{"keptn provider: no Kubernetes client"}},
		{name: "cloudwatch without region", spec: flaggerv1.MetricTemplateProvider{Type: "cloudwatch"}, wantErr: []string{"cloudwatch provider: region not specified", "spec.provider.region"}},
		{name: "cloudwatch region from the address", spec: flaggerv1.MetricTemplateProvider{Type: "cloudwatch", Address: "https://monitoring.eu-west-1.amazonaws.com"}},
		{name: "an unknown type", spec: flaggerv1.MetricTemplateProvider{Type: "promethues"}, wantErr: []string{`unknown provider type "promethues"`}},
		{name: "no type", spec: flaggerv1.MetricTemplateProvider{}, wantErr: []string{"spec.provider.type"}},
		{name: "no address", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus"}, wantErr: []string{"address is empty"}},
		{name: "a secret with basic auth", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090", SecretRef: ref},
			secret: map[string][]byte{"username": []byte("u"), "password": []byte("p")}},
		{name: "a referenced secret with no data", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090", SecretRef: ref},
			wantErr: []string{`secret "prom-auth" is referenced but no data was given`}},
		{name: "a username without password", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090", SecretRef: ref},
			secret: map[string][]byte{"username": []byte("u")}, wantErr: []string{`secret "prom-auth"`, `only one of "username" and "password"`}},
		{name: "a secret with no known key", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090", SecretRef: ref},
			secret: map[string][]byte{"apiKey": []byte("x")}, wantErr: []string{`want "token", or "username" and "password"`}},
		{name: "headers in the secret are for the http provider only", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090", SecretRef: ref},
			secret: map[string][]byte{"headers": []byte("X-Key: 1")}, wantErr: []string{"none of the keys"}},
		{name: "an hmacKey is enough for loadtest", spec: flaggerv1.MetricTemplateProvider{Type: "loadtest", Address: "http://lt", SecretRef: ref},
			secret: map[string][]byte{"hmacKey": []byte("k")}},
		{name: "an hmacKey is not read by prometheus", spec: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://p:9090", SecretRef: ref},
			secret: map[string][]byte{"hmacKey": []byte("k")}, wantErr: []string{"none of the keys"}},
		{name: "a malformed header line", spec: flaggerv1.MetricTemplateProvider{Type: "http", Address: "http://slo", SecretRef: ref},
			secret: map[string][]byte{"headers": []byte("X-Key: 1\nnot a header")}, wantErr: []string{`"headers" line 2`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.spec, tt.secret)
			if len(tt.wantErr) == 0 {
				if err != nil || p == nil {
					t.Fatalf("New = %v, %v", p, err)
				}
				return
			}
			checkErr(t, err, "provider error", tt.wantErr...)
		})
	}
}

func TestNewPrometheusFromTemplateSendsSecretAndHeaders(t *testing.T) {
	f := &fakePrometheus{status: 200, body: recorded(t, "vector.json")}
	p, err := New(flaggerv1.MetricTemplateProvider{
		Type: "prometheus", Address: startFake(t, f),
		Headers:   map[string][]string{"X-Scope-OrgID": {"tenant-1"}},
		SecretRef: &flaggerv1.LocalSecretReference{Name: "prom-auth"},
	}, map[string][]byte{"token": []byte("from-secret"), "username": []byte("ignored"), "password": []byte("ignored")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Query(context.Background(), "up"); err != nil {
		t.Fatal(err)
	}
	_, h, _, _ := f.last()
	if h.Get("Authorization") != "Bearer from-secret" || h.Get("X-Scope-OrgID") != "tenant-1" {
		t.Errorf("headers sent: %v", h)
	}
}

func TestCacheReusesProviders(t *testing.T) {
	var c Cache
	spec := flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: "http://prometheus:9090",
		Headers: map[string][]string{"A": {"1"}, "B": {"2"}}}
	secret := map[string][]byte{"token": []byte("v1")}

	a, err := c.Get(spec, secret)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Get(spec, map[string][]byte{"token": []byte("v1")})
	if a != b {
		t.Error("the same template and secret gave a new provider")
	}
	rotated, _ := c.Get(spec, map[string][]byte{"token": []byte("v2")})
	if rotated == a {
		t.Error("a rotated secret reused the old provider")
	}
	other := spec
	other.Address = "http://thanos:9090"
	if p, _ := c.Get(other, secret); p == a {
		t.Error("another address reused the provider")
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
	if _, err := c.Get(flaggerv1.MetricTemplateProvider{Type: "datadog"}, nil); err == nil || c.Len() != 3 {
		t.Errorf("a bad spec: err %v, Len %d; want an error and nothing cached", err, c.Len())
	}
}

func TestCacheIsBounded(t *testing.T) {
	var c Cache
	first := flaggerv1.MetricTemplateProvider{Type: "http", Address: "http://slo-0/"}
	p0, _ := c.Get(first, nil)
	for i := 1; i <= maxCached+10; i++ {
		if _, err := c.Get(flaggerv1.MetricTemplateProvider{Type: "http", Address: fmt.Sprintf("http://slo-%d/", i)}, nil); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			_, _ = c.Get(first, nil) // keep the first one in use
		}
	}
	if c.Len() != maxCached {
		t.Errorf("Len = %d, want the bound %d", c.Len(), maxCached)
	}
	if p, _ := c.Get(first, nil); p != p0 {
		t.Error("the provider in use was evicted")
	}
}

func TestCredentialHeaderTrimsToken(t *testing.T) {
	h, err := credentialHeader(map[string][]byte{"token": []byte("abc\n")}, TypePrometheus)
	if err != nil || h.Get("Authorization") != "Bearer abc" {
		t.Errorf("credentialHeader = %v, %v", h, err)
	}
	h, err = credentialHeader(nil, TypeHTTP)
	if err != nil || len(h) != 0 {
		t.Errorf("no secret: %v, %v", h, err)
	}
}

func TestCachedProviderReusesItsConnection(t *testing.T) {
	f := &fakePrometheus{status: 200, body: recorded(t, "vector.json")}
	srv := httptest.NewUnstartedServer(f)
	var mu sync.Mutex
	conns := 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	var c Cache
	spec := flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: srv.URL}
	for range 10 {
		p, err := c.Get(spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Query(context.Background(), "up"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("10 queries through the cache opened %d connections, want 1", conns)
	}
}
