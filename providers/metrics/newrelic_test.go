package metrics

import (
	"net/http"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// newRelicAPI implements New Relic's Insights query API as documented:
// GET /v1/accounts/{accountId}/query with the nrql parameter and the
// X-Query-Key header; {"results": […]} answers, {"error": …} errors.
func newRelicAPI() *vendorAPI {
	return &vendorAPI{
		headers: []string{"X-Query-Key", "Accept"},
		check: func(r *http.Request, _ []byte) *answer {
			switch {
			case r.Method != http.MethodGet || r.URL.Path != "/v1/accounts/1234567/query":
				return &answer{status: http.StatusNotFound, body: `{"error":"Not found"}`}
			case r.Header.Get("X-Query-Key") != "NRIQ-key":
				return &answer{status: http.StatusForbidden, body: `{"error":"Invalid query key"}`}
			case r.URL.Query().Get("nrql") == "":
				return &answer{status: http.StatusBadRequest, body: `{"error":"NRQL Syntax Error: missing query"}`}
			}
			return nil
		},
	}
}

func TestNewRelicContract(t *testing.T) {
	const q = `SELECT filter(sum(nginx_ingress_controller_requests), WHERE status >= '500') / sum(nginx_ingress_controller_requests) * 100 FROM Metric WHERE ingress = '{{ ingress }}' AND namespace = '{{ namespace }}'`
	meta := `"metadata":{"eventTypes":["Metric"],"rawSince":"60 SECONDS AGO","messages":[]}`
	cases := []contractCase{
		{name: "an arithmetic SELECT answers in result", query: q, want: 1.25,
			answer: answer{status: 200, body: `{"results":[{"result":1.25}],` + meta + `}`}},
		{name: "a single aggregate answers in its own field", query: "SELECT count(*) FROM Transaction", want: 42,
			answer: answer{status: 200, body: `{"results":[{"count":42}],` + meta + `}`}},
		{name: "a percentile answers in an object", query: "SELECT percentile(duration, 99) FROM Transaction", want: 0.31,
			answer: answer{status: 200, body: `{"results":[{"percentiles":{"99":0.31}}],` + meta + `}`}},
		{name: "null is no values", query: q, class: "no values", message: []string{"null"},
			answer: answer{status: 200, body: `{"results":[{"result":null}],` + meta + `}`}},
		{name: "no results is no values", query: q, class: "no values",
			answer: answer{status: 200, body: `{"results":[],` + meta + `}`}},
		{name: "a FACET query is several series", query: q + " FACET host", class: "invalid query", message: []string{"2 series", `"a"`, `"b"`},
			answer: answer{status: 200, body: `{"facets":[{"name":"a","results":[{"result":1}]},{"name":"b","results":[{"result":2}]}],` + meta + `}`}},
		{name: "two SELECT values are several series", query: "SELECT count(*), average(duration) FROM Transaction", class: "invalid query",
			answer: answer{status: 200, body: `{"results":[{"count":1},{"average":2}],` + meta + `}`}},
		{name: "an NRQL syntax error", query: "SELEKT 1", class: "invalid query", message: []string{"400 Bad Request", "NRQL Syntax Error"},
			answer: answer{status: 400, body: `{"error":"NRQL Syntax Error: Error at line 1 position 1, unexpected 'SELEKT'"}`}},
		{name: "throttled, with Retry-After", query: q, class: "provider error", retryAfter: 7 * time.Second,
			answer: throttled(`{"error":"Too many requests"}`)},
		{name: "a server error", query: q, class: "provider error", message: []string{"500 Internal Server Error"},
			answer: answer{status: 500, body: `{"error":"internal"}`}},
		{name: "an answer that is not JSON", query: q, class: "provider error", message: []string{"not the documented JSON"},
			answer: answer{status: 200, body: `results=1`}},
		{name: "online", online: true, answer: answer{status: 200, body: `{"results":[{"events":[]}],` + meta + `}`}},
	}
	secret := map[string][]byte{"newrelic_account_id": []byte("1234567"), "newrelic_query_key": []byte("NRIQ-key")}
	runContract(t, "newrelic", newRelicAPI(), flaggerv1.MetricTemplateProvider{Type: "newrelic",
		SecretRef: &flaggerv1.LocalSecretReference{Name: "newrelic"}}, secret, cases)
}
