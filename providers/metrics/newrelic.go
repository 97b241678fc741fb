package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// New Relic's Insights query API, as Flagger calls it: GET
// /v1/accounts/{account}/query?nrql=… with the query key in X-Query-Key,
// the NRQL ending in "SINCE <interval> seconds ago".
const (
	newRelicDefaultAddress = "https://insights-api.newrelic.com"
	newRelicAccountKey     = "newrelic_account_id"
	newRelicQueryKey       = "newrelic_query_key"
)

// newRelic is the "newrelic" provider.
type newRelic struct {
	ep      *endpoint
	account string
	now     func() time.Time
}

var _ windowQuerier = (*newRelic)(nil)

func newNewRelic(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	keys := []string{newRelicAccountKey, newRelicQueryKey}
	account, err := secretValue(p, secret, newRelicAccountKey, keys...)
	if err != nil {
		return nil, err
	}
	key, err := secretValue(p, secret, newRelicQueryKey, keys...)
	if err != nil {
		return nil, err
	}
	ep, err := vendorEndpoint(p, newRelicDefaultAddress, http.Header{"X-Query-Key": {key}})
	if err != nil {
		return nil, err
	}
	return &newRelic{ep: ep, account: account, now: d.now}, nil
}

// newRelicResponse is the part of an Insights answer the provider reads:
// one object per SELECT expression, or per facet.
type newRelicResponse struct {
	Results []map[string]json.RawMessage `json:"results"`
	Facets  []struct {
		Name    json.RawMessage              `json:"name"`
		Results []map[string]json.RawMessage `json:"results"`
	} `json:"facets"`
	Error string `json:"error"`
}

func (n *newRelic) Query(ctx context.Context, q string) (float64, error) {
	return n.queryWindow(ctx, q, time.Minute)
}

// queryWindow runs q over the last interval and returns its one result:
// the "result" field of an arithmetic SELECT, as Flagger reads it, or the
// one number of any other single-value result ({"count": 12},
// {"percentile": {"99": 0.3}}). No result or null wraps ErrNoValues; a
// FACET query or several SELECT values wrap ErrInvalidQuery.
func (n *newRelic) queryWindow(ctx context.Context, q string, interval time.Duration) (float64, error) {
	path := "/v1/accounts/" + url.PathEscape(n.account) + "/query"
	nrql := fmt.Sprintf("%s SINCE %d seconds ago", q, int64(interval.Seconds()))
	what := fmt.Sprintf("newrelic %s: GET %s", n.ep.base, path)
	r, err := n.ep.do(ctx, http.MethodGet, n.ep.base.String()+path+"?"+url.Values{"nrql": {nrql}}.Encode(), nil, "", "")
	if err != nil {
		return 0, fmt.Errorf("newrelic %s: %w", n.ep.base, err)
	}
	var res newRelicResponse
	if r.code != http.StatusOK {
		_ = decodeJSON(what, r.body, &res)
		return 0, httpError(what, r, res.Error, n.now())
	}
	if err := decodeJSON(what, r.body, &res); err != nil {
		return 0, err
	}
	if len(res.Facets) > 0 {
		names := make([]string, len(res.Facets))
		for i, f := range res.Facets {
			names[i] = string(f.Name)
		}
		return 0, manySeries(what, len(res.Facets), names)
	}
	switch len(res.Results) {
	case 0:
		return 0, fmt.Errorf("%w: %s: the query returned no results", ErrNoValues, what)
	case 1:
	default:
		return 0, manySeries(what, len(res.Results), nil)
	}
	return newRelicValue(what, res.Results[0])
}

// newRelicValue reads the one number of a result object.
func newRelicValue(what string, result map[string]json.RawMessage) (float64, error) {
	raw, ok := result["result"]
	if !ok {
		if len(result) != 1 {
			keys := make([]string, 0, len(result))
			for k := range result {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			return 0, fmt.Errorf("%w: %s: the result has the fields %v; select one value (…AS result)", ErrInvalidQuery, what, keys)
		}
		for _, v := range result {
			raw = v
		}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("%s: the result is not JSON: %w", what, err)
	}
	// a function with parameters answers with an object of one number:
	// {"percentile": {"99": 0.25}}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, inner := range m {
			v = inner
		}
	}
	switch f := v.(type) {
	case nil:
		return 0, fmt.Errorf("%w: %s: the result is null", ErrNoValues, what)
	case float64:
		if math.IsNaN(f) {
			return 0, fmt.Errorf("%w: %s: the result is NaN", ErrNoValues, what)
		}
		return f, nil
	default:
		return 0, fmt.Errorf("%w: %s: the result %s is not a number", ErrInvalidQuery, what, truncate(string(raw), 100))
	}
}

// IsOnline runs "SELECT * FROM Metric", as Flagger does, and wants a 200.
func (n *newRelic) IsOnline(ctx context.Context) (bool, error) {
	path := "/v1/accounts/" + url.PathEscape(n.account) + "/query"
	what := fmt.Sprintf("newrelic %s: GET %s", n.ep.base, path)
	r, err := n.ep.do(ctx, http.MethodGet, n.ep.base.String()+path+"?"+url.Values{"nrql": {"SELECT * FROM Metric"}}.Encode(), nil, "", "")
	if err != nil {
		return false, fmt.Errorf("newrelic %s: %w", n.ep.base, err)
	}
	if r.code != http.StatusOK {
		var res newRelicResponse
		_ = decodeJSON(what, r.body, &res)
		return false, httpError(what, r, res.Error, n.now())
	}
	return true, nil
}

func (n *newRelic) closeIdle() { n.ep.closeIdle() }
