package metrics

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// googleOAuth is Google's OAuth 2.0 token endpoint for service accounts
// (RFC 7523 JWT bearer grant): it verifies the signed assertion with the
// account's public key and hands out an access token.
func googleOAuth(t *testing.T, pub *rsa.PublicKey, email string) *httptest.Server {
	srv := httptest.NewServer(nil)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(msg string) {
			t.Errorf("token request: %s", msg)
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":"invalid_grant","error_description":%q}`, msg)
		}
		if r.Method != http.MethodPost || r.URL.Path != "/token" || r.ParseForm() != nil {
			fail("not a form POST to /token")
			return
		}
		if g := r.PostForm.Get("grant_type"); g != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			fail("grant_type " + g)
			return
		}
		parts := strings.Split(r.PostForm.Get("assertion"), ".")
		if len(parts) != 3 {
			fail("the assertion is not a JWT")
			return
		}
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			fail("bad signature: " + err.Error())
			return
		}
		var claims struct{ Iss, Scope, Aud string }
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(payload, &claims)
		if claims.Iss != email || claims.Scope != stackdriverScope || claims.Aud != srv.URL+"/token" {
			fail(fmt.Sprintf("claims %+v", claims))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"ya29.test-token","token_type":"Bearer","expires_in":3599}`)
	})
	t.Cleanup(srv.Close)
	return srv
}

// serviceAccountKey returns a service account key file whose token_uri is
// the token server, and the key's public half.
func serviceAccountKey(t *testing.T, tokenServer func(*rsa.PublicKey) string) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	uri := tokenServer(&key.PublicKey)
	b, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "shop-prod", "private_key_id": "k1",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": "warbler@shop-prod.iam.gserviceaccount.com", "client_id": "1", "token_uri": uri + "/token",
	})
	return b
}

// monitoringAPI implements Cloud Monitoring's projects.timeSeries.query
// (POST /v3/projects/{name}/timeSeries:query, body {"query": MQL}) and the
// Prometheus-compatible query API
// (/v1/projects/{project}/location/global/prometheus/api/v1/query), both
// authorized by the OAuth access token; errors in Google's error body.
func monitoringAPI() *vendorAPI {
	return &vendorAPI{
		headers: []string{"Authorization", "Content-Type"},
		check: func(r *http.Request, body []byte) *answer {
			if r.Header.Get("Authorization") != "Bearer ya29.test-token" {
				return &answer{status: 401, body: `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`}
			}
			switch {
			case r.Method == http.MethodPost && r.URL.Path == "/v3/projects/shop-prod/timeSeries:query":
				var req struct{ Query string }
				if json.Unmarshal(body, &req) != nil || r.Header.Get("Content-Type") != "application/json" {
					return &answer{status: 400, body: `{"error":{"code":400,"message":"Invalid JSON payload received.","status":"INVALID_ARGUMENT"}}`}
				}
				if req.Query == "" {
					return &answer{status: 400, body: `{"error":{"code":400,"message":"Field query had an invalid value: query is empty.","status":"INVALID_ARGUMENT"}}`}
				}
			case r.Method == http.MethodGet && r.URL.Path == "/v1/projects/shop-prod/location/global/prometheus/api/v1/query":
				if r.URL.Query().Get("query") == "" {
					return &answer{status: 400, body: `{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\""}`}
				}
			default:
				return &answer{status: 404, body: `{"error":{"code":404,"message":"Not found","status":"NOT_FOUND"}}`}
			}
			return nil
		},
	}
}

func TestStackdriverContract(t *testing.T) {
	const mql = `fetch k8s_container | metric 'istio.io/service/server/response_latencies'
		| filter (metric.destination_service_name == '{{ service }}-canary' && metric.destination_service_namespace == '{{ namespace }}')
		| align delta(1m) | every 1m | group_by [], [p99: percentile(value.response_latencies, 99)]`
	const promql = `histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{destination_workload="{{ target }}"}[{{ interval }}])))`
	descriptor := `"timeSeriesDescriptor":{"pointDescriptors":[{"key":"p99","valueType":"DOUBLE","metricKind":"GAUGE","unit":"ms"}]}`
	series := func(value string) string {
		return `{` + descriptor + `,"timeSeriesData":[{"labelValues":[],"pointData":[{"values":[` + value +
			`],"timeInterval":{"startTime":"2026-03-14T15:08:00Z","endTime":"2026-03-14T15:09:00Z"}},{"values":[{"doubleValue":1}],"timeInterval":{"startTime":"2026-03-14T15:07:00Z","endTime":"2026-03-14T15:08:00Z"}}]}]}`
	}
	cases := []contractCase{
		{name: "MQL: the first point of the one series", query: mql, want: 187.25, answer: answer{status: 200, body: series(`{"doubleValue":187.25}`)}},
		{name: "MQL: an int64 value", query: mql, want: 42, answer: answer{status: 200, body: series(`{"int64Value":"42"}`)}},
		{name: "MQL: NaN is no values", query: mql, class: "no values", answer: answer{status: 200, body: series(`{"doubleValue":"NaN"}`)}},
		{name: "MQL: no time series is no values", query: mql, class: "no values", answer: answer{status: 200, body: `{` + descriptor + `}`}},
		{name: "MQL: several series are refused", query: mql, class: "invalid query", message: []string{"2 series"},
			answer: answer{status: 200, body: `{"timeSeriesData":[{"labelValues":[{"stringValue":"a"}],"pointData":[{"values":[{"doubleValue":1}]}]},{"labelValues":[{"stringValue":"b"}],"pointData":[{"values":[{"doubleValue":2}]}]}]}`}},
		{name: "MQL: a query Cloud Monitoring rejects", query: "fetch nothing |", class: "invalid query", message: []string{"400 Bad Request", "INVALID_ARGUMENT"},
			answer: answer{status: 400, body: `{"error":{"code":400,"message":"Line 1, column 15: syntax error.","status":"INVALID_ARGUMENT"}}`}},
		{name: "MQL: no permission", query: mql, class: "provider error", message: []string{"403 Forbidden", "PERMISSION_DENIED"},
			answer: answer{status: 403, body: `{"error":{"code":403,"message":"Permission monitoring.timeSeries.list denied","status":"PERMISSION_DENIED"}}`}},
		{name: "MQL: quota exceeded, with Retry-After", query: mql, class: "provider error", retryAfter: 7 * time.Second,
			answer: throttled(`{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}`)},
		{name: "PromQL: a vector of one sample", query: promql, want: 230,
			answer: answer{status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1773500966,"230"]}]}}`}},
		{name: "PromQL: an empty vector is no values", query: promql, class: "no values",
			answer: answer{status: 200, body: `{"status":"success","data":{"resultType":"vector","result":[]}}`}},
		{name: "online: an empty query is INVALID_ARGUMENT", online: true},
	}
	var oauth *httptest.Server
	key := serviceAccountKey(t, func(pub *rsa.PublicKey) string {
		oauth = googleOAuth(t, pub, "warbler@shop-prod.iam.gserviceaccount.com")
		return oauth.URL
	})
	runContract(t, "stackdriver", monitoringAPI(), flaggerv1.MetricTemplateProvider{Type: "stackdriver",
		SecretRef: &flaggerv1.LocalSecretReference{Name: "gcloud-sa"}}, map[string][]byte{"project": []byte("shop-prod"), "serviceAccountKey": key}, cases)

	t.Run("a key that is not a service account key", func(t *testing.T) {
		p, err := New(flaggerv1.MetricTemplateProvider{Type: "stackdriver", Address: oauth.URL, SecretRef: &flaggerv1.LocalSecretReference{Name: "gcloud-sa"}},
			map[string][]byte{"project": []byte("shop-prod"), "serviceAccountKey": []byte(`{"type":"authorized_user"}`)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Query(t.Context(), "fetch x")
		checkErr(t, err, "provider error", `secret "gcloud-sa" key "serviceAccountKey" is not a service account key`)
	})
}
