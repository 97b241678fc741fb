// Package metrics runs the queries of canary metric checks: the Prometheus
// provider, the builtin request-success-rate and request-duration queries
// per mesh, MetricTemplate rendering, a generic HTTP/JSON provider and the
// loadtest provider that reads the loadtester's own results.
//
// Providers classify their errors; what an error means for the release (a
// failed check, a retry, a pass) is decided by the analysis package.
//
// A builtin metric runs BuiltinQuery's query on a Prometheus (NewPrometheus,
// or New with type prometheus). A MetricTemplate's provider comes from New,
// or from a Cache that keeps it across ticks, and its query runs through
// Evaluate, which renders it with the canary's Model.
package metrics

import (
	"context"
	"errors"
	"time"
)

// Provider runs queries against one metrics backend. Every call is bounded
// by the provider's timeout as well as by ctx.
type Provider interface {
	// Query runs q and returns its single value. The error wraps
	// ErrNoValues when the backend answered without data, and
	// ErrInvalidQuery when the query itself is at fault; any other error
	// means the backend could not answer and the query may be retried.
	Query(ctx context.Context, q string) (float64, error)
	// IsOnline reports whether the backend answers queries.
	IsOnline(ctx context.Context) (bool, error)
}

// RangeQuerier is a Provider that also returns the samples of a query over
// a time range, for the statistical judge. Prometheus implements it.
type RangeQuerier interface {
	// QueryRange runs q at start, start+step, … up to end and returns the
	// values of its single series in time order, NaN left out. The error
	// wraps ErrNoValues when no series came back, ErrInvalidQuery when the
	// query returns several series or is at fault.
	QueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]float64, error)
}

var (
	// ErrNoValues: the query ran and returned no data (an empty vector,
	// NaN, a missing JSON field, no load result yet). Flagger counts it as
	// a failed check; the metric's noDataPolicy may say otherwise.
	ErrNoValues = errors.New("no values found")
	// ErrInvalidQuery: the query or template is wrong (a PromQL parse
	// error, a missing template variable, a range result, an unknown
	// loadtest field, a provider without builtin queries); retrying will
	// not help.
	ErrInvalidQuery = errors.New("invalid query")
)
