package metrics

import (
	"net/http"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// dynatraceAPI implements GET /api/v2/metrics/query and GET /api/v2/metrics
// of Dynatrace's published Environment API v2 (OpenAPI): the Api-Token
// authorization, metricSelector, resolution, from and to (milliseconds);
// MetricData answers and ErrorEnvelope errors.
func dynatraceAPI() *vendorAPI {
	return &vendorAPI{
		headers: []string{"Authorization", "Accept"},
		check: func(r *http.Request, _ []byte) *answer {
			if r.Header.Get("Authorization") != "Api-Token dt0c01.token" {
				return &answer{status: http.StatusUnauthorized, body: `{"error":{"code":401,"message":"Missing authorization parameter."}}`}
			}
			switch {
			case r.Method == http.MethodGet && r.URL.Path == "/api/v2/metrics" && r.URL.Query().Get("pageSize") == "1":
				return nil
			case r.Method != http.MethodGet || r.URL.Path != "/api/v2/metrics/query":
				return &answer{status: http.StatusNotFound, body: `{"error":{"code":404,"message":"Not found"}}`}
			}
			if m := missingParams(r, "metricSelector", "from", "to", "resolution"); len(m) > 0 {
				return &answer{status: http.StatusBadRequest, body: `{"error":{"code":400,"message":"missing ` + m[0] + `"}}`}
			}
			return nil
		},
	}
}

func TestDynatraceContract(t *testing.T) {
	const q = `builtin:service.response.time:filter(eq(dt.entity.service,SERVICE-ABCDEFG0123456789)):percentile(95)`
	data := func(values string) string {
		return `{"totalCount":1,"nextPageKey":null,"resolution":"Inf","result":[{"metricId":"builtin:service.response.time:percentile(95)","dataPointCountRatio":0.0001,"dimensionCountRatio":0.001,` +
			`"data":[{"dimensions":["SERVICE-ABCDEFG0123456789"],"dimensionMap":{"dt.entity.service":"SERVICE-ABCDEFG0123456789"},"timestamps":[1773500966000],"values":` + values + `}]}]}`
	}
	cases := []contractCase{
		{name: "the one value of resolution Inf", query: q, want: 231.5, answer: answer{status: 200, body: data(`[231.5]`)}},
		{name: "null is no values", query: q, class: "no values", message: []string{"no value in the window"}, answer: answer{status: 200, body: data(`[null]`)}},
		{name: "no series is no values", query: q, class: "no values",
			answer: answer{status: 200, body: `{"totalCount":0,"nextPageKey":null,"resolution":"Inf","result":[{"metricId":"builtin:service.response.time:percentile(95)","data":[]}]}`}},
		{name: "a split by dimension is several series", query: q + `:splitBy("dt.entity.service")`, class: "invalid query", message: []string{"2 series"},
			answer: answer{status: 200, body: `{"totalCount":2,"resolution":"Inf","result":[{"metricId":"m","data":[{"dimensions":["A"],"values":[1]},{"dimensions":["B"],"values":[2]}]}]}`}},
		{name: "a selector Dynatrace rejects", query: "builtin:nope", class: "invalid query", message: []string{"400 Bad Request", "Metric selector"},
			answer: answer{status: 400, body: `{"error":{"code":400,"message":"Metric selector 'builtin:nope' is invalid."}}`}},
		{name: "throttled, with Retry-After", query: q, class: "provider error", retryAfter: 7 * time.Second,
			answer: throttled(`{"error":{"code":429,"message":"Too Many Requests"}}`)},
		{name: "an answer that is not JSON", query: q, class: "provider error", answer: answer{status: 200, body: `}`}},
		{name: "online", online: true, answer: answer{status: 200, body: `{"totalCount":1200,"nextPageKey":"x","metrics":[{"metricId":"builtin:apps.other.apdex.osAndGeo"}]}`}},
	}
	runContract(t, "dynatrace", dynatraceAPI(), flaggerv1.MetricTemplateProvider{Type: "dynatrace",
		SecretRef: &flaggerv1.LocalSecretReference{Name: "dynatrace"}}, map[string][]byte{"dynatrace_token": []byte("dt0c01.token")}, cases)
}
