package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// graphite is the "graphite" provider: the query is the parameter string
// of Graphite's render API ("target=…&from=-5min"), sent as GET
// <address>/render?<query>&format=json with optional basic auth.
type graphite struct {
	ep  *endpoint
	now func() time.Time
}

func newGraphite(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	if p.Address == "" {
		return nil, fmt.Errorf("provider address is empty; set it to the Graphite web URL, such as http://graphite.monitoring")
	}
	creds := http.Header{}
	if p.SecretRef != nil {
		// as in Flagger, a referenced Secret must hold both
		keys := []string{secretUsername, secretPassword}
		user, err := secretValue(p, secret, secretUsername, keys...)
		if err != nil {
			return nil, err
		}
		pass, err := secretValue(p, secret, secretPassword, keys...)
		if err != nil {
			return nil, err
		}
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(user, pass)
		creds.Set("Authorization", r.Header.Get("Authorization"))
	}
	ep, err := vendorEndpoint(p, "", creds)
	if err != nil {
		return nil, err
	}
	return &graphite{ep: ep, now: d.now}, nil
}

// graphitePoint is one [value, timestamp] pair; either may be null, and
// some servers send them as strings.
type graphitePoint struct {
	value *float64
}

func (g *graphitePoint) UnmarshalJSON(b []byte) error {
	var pair []any
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if len(pair) != 2 {
		return fmt.Errorf("a datapoint has %d elements, want [value, timestamp]", len(pair))
	}
	switch v := pair[0].(type) {
	case nil:
	case float64:
		g.value = &v
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("datapoint value %q is not a number", v)
		}
		g.value = &f
	default:
		return fmt.Errorf("datapoint value %v is not a number", v)
	}
	return nil
}

type graphiteSeries struct {
	Target     string          `json:"target"`
	Datapoints []graphitePoint `json:"datapoints"`
}

// Query runs the render query q and returns the last non-null datapoint of
// its one series, as Flagger does. No series or only nulls wrap
// ErrNoValues; several series and queries Graphite rejects (400) wrap
// ErrInvalidQuery.
func (g *graphite) Query(ctx context.Context, q string) (float64, error) {
	params, err := url.ParseQuery(strings.TrimPrefix(collapseSpace(q), "?"))
	if err != nil {
		return 0, fmt.Errorf("%w: graphite query %q is not a render parameter string such as target=…&from=-10min: %v", ErrInvalidQuery, q, err)
	}
	if len(params["target"]) == 0 {
		return 0, fmt.Errorf("%w: graphite query %q has no target=; the query is the render API's parameters, such as target=sumSeries(app.*.requests)&from=-5min", ErrInvalidQuery, q)
	}
	params.Set("format", "json")
	what := fmt.Sprintf("graphite %s: GET /render", g.ep.base)
	r, err := g.ep.do(ctx, http.MethodGet, g.ep.base.JoinPath("render").String()+"?"+params.Encode(), nil, "", "")
	if err != nil {
		return 0, fmt.Errorf("graphite %s: %w", g.ep.base, err)
	}
	if r.code/100 != 2 {
		return 0, httpError(what, r, "", g.now())
	}
	var series []graphiteSeries
	if err := decodeJSON(what, r.body, &series); err != nil {
		return 0, err
	}
	switch len(series) {
	case 0:
		return 0, fmt.Errorf("%w: %s: no series matched %s", ErrNoValues, what, strings.Join(params["target"], ", "))
	case 1:
	default:
		names := make([]string, len(series))
		for i, s := range series {
			names[i] = s.Target
		}
		return 0, manySeries(what, len(series), names)
	}
	pts := series[0].Datapoints
	for i := len(pts) - 1; i >= 0; i-- {
		if v := pts[i].value; v != nil && !math.IsNaN(*v) {
			return *v, nil
		}
	}
	return 0, fmt.Errorf("%w: %s: the series %s has %d datapoints, all null", ErrNoValues, what, series[0].Target, len(pts))
}

// IsOnline renders target=test, as Flagger does: any answer but an error
// (no series is fine) means online.
func (g *graphite) IsOnline(ctx context.Context) (bool, error) {
	if _, err := g.Query(ctx, "target=test"); err != nil && !errors.Is(err, ErrNoValues) {
		return false, err
	}
	return true, nil
}

func (g *graphite) closeIdle() { g.ep.closeIdle() }
