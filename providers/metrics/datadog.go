package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Datadog's metrics API, as Flagger calls it: GET /api/v1/query with the
// API and application keys in headers, over the last ten metric intervals.
const (
	datadogDefaultAddress = "https://api.datadoghq.com"
	datadogQueryPath      = "/api/v1/query"
	datadogValidatePath   = "/api/v1/validate"
	datadogAPIKey         = "datadog_api_key"
	datadogAppKey         = "datadog_application_key"
)

// datadog is the "datadog" provider.
type datadog struct {
	ep  *endpoint
	now func() time.Time
}

var _ windowQuerier = (*datadog)(nil)

func newDatadog(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	keys := []string{datadogAPIKey, datadogAppKey}
	apiKey, err := secretValue(p, secret, datadogAPIKey, keys...)
	if err != nil {
		return nil, err
	}
	appKey, err := secretValue(p, secret, datadogAppKey, keys...)
	if err != nil {
		return nil, err
	}
	ep, err := vendorEndpoint(p, datadogDefaultAddress, http.Header{"Dd-Api-Key": {apiKey}, "Dd-Application-Key": {appKey}})
	if err != nil {
		return nil, err
	}
	return &datadog{ep: ep, now: d.now}, nil
}

// datadogResponse is the part of MetricsQueryResponse the provider reads.
type datadogResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Series []struct {
		Metric    string        `json:"metric"`
		Scope     string        `json:"scope"`
		Pointlist [][2]*float64 `json:"pointlist"`
	} `json:"series"`
}

// datadogErrors is Datadog's APIErrorResponse.
type datadogErrors struct {
	Errors []string `json:"errors"`
}

func (d *datadog) Query(ctx context.Context, q string) (float64, error) {
	return d.queryWindow(ctx, q, time.Minute)
}

// queryWindow runs q over the last ten intervals and returns the first
// non-null point of its one series. Flagger takes the first point too:
// the last bucket of a window is usually incomplete. No series, or only
// null points, wrap ErrNoValues; several series, or a query Datadog
// rejects, wrap ErrInvalidQuery.
func (d *datadog) queryWindow(ctx context.Context, q string, interval time.Duration) (float64, error) {
	now := d.now()
	v := url.Values{}
	v.Set("query", q)
	v.Set("from", strconv.FormatInt(now.Add(-flaggerWindows*interval).Unix(), 10))
	v.Set("to", strconv.FormatInt(now.Unix(), 10))
	u := d.ep.base.String() + datadogQueryPath + "?" + v.Encode()
	what := fmt.Sprintf("datadog %s: GET %s", d.ep.base, datadogQueryPath)
	r, err := d.ep.do(ctx, http.MethodGet, u, nil, "", "")
	if err != nil {
		return 0, fmt.Errorf("datadog %s: %w", d.ep.base, err)
	}
	if r.code != http.StatusOK {
		var e datadogErrors
		_ = decodeJSON(what, r.body, &e)
		return 0, httpError(what, r, strings.Join(e.Errors, "; "), now)
	}
	var res datadogResponse
	if err := decodeJSON(what, r.body, &res); err != nil {
		return 0, err
	}
	if res.Status == "error" {
		return 0, fmt.Errorf("%w: %s: %s", ErrInvalidQuery, what, res.Error)
	}
	switch len(res.Series) {
	case 0:
		return 0, fmt.Errorf("%w: %s: the query returned no series", ErrNoValues, what)
	case 1:
	default:
		names := make([]string, len(res.Series))
		for i, s := range res.Series {
			names[i] = s.Metric + "{" + s.Scope + "}"
		}
		return 0, manySeries(what, len(res.Series), names)
	}
	for _, p := range res.Series[0].Pointlist {
		if p[1] != nil {
			return *p[1], nil
		}
	}
	return 0, fmt.Errorf("%w: %s: the series has %d points, all null", ErrNoValues, what, len(res.Series[0].Pointlist))
}

// IsOnline checks the keys with GET /api/v1/validate, as Flagger does.
func (d *datadog) IsOnline(ctx context.Context) (bool, error) {
	what := fmt.Sprintf("datadog %s: GET %s", d.ep.base, datadogValidatePath)
	r, err := d.ep.do(ctx, http.MethodGet, d.ep.base.String()+datadogValidatePath, nil, "", "")
	if err != nil {
		return false, fmt.Errorf("datadog %s: %w", d.ep.base, err)
	}
	if r.code != http.StatusOK {
		var e datadogErrors
		_ = decodeJSON(what, r.body, &e)
		return false, httpError(what, r, strings.Join(e.Errors, "; "), d.now())
	}
	return true, nil
}

func (d *datadog) closeIdle() { d.ep.closeIdle() }
