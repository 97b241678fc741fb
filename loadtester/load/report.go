package load

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/warbler-dev/warbler/webhooks"
)

// Report is what a run measured.
type Report struct {
	URL    string
	Method string
	// Started and Finished bound the run, including the last responses.
	Started, Finished time.Time
	// Duration is the configured schedule; TargetRate its rate.
	Duration   time.Duration
	TargetRate float64
	// LastSent is when the last request was sent, from the start. It
	// passes Duration when the generator fell behind and worked through
	// late requests after the schedule's end.
	LastSent time.Duration
	// Scheduled = Requests + Dropped.
	Scheduled int64
	// Requests that were sent.
	Requests int64
	// Errors: transport errors (timeouts included) and 5xx responses.
	Errors int64
	// Dropped requests were never sent: the run was cancelled before their
	// time, or the generator fell so far behind (starved of CPU) that their
	// whole timeout had passed before it could send them. A busy server
	// does not cause drops: requests queued behind busy connections are
	// sent late, and their wait counts in their latency and timeout.
	Dropped int64
	// StatusCodes counts responses by status code.
	StatusCodes map[int]int64
	// TransportErrors counts requests that got no response, by error; at
	// most maxErrorKinds kinds, the rest under "other".
	TransportErrors map[string]int64
	// Latency from the due time to the end of the response body, for every
	// response and every timeout (a timeout is recorded at the time it
	// gave up); other transport errors, which fail fast, are left out.
	Latency Histogram
}

const maxErrorKinds = 10

// AchievedRate is the number of requests sent per second: over the
// schedule, or over the time it took to send them when that was longer.
func (r *Report) AchievedRate() float64 {
	span := max(r.Duration, r.LastSent)
	if span <= 0 {
		return 0
	}
	return float64(r.Requests) / span.Seconds()
}

// ErrorRate is Errors/Requests in percent; 0 when nothing was sent.
func (r *Report) ErrorRate() float64 {
	if r.Requests == 0 {
		return 0
	}
	return 100 * float64(r.Errors) / float64(r.Requests)
}

// FailureRate is (Errors+Dropped)/Scheduled in percent: what a budget
// checks, so that a server that holds every connection cannot hide behind
// requests that were never sent. 100 when nothing was scheduled.
func (r *Report) FailureRate() float64 {
	if r.Scheduled == 0 {
		return 100
	}
	return 100 * float64(r.Errors+r.Dropped) / float64(r.Scheduled)
}

// aggregator builds a Report from outcomes; during a run each shard of
// workers has one, and the run merges them when the workers are done.
type aggregator struct {
	report *Report
}

func newAggregator(cfg *Config) *aggregator {
	method := cfg.Method
	if method == "" {
		method = "GET"
	}
	return &aggregator{report: &Report{
		URL: cfg.URL, Method: method, Duration: cfg.Duration, TargetRate: cfg.Rate,
		StatusCodes: map[int]int64{}, TransportErrors: map[string]int64{},
	}}
}

// merge adds another worker's counts.
func (a *aggregator) merge(o *Report) {
	r := a.report
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Dropped += o.Dropped
	r.LastSent = max(r.LastSent, o.LastSent)
	for code, n := range o.StatusCodes {
		r.StatusCodes[code] += n
	}
	for _, msg := range slices.Sorted(maps.Keys(o.TransportErrors)) {
		a.countErrors(msg, o.TransportErrors[msg])
	}
	r.Latency.Merge(&o.Latency)
}

func (a *aggregator) add(o outcome) {
	r := a.report
	if o.dropped {
		r.Dropped++
		return
	}
	r.Requests++
	r.LastSent = max(r.LastSent, o.sentAt)
	if o.code == 0 {
		r.Errors++
		a.countError(o.err)
		if o.timeout {
			r.Latency.Record(o.latency)
		}
		return
	}
	if o.code >= 500 {
		r.Errors++
	}
	r.StatusCodes[o.code]++
	r.Latency.Record(o.latency)
}

func (a *aggregator) countError(msg string) { a.countErrors(msg, 1) }

func (a *aggregator) countErrors(msg string, n int64) {
	errs := a.report.TransportErrors
	if _, known := errs[msg]; !known && len(errs) >= maxErrorKinds {
		msg = "other"
	}
	errs[msg] += n
}

// Result renders the report as the loadtester's wire type, the JSON served
// at /results/{namespace}/{name} and read by the loadtest metric provider.
func (r *Report) Result(canary string) webhooks.LoadResult {
	codes := webhooks.StatusCounts(r.StatusCodes, r.TransportErrors)
	return webhooks.LoadResult{
		Canary: canary, Generator: "load", URL: r.URL, Method: r.Method,
		Started: r.Started, Finished: r.Finished,
		TargetRate: r.TargetRate, AchievedRate: round(r.AchievedRate()),
		Requests: r.Requests, Errors: r.Errors, Dropped: r.Dropped,
		ErrorRate: round(r.ErrorRate()), StatusCodes: codes,
		TransportErrors: maps.Clone(r.TransportErrors),
		LatencyMs: webhooks.Latency{
			P50: ms(r.Latency.Quantile(0.50)), P90: ms(r.Latency.Quantile(0.90)),
			P99: ms(r.Latency.Quantile(0.99)), P999: ms(r.Latency.Quantile(0.999)),
			Max: ms(r.Latency.Max()), Mean: ms(r.Latency.Mean()),
		},
	}
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }

// round keeps three decimals: microseconds for milliseconds, and enough
// for rates and percentages.
func round(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// WriteText renders the report for people, in the spirit of hey's summary.
func (r *Report) WriteText(w io.Writer) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("Load %s %s\n", r.Method, r.URL)
	p("  Schedule:\t%.1f req/s for %v (%d requests)\n", r.TargetRate, r.Duration, r.Scheduled)
	p("  Achieved:\t%.1f req/s (%d sent, %d dropped)\n", r.AchievedRate(), r.Requests, r.Dropped)
	p("  Errors:\t%d (%.2f%%)\n", r.Errors, r.ErrorRate())
	p("\nLatency from the due time:\n")
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		p("  p%-5v\t%v\n", q*100, r.Latency.Quantile(q))
	}
	p("  max\t%v\n  mean\t%v\n", r.Latency.Max(), r.Latency.Mean())
	p("\nStatus codes:\n")
	for _, c := range slices.Sorted(maps.Keys(r.StatusCodes)) {
		p("  [%d]\t%d responses\n", c, r.StatusCodes[c])
	}
	if len(r.TransportErrors) > 0 {
		p("\nTransport errors:\n")
		for _, e := range slices.Sorted(maps.Keys(r.TransportErrors)) {
			p("  [%d]\t%s\n", r.TransportErrors[e], e)
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}
