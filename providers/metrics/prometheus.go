package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PrometheusConfig configures a Prometheus provider.
type PrometheusConfig struct {
	// Address of the Prometheus HTTP API, such as http://prometheus:9090.
	Address string
	// Header is added to every request (tenant headers, a Host override).
	Header http.Header
	// Token is sent as a bearer token; otherwise Username and Password, if
	// both are set, as basic auth.
	Token              string
	Username, Password string
	// InsecureSkipVerify disables TLS verification.
	InsecureSkipVerify bool
	// Timeout bounds each query; DefaultTimeout when zero.
	Timeout time.Duration
}

// Prometheus runs PromQL instant queries with Flagger's semantics: the
// query's whitespace is collapsed, the last series of a vector wins, and an
// empty vector or NaN means no values.
type Prometheus struct {
	ep  *endpoint
	api promv1.API
}

var (
	_ Provider     = (*Prometheus)(nil)
	_ RangeQuerier = (*Prometheus)(nil)
)

// NewPrometheus returns a provider for the Prometheus at c.Address. It
// makes no request.
func NewPrometheus(c PrometheusConfig) (*Prometheus, error) {
	h := c.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	switch {
	case c.Token != "":
		h.Set("Authorization", "Bearer "+c.Token)
	case c.Username != "" && c.Password != "":
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(c.Username, c.Password)
		h.Set("Authorization", r.Header.Get("Authorization"))
	}
	ep, err := newEndpoint(endpointConfig{address: c.Address, header: h, insecure: c.InsecureSkipVerify, timeout: c.Timeout})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	client, err := promapi.NewClient(promapi.Config{Address: ep.base.String(), Client: ep.client})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", c.Address, err)
	}
	return &Prometheus{ep: ep, api: promv1.NewAPI(headerClient{client, ep})}, nil
}

// headerClient adds the endpoint's headers to each request. Doing it per
// request, not in a RoundTripper, keeps Go from forwarding credentials on a
// redirect to another host.
type headerClient struct {
	promapi.Client
	ep *endpoint
}

func (c headerClient) Do(ctx context.Context, r *http.Request) (*http.Response, []byte, error) {
	c.ep.authorize(r)
	return c.Client.Do(ctx, r)
}

// Query runs q as an instant query and returns its value. A scalar is
// returned as is; of a vector with several series the last one wins, as in
// Flagger. An empty vector or NaN wraps ErrNoValues; a range (matrix) or
// string result and a query Prometheus rejects as bad_data wrap
// ErrInvalidQuery; anything else (connection refused, timeouts, 5xx) is a
// plain error worth retrying.
func (p *Prometheus) Query(ctx context.Context, q string) (float64, error) {
	q = collapseSpace(q)
	ctx, cancel := context.WithTimeout(ctx, p.ep.timeout)
	defer cancel()
	v, _, err := p.api.Query(ctx, q, time.Time{}, promv1.WithTimeout(p.ep.timeout))
	if err != nil {
		return 0, p.classify(err)
	}
	return sampleValue(v)
}

// maxRangePoints bounds the points of a range query; Prometheus refuses
// more than 11,000 per series.
const maxRangePoints = 10000

// QueryRange runs q as a range query. A vector query gives one series per
// label set: several are an ErrInvalidQuery, since samples of different
// series cannot be told apart (aggregate them with sum() and so on).
func (p *Prometheus) QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]float64, error) {
	if step <= 0 || end.Before(start) {
		return nil, fmt.Errorf("%w: empty range %s … %s every %s", ErrNoValues, start.Format(time.RFC3339), end.Format(time.RFC3339), step)
	}
	if n := end.Sub(start) / step; n > maxRangePoints {
		start = end.Add(-maxRangePoints * step)
	}
	q = collapseSpace(q)
	ctx, cancel := context.WithTimeout(ctx, p.ep.timeout)
	defer cancel()
	v, _, err := p.api.QueryRange(ctx, q, promv1.Range{Start: start, End: end, Step: step}, promv1.WithTimeout(p.ep.timeout))
	if err != nil {
		return nil, p.classify(err)
	}
	m, ok := v.(model.Matrix)
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: the range query returned a %s, not a matrix", ErrInvalidQuery, v.Type())
	case len(m) == 0:
		return nil, fmt.Errorf("%w: the range query returned no series", ErrNoValues)
	case len(m) > 1:
		return nil, fmt.Errorf("%w: the range query returned %d series; the judge needs one (aggregate with sum(), avg() and so on)", ErrInvalidQuery, len(m))
	}
	out := make([]float64, 0, len(m[0].Values))
	for _, sp := range m[0].Values {
		if f := float64(sp.Value); !math.IsNaN(f) && !math.IsInf(f, 0) {
			out = append(out, f)
		}
	}
	return out, nil
}

// IsOnline runs vector(1) and checks that it returns 1.
func (p *Prometheus) IsOnline(ctx context.Context) (bool, error) {
	v, err := p.Query(ctx, "vector(1)")
	if err != nil {
		return false, err
	}
	if v != 1 {
		return false, fmt.Errorf("prometheus %s: vector(1) returned %v, want 1", p.ep.base, v)
	}
	return true, nil
}

func (p *Prometheus) classify(err error) error {
	var apiErr *promv1.Error
	if errors.As(err, &apiErr) {
		if apiErr.Type == promv1.ErrBadData {
			return fmt.Errorf("%w: prometheus %s rejected the query: %s", ErrInvalidQuery, p.ep.base, apiErr.Msg)
		}
		msg := apiErr.Error()
		if d := strings.TrimSpace(apiErr.Detail); d != "" {
			msg += ": " + truncate(d, 200)
		}
		return fmt.Errorf("prometheus %s: %s", p.ep.base, msg)
	}
	return fmt.Errorf("prometheus %s: %w", p.ep.base, err)
}

func (p *Prometheus) closeIdle() { p.ep.closeIdle() }

// sampleValue reduces a query result to one number.
func sampleValue(v model.Value) (float64, error) {
	var f float64
	switch r := v.(type) {
	case *model.Scalar:
		f = float64(r.Value)
	case model.Vector:
		if len(r) == 0 {
			return 0, fmt.Errorf("%w: the query returned an empty vector", ErrNoValues)
		}
		// Flagger keeps the last series; a query that should return one
		// value but returns several is a template bug worth noticing in
		// the recorded value, not a reason to fail the check.
		f = float64(r[len(r)-1].Value)
	case model.Matrix:
		return 0, fmt.Errorf("%w: query returned multiple values: a range vector of %d series; use an instant vector (wrap the range selector in rate(), sum() and so on)", ErrInvalidQuery, len(r))
	case nil:
		return 0, fmt.Errorf("%w: the query returned no result", ErrNoValues)
	default:
		return 0, fmt.Errorf("%w: the query returned a %s, not a number", ErrInvalidQuery, v.Type())
	}
	if math.IsNaN(f) {
		return 0, fmt.Errorf("%w: the query returned NaN (no traffic in the interval?)", ErrNoValues)
	}
	return f, nil
}

// collapseSpace replaces every run of whitespace with one space, so that
// templates written over several lines give a compact query.
func collapseSpace(q string) string { return strings.Join(strings.Fields(q), " ") }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
