package metrics

import (
	"bufio"
	"context"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// docTemplates returns the MetricTemplates of the YAML blocks of
// docs/metrics.md.
func docTemplates(t *testing.T) []flaggerv1.MetricTemplate {
	f, err := os.Open("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []flaggerv1.MetricTemplate
	var block *strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "```yaml":
			block = &strings.Builder{}
		case line == "```" && block != nil:
			var mt flaggerv1.MetricTemplate
			if err := yaml.UnmarshalStrict([]byte(block.String()), &mt); err == nil && mt.Kind == "MetricTemplate" {
				out = append(out, mt)
			} else if strings.Contains(block.String(), "kind: MetricTemplate") {
				t.Errorf("a MetricTemplate example does not parse: %v\n%s", err, block)
			}
			block = nil
		case block != nil:
			block.WriteString(line + "\n")
		}
	}
	return out
}

// docBackend is a test server that answers an example's query with value,
// and the Secret the example's secretRef names.
type docBackend struct {
	address string
	secret  map[string][]byte
	deps    Deps
	value   float64
}

func docBackends(t *testing.T) map[string]func() docBackend {
	serve := func(h http.Handler) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	api := func(v *vendorAPI, a answer) string { v.next = a; return serve(v) }
	return map[string]func() docBackend{
		TypePrometheus: func() docBackend {
			return docBackend{address: serve(&fakePrometheus{status: 200, body: recorded(t, "vector_one.json")}),
				secret: map[string][]byte{"username": []byte("u"), "password": []byte("p")}, value: 1}
		},
		TypeDatadog: func() docBackend {
			return docBackend{address: api(datadogAPI(), answer{status: 200, body: `{"status":"ok","series":[{"metric":"m","pointlist":[[1773500400000,1.5]]}]}`}),
				secret: map[string][]byte{"datadog_api_key": []byte("api-key-1"), "datadog_application_key": []byte("app-key-1")}, value: 1.5}
		},
		TypeCloudWatch: func() docBackend {
			// no secretRef: the pod's environment holds the credentials
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDWARBLER")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			return docBackend{address: api(cloudWatchAPIIn("ap-northeast-1"), cborAnswer(200, cbor.Map{"MetricDataResults": cbor.List{cloudWatchResult("e1", 0.02)}})), value: 0.02}
		},
		TypeNewRelic: func() docBackend {
			return docBackend{address: api(newRelicAPI(), answer{status: 200, body: `{"results":[{"result":2.5}]}`}),
				secret: map[string][]byte{"newrelic_account_id": []byte("1234567"), "newrelic_query_key": []byte("NRIQ-key")}, value: 2.5}
		},
		TypeGraphite: func() docBackend {
			v := &vendorAPI{check: func(r *http.Request, _ []byte) *answer {
				if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" || r.URL.Path != "/render" || r.URL.Query().Get("format") != "json" {
					return &answer{status: 401}
				}
				return nil
			}}
			return docBackend{address: api(v, answer{status: 200, body: `[{"target":"x","datapoints":[[98.5,1773500900],[null,1773500960]]}]`}),
				secret: map[string][]byte{"username": []byte("u"), "password": []byte("p")}, value: 98.5}
		},
		TypeStackdriver: func() docBackend {
			key := serviceAccountKey(t, func(pub *rsa.PublicKey) string {
				return googleOAuth(t, pub, "warbler@shop-prod.iam.gserviceaccount.com").URL
			})
			return docBackend{address: api(monitoringAPI(), answer{status: 200, body: `{"timeSeriesData":[{"pointData":[{"values":[{"doubleValue":250}]}]}]}`}),
				secret: map[string][]byte{"project": []byte("shop-prod"), "serviceAccountKey": key}, value: 250}
		},
		TypeInfluxDB: func() docBackend {
			v := &vendorAPI{check: func(r *http.Request, body []byte) *answer {
				var req influxRequest
				if r.Method != http.MethodPost || r.URL.Path != "/api/v2/query" || r.URL.Query().Get("org") != "my-org" ||
					r.Header.Get("Authorization") != "Token t0k3n" || json.Unmarshal(body, &req) != nil || req.Type != "flux" || req.Query == "" {
					return &answer{status: 401, body: `{"code":"unauthorized","message":"unauthorized access"}`}
				}
				return nil
			}}
			csv := "#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,long\n#group,false,false,true,true,false\n#default,_result,,,,\n" +
				",result,table,_start,_stop,_value\n,,0,2026-03-14T15:08:26Z,2026-03-14T15:09:26Z,3\n"
			return docBackend{address: api(v, answer{status: 200, body: csv}),
				secret: map[string][]byte{"token": []byte("t0k3n"), "org": []byte("my-org")}, value: 3}
		},
		TypeDynatrace: func() docBackend {
			return docBackend{address: api(dynatraceAPI(), answer{status: 200, body: `{"result":[{"metricId":"m","data":[{"dimensions":[],"values":[420]}]}]}`}),
				secret: map[string][]byte{"dynatrace_token": []byte("dt0c01.token")}, value: 420}
		},
		TypeKeptn: func() docBackend {
			m := &unstructured.Unstructured{}
			m.SetGroupVersionKind(keptnMetricGVK)
			m.SetNamespace("my-namespace")
			m.SetName("response-time")
			_ = unstructured.SetNestedField(m.Object, "0.31", "status", "value")
			return docBackend{deps: Deps{Kube: fake.NewClientBuilder().WithObjects(m).Build()}, value: 0.31}
		},
		TypeSplunk: func() docBackend {
			s := &signalFlowAPI{script: []sfMessage{{values: []sfValue{{1, 99.9}}},
				{json: `{"type":"control-message","channel":"$CH","event":"END_OF_CHANNEL"}`}}}
			return docBackend{address: serve(s), secret: map[string][]byte{"sf_token_key": []byte("sf-token")}, value: 99.9}
		},
	}
}

// Every MetricTemplate example of docs/metrics.md parses and runs: its
// query renders and goes to a test server of its type, which checks the
// request as the vendor documents it.
func TestDocumentedTemplatesRun(t *testing.T) {
	backends := docBackends(t)
	seen := map[string]bool{}
	for _, mt := range docTemplates(t) {
		start, ok := backends[mt.Spec.Provider.Type]
		if !ok {
			continue
		}
		seen[mt.Spec.Provider.Type] = true
		t.Run(mt.Spec.Provider.Type+" "+mt.Name, func(t *testing.T) {
			b := start()
			spec := mt.Spec.Provider
			if b.address != "" {
				spec.Address = b.address
			}
			b.deps.Now = func() time.Time { return contractNow }
			p, err := NewWithDeps(spec, b.secret, b.deps)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			q, v, err := Evaluate(ctx, p, mt.Name, mt.Spec.Query, Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Interval: "1m",
				Variables: map[string]string{"code": "404"}}) // as the example canary sets them
			if err != nil || v != b.value {
				t.Errorf("%s: %v, %v; want %v\nquery: %s", mt.Name, v, err, b.value, q)
			}
		})
	}
	for typ := range backends {
		if !seen[typ] {
			t.Errorf("docs/metrics.md has no MetricTemplate example of type %s", typ)
		}
	}
}
