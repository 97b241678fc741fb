package metrics

import (
	"net/http"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// datadogAPI implements GET /api/v1/query (operationId QueryMetrics) and
// GET /api/v1/validate of Datadog's published OpenAPI document (v1):
// apiKeyAuth and appKeyAuth headers, the required int64 parameters from
// and to (seconds) and the query string, MetricsQueryResponse answers and
// APIErrorResponse errors.
func datadogAPI() *vendorAPI {
	return &vendorAPI{
		headers: []string{"Dd-Api-Key", "Dd-Application-Key", "Accept"},
		check: func(r *http.Request, _ []byte) *answer {
			if r.Header.Get("DD-API-KEY") != "api-key-1" || r.Header.Get("DD-APPLICATION-KEY") != "app-key-1" {
				return &answer{status: http.StatusForbidden, body: `{"errors":["Forbidden"]}`}
			}
			switch {
			case r.Method == http.MethodGet && r.URL.Path == "/api/v1/validate":
				return nil
			case r.Method != http.MethodGet || r.URL.Path != "/api/v1/query":
				return &answer{status: http.StatusNotFound, body: `{"errors":["Not found"]}`}
			}
			if m := missingParams(r, "from", "to", "query"); len(m) > 0 {
				return &answer{status: http.StatusBadRequest, body: `{"errors":["missing parameter ` + strings.Join(m, ", ") + `"]}`}
			}
			return nil
		},
	}
}

func TestDatadogContract(t *testing.T) {
	const q = `sum:istio.mesh.request.count{destination_workload_namespace:{{ namespace }},destination_workload:{{ target }},!response_code:404}.as_count()`
	series := func(points string) string {
		return `{"status":"ok","res_type":"time_series","query":"sum:istio.mesh.request.count{…}","from_date":1773500366000,"to_date":1773500966000,"group_by":[],` +
			`"series":[{"metric":"istio.mesh.request.count","display_name":"istio.mesh.request.count","scope":"destination_workload:podinfo","expression":"sum:istio.mesh.request.count{…}.as_count()","aggr":"sum","interval":60,"length":3,"start":1773500366000,"end":1773500966000,"pointlist":` + points + `}]}`
	}
	cases := []contractCase{
		{name: "the first non-null point of the window", query: q, want: 97.5,
			answer: answer{status: 200, body: series(`[[1773500400000,null],[1773500460000,97.5],[1773500520000,12]]`)}},
		{name: "no series is no values", query: q, class: "no values", message: []string{"no series"},
			answer: answer{status: 200, body: `{"status":"ok","res_type":"time_series","series":[],"from_date":1773500366000,"to_date":1773500966000}`}},
		{name: "only null points is no values", query: q, class: "no values", message: []string{"all null"},
			answer: answer{status: 200, body: series(`[[1773500400000,null],[1773500460000,null]]`)}},
		{name: "several series are refused", query: q, class: "invalid query", message: []string{"returned 2 series", "aggregate"},
			answer: answer{status: 200, body: `{"status":"ok","series":[{"metric":"a","scope":"host:x","pointlist":[[1,1]]},{"metric":"a","scope":"host:y","pointlist":[[1,2]]}]}`}},
		{name: "a query Datadog rejects", query: q, class: "invalid query", message: []string{"400 Bad Request", "Error parsing query"},
			answer: answer{status: 400, body: `{"errors":["Error parsing query: unable to parse sum:istio.mesh.request.count{: Rule 'scope_expr' didn't match"]}`}},
		{name: "an error status in a 200", query: q, class: "invalid query", message: []string{"unknown function"},
			answer: answer{status: 200, body: `{"status":"error","error":"unknown function foo","res_type":"time_series","series":[]}`}},
		{name: "throttled, with Retry-After", query: q, class: "provider error", message: []string{"429 Too Many Requests", "retry after 7s"}, retryAfter: 7 * time.Second,
			answer: throttled(`{"errors":["Rate limit of 1600 requests in 3600 seconds reached."]}`)},
		{name: "a server error", query: q, class: "provider error", message: []string{"503 Service Unavailable"},
			answer: answer{status: 503, body: `{"errors":["Service Unavailable"]}`}},
		{name: "an answer that is not JSON", query: q, class: "provider error", message: []string{"not the documented JSON", "<html>"},
			answer: answer{status: 200, body: `<html>gateway</html>`}},
		{name: "online: the keys are valid", online: true, answer: answer{status: 200, body: `{"valid":true}`}},
	}
	secret := map[string][]byte{"datadog_api_key": []byte("api-key-1\n"), "datadog_application_key": []byte("app-key-1")}
	runContract(t, "datadog", datadogAPI(), flaggerv1.MetricTemplateProvider{Type: "datadog",
		SecretRef: &flaggerv1.LocalSecretReference{Name: "datadog"}}, secret, cases)

	t.Run("a wrong key is a clear provider error", func(t *testing.T) {
		runContract(t, "datadog-wrong-key", datadogAPI(), flaggerv1.MetricTemplateProvider{Type: "datadog",
			SecretRef: &flaggerv1.LocalSecretReference{Name: "datadog"}},
			map[string][]byte{"datadog_api_key": []byte("wrong"), "datadog_application_key": []byte("app-key-1")},
			[]contractCase{
				{name: "query", query: q, class: "provider error", message: []string{"403 Forbidden", "check the credentials"}},
				{name: "online", online: true, class: "provider error", message: []string{"403 Forbidden"}},
			})
	})
}
