package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/warbler-dev/warbler/webhooks"
)

// loadtest is the "loadtest" provider: it reads the result of the latest
// "load" task the loadtester at the template's address ran for a canary
// (GET <address>/results/{namespace}/{name}) and returns one field of it.
type loadtest struct {
	ep *endpoint
}

var (
	_ Provider      = (*loadtest)(nil)
	_ canaryQuerier = (*loadtest)(nil)
)

// loadField reads one number from a load result.
type loadField struct {
	value func(r webhooks.LoadResult) float64
	// missing says why r holds no value for the field (a latency of 0 ms
	// from a load that sent nothing would pass any threshold), or "".
	missing func(r webhooks.LoadResult) string
}

func sentNothing(r webhooks.LoadResult) string {
	if r.Requests == 0 {
		return "sent no requests"
	}
	return ""
}

func noP999(r webhooks.LoadResult) string {
	if r.Generator == "hey" {
		return "was a hey run, which does not measure p99.9"
	}
	return sentNothing(r)
}

func noTarget(r webhooks.LoadResult) string {
	if r.TargetRate <= 0 {
		return "had no target rate"
	}
	return ""
}

func always(webhooks.LoadResult) string { return "" }

// loadFields are the query names of the loadtest provider. Latencies are in
// milliseconds, errorRate and achievedRatio in percent, rates per second.
var loadFields = map[string]loadField{
	"p50":           {func(r webhooks.LoadResult) float64 { return r.LatencyMs.P50 }, sentNothing},
	"p90":           {func(r webhooks.LoadResult) float64 { return r.LatencyMs.P90 }, sentNothing},
	"p99":           {func(r webhooks.LoadResult) float64 { return r.LatencyMs.P99 }, sentNothing},
	"p999":          {func(r webhooks.LoadResult) float64 { return r.LatencyMs.P999 }, noP999},
	"max":           {func(r webhooks.LoadResult) float64 { return r.LatencyMs.Max }, sentNothing},
	"mean":          {func(r webhooks.LoadResult) float64 { return r.LatencyMs.Mean }, sentNothing},
	"errorRate":     {func(r webhooks.LoadResult) float64 { return r.ErrorRate }, sentNothing},
	"achievedRate":  {func(r webhooks.LoadResult) float64 { return r.AchievedRate }, always},
	"targetRate":    {func(r webhooks.LoadResult) float64 { return r.TargetRate }, always},
	"requests":      {func(r webhooks.LoadResult) float64 { return float64(r.Requests) }, always},
	"errors":        {func(r webhooks.LoadResult) float64 { return float64(r.Errors) }, always},
	"dropped":       {func(r webhooks.LoadResult) float64 { return float64(r.Dropped) }, always},
	"achievedRatio": {func(r webhooks.LoadResult) float64 { return r.AchievedRate / r.TargetRate * 100 }, noTarget},
}

// LoadtestFields lists the query names of the loadtest provider, sorted.
func LoadtestFields() []string { return sortedKeys(loadFields) }

// Query reads a field of a canary's load result; q names both, as
// "<namespace>/<name>/<field>". Evaluate passes a bare field with the
// canary of its Model instead.
func (l *loadtest) Query(ctx context.Context, q string) (float64, error) {
	parts := strings.Split(strings.TrimSpace(q), "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return 0, fmt.Errorf("%w: loadtest query %q names no canary; want <namespace>/<name>/<field>, "+
			"or a bare field run through metrics.Evaluate", ErrInvalidQuery, q)
	}
	return l.queryCanary(ctx, parts[0], parts[1], parts[2])
}

// queryCanary reads field q of the canary's latest load result. No result
// yet (404), a latency or error rate of a load that sent no request, a p999
// of a hey run, or an achievedRatio without a target rate wrap
// ErrNoValues; an unknown field wraps ErrInvalidQuery.
func (l *loadtest) queryCanary(ctx context.Context, namespace, name, q string) (float64, error) {
	q = strings.TrimSpace(q)
	if strings.Contains(q, "/") {
		return l.Query(ctx, q)
	}
	field, ok := loadFields[q]
	if !ok {
		return 0, fmt.Errorf("%w: loadtest field %q is unknown; valid fields: %s",
			ErrInvalidQuery, q, strings.Join(LoadtestFields(), ", "))
	}
	r, err := l.result(ctx, namespace, name)
	if err != nil {
		return 0, err
	}
	if why := field.missing(r); why != "" {
		return 0, fmt.Errorf("%w: %s: the load test of %s.%s %s", ErrNoValues, q, name, namespace, why)
	}
	return field.value(r), nil
}

func (l *loadtest) result(ctx context.Context, namespace, name string) (webhooks.LoadResult, error) {
	var r webhooks.LoadResult
	u := l.ep.base.JoinPath("results", url.PathEscape(namespace), url.PathEscape(name)).String()
	code, body, err := l.ep.get(ctx, u)
	if err != nil {
		return r, fmt.Errorf("loadtest provider: %w", err)
	}
	switch {
	case code == http.StatusNotFound:
		return r, fmt.Errorf("%w: the loadtester has no load result for %s.%s yet (GET %s: 404)", ErrNoValues, name, namespace, u)
	case code/100 != 2:
		return r, fmt.Errorf("loadtest provider: GET %s: %d %s: %s", u, code, http.StatusText(code), truncate(string(body), 200))
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("loadtest provider: GET %s: the body is not a load result: %w", u, err)
	}
	return r, nil
}

// IsOnline reports whether the loadtester answers GET /healthz with 200.
func (l *loadtest) IsOnline(ctx context.Context) (bool, error) {
	u := l.ep.base.JoinPath("healthz").String()
	code, _, err := l.ep.get(ctx, u)
	if err != nil {
		return false, fmt.Errorf("loadtest provider: %w", err)
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("loadtest provider: GET %s: %d %s", u, code, http.StatusText(code))
	}
	return true, nil
}

func (l *loadtest) closeIdle() { l.ep.closeIdle() }
