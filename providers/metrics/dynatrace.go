package metrics

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Dynatrace's metrics API v2, as Flagger calls it: GET
// /api/v2/metrics/query with resolution=Inf over the last ten metric
// intervals, authorized by "Api-Token <dynatrace_token>".
const (
	dynatraceQueryPath    = "/api/v2/metrics/query"
	dynatraceValidatePath = "/api/v2/metrics"
	dynatraceTokenKey     = "dynatrace_token"
)

// dynatrace is the "dynatrace" provider.
type dynatrace struct {
	ep  *endpoint
	now func() time.Time
}

var _ windowQuerier = (*dynatrace)(nil)

func newDynatrace(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	if p.Address == "" {
		return nil, fmt.Errorf("provider address is empty; set it to your environment's URL, such as https://abc12345.live.dynatrace.com")
	}
	token, err := secretValue(p, secret, dynatraceTokenKey, dynatraceTokenKey)
	if err != nil {
		return nil, err
	}
	ep, err := vendorEndpoint(p, "", http.Header{"Authorization": {"Api-Token " + token}})
	if err != nil {
		return nil, err
	}
	return &dynatrace{ep: ep, now: d.now}, nil
}

// dynatraceResponse is the part of MetricData the provider reads.
type dynatraceResponse struct {
	Result []struct {
		MetricID string `json:"metricId"`
		Data     []struct {
			Dimensions []string   `json:"dimensions"`
			Values     []*float64 `json:"values"`
		} `json:"data"`
	} `json:"result"`
}

// dynatraceError is Dynatrace's ErrorEnvelope.
type dynatraceError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (d *dynatrace) Query(ctx context.Context, q string) (float64, error) {
	return d.queryWindow(ctx, q, time.Minute)
}

// queryWindow runs the metric selector q at resolution Inf (one value per
// series) and returns the value of its one series. No series, no value or
// null wrap ErrNoValues; several metrics or series (a split by dimension)
// and selectors Dynatrace rejects wrap ErrInvalidQuery.
func (d *dynatrace) queryWindow(ctx context.Context, q string, interval time.Duration) (float64, error) {
	now := d.now()
	v := url.Values{}
	v.Set("metricSelector", q)
	v.Set("resolution", "Inf")
	v.Set("from", strconv.FormatInt(now.Add(-flaggerWindows*interval).UnixMilli(), 10))
	v.Set("to", strconv.FormatInt(now.UnixMilli(), 10))
	what := fmt.Sprintf("dynatrace %s: GET %s", d.ep.base, dynatraceQueryPath)
	r, err := d.ep.do(ctx, http.MethodGet, d.ep.base.String()+dynatraceQueryPath+"?"+v.Encode(), nil, "", "")
	if err != nil {
		return 0, fmt.Errorf("dynatrace %s: %w", d.ep.base, err)
	}
	if r.code != http.StatusOK {
		var e dynatraceError
		_ = decodeJSON(what, r.body, &e)
		return 0, httpError(what, r, e.Error.Message, now)
	}
	var res dynatraceResponse
	if err := decodeJSON(what, r.body, &res); err != nil {
		return 0, err
	}
	var names []string
	var values [][]*float64
	for _, m := range res.Result {
		for _, s := range m.Data {
			names = append(names, fmt.Sprintf("%s%v", m.MetricID, s.Dimensions))
			values = append(values, s.Values)
		}
	}
	switch len(values) {
	case 0:
		return 0, fmt.Errorf("%w: %s: the selector matched no series", ErrNoValues, what)
	case 1:
	default:
		return 0, manySeries(what, len(values), names)
	}
	for _, p := range values[0] {
		if p != nil && !math.IsNaN(*p) {
			return *p, nil
		}
	}
	return 0, fmt.Errorf("%w: %s: the series %s has no value in the window", ErrNoValues, what, names[0])
}

// IsOnline lists one metric (GET /api/v2/metrics?pageSize=1), as Flagger
// does, and wants a 200.
func (d *dynatrace) IsOnline(ctx context.Context) (bool, error) {
	what := fmt.Sprintf("dynatrace %s: GET %s", d.ep.base, dynatraceValidatePath)
	r, err := d.ep.do(ctx, http.MethodGet, d.ep.base.String()+dynatraceValidatePath+"?pageSize=1", nil, "", "")
	if err != nil {
		return false, fmt.Errorf("dynatrace %s: %w", d.ep.base, err)
	}
	if r.code != http.StatusOK {
		var e dynatraceError
		_ = decodeJSON(what, r.body, &e)
		return false, httpError(what, r, e.Error.Message, d.now())
	}
	return true, nil
}

func (d *dynatrace) closeIdle() { d.ep.closeIdle() }
