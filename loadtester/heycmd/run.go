package heycmd

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rakyll/hey/requester"

	"github.com/warbler-dev/warbler/webhooks"
)

// MaxBodyFile bounds what -D may read.
const MaxBodyFile = 10 << 20

// Summary is what hey measured. Its numbers are hey's own: Requests counts
// responses and errors alike, and latencies run from the actual send.
type Summary struct {
	URL, Method       string
	Started, Finished time.Time
	// Workers and QPS (per worker) as given.
	Workers int
	QPS     float64
	// Requests is hey's count of finished requests, errors included.
	Requests int64
	RPS      float64
	// Latency percentiles of the successful requests (hey keeps the first
	// million), zero when none succeeded.
	P50, P90, P99          time.Duration
	Fastest, Slowest, Mean time.Duration
	// StatusCodes of the responses and Errors by message.
	StatusCodes map[int]int64
	Errors      map[string]int64
	Notes       []string
}

// ErrorCount is the number of requests that failed: transport errors and
// 5xx responses (hey itself counts neither as a failure).
func (s *Summary) ErrorCount() int64 {
	var n int64
	for _, c := range s.Errors {
		n += c
	}
	for code, c := range s.StatusCodes {
		if code >= 500 {
			n += c
		}
	}
	return n
}

// Run sends the load described by c and blocks until it is done, -z has
// elapsed, or ctx ends; in-flight requests are cancelled with ctx.
func Run(ctx context.Context, c *Command) (*Summary, error) {
	body, err := c.body()
	if err != nil {
		return nil, err
	}
	req, err := c.request(ctx, body)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := &requester.Work{
		Request: req, RequestBody: body, N: c.N, C: c.C, QPS: c.QPS, Timeout: c.Timeout,
		H2: c.H2, DisableCompression: c.DisableCompression, DisableKeepAlives: c.DisableKeepAlives,
		DisableRedirects: c.DisableRedirects, ProxyAddr: c.Proxy,
		Output: summaryTemplate, Writer: &out,
	}
	// Stop must follow Init, and must run at most once: its second call
	// would block forever on hey's stop channel.
	w.Init()
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(w.Stop) }
	finished := make(chan struct{})
	go stopWhenDone(ctx, c.Duration, stop, finished)

	started := time.Now()
	w.Run()
	close(finished)
	s, err := parseSummary(out.Bytes())
	if err != nil {
		return nil, err
	}
	s.URL, s.Method, s.Workers, s.QPS, s.Notes = c.URL, c.Method, c.C, c.QPS, c.Notes
	s.Started, s.Finished = started, time.Now()
	return s, nil
}

// stopWhenDone is hey's -z: stop the workers when the duration is over, or
// when ctx ends first.
func stopWhenDone(ctx context.Context, d time.Duration, stop func(), finished <-chan struct{}) {
	var elapsed <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		elapsed = t.C
	}
	select {
	case <-finished:
	case <-elapsed:
		stop()
	case <-ctx.Done():
		stop()
	}
}

func (c *Command) body() ([]byte, error) {
	if c.BodyFile == "" {
		return c.Body, nil
	}
	f, err := os.Open(c.BodyFile)
	if err != nil {
		return nil, fmt.Errorf("hey -D: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBodyFile+1))
	if err != nil {
		return nil, fmt.Errorf("hey -D %s: %w", c.BodyFile, err)
	}
	if len(data) > MaxBodyFile {
		return nil, fmt.Errorf("hey -D %s: the body file is larger than %d bytes", c.BodyFile, MaxBodyFile)
	}
	return data, nil
}

// request is the template hey clones for every request. Its context is the
// task's, so cancelling the task cancels requests in flight.
func (c *Command) request(ctx context.Context, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, c.Method, c.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("hey: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.Header = c.Header.Clone()
	if c.User != "" || c.Password != "" {
		req.SetBasicAuth(c.User, c.Password)
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	return req, nil
}

// summaryTemplate makes hey render its report as JSON instead of text: hey
// exports its Report type but never returns it, and a custom Output is a
// template over it. The per-request latency arrays are left out.
const summaryTemplate = `{"requests":{{.NumRes}},"rps":{{.Rps}},"fastest":{{.Fastest}},"slowest":{{.Slowest}},` +
	`"sum":{{.AvgTotal}},"timed":{{len .Lats}},"percentiles":{{jsonify .LatencyDistribution}},` +
	`"codes":{{jsonify .StatusCodeDist}},"errors":{{jsonify .ErrorDist}}}`

type rawSummary struct {
	Requests    int64   `json:"requests"`
	RPS         float64 `json:"rps"`
	Fastest     float64 `json:"fastest"`
	Slowest     float64 `json:"slowest"`
	Sum         float64 `json:"sum"`
	Timed       int64   `json:"timed"`
	Percentiles []struct {
		Percentage int
		Latency    float64
	} `json:"percentiles"`
	Codes  map[string]int64 `json:"codes"`
	Errors map[string]int64 `json:"errors"`
}

func parseSummary(out []byte) (*Summary, error) {
	var raw rawSummary
	if err := json.Unmarshal(bytes.TrimSpace(out), &raw); err != nil {
		return nil, fmt.Errorf("hey: reading its summary %q: %w", truncate(out, 300), err)
	}
	s := &Summary{
		Requests: raw.Requests, RPS: raw.RPS,
		Fastest: seconds(raw.Fastest), Slowest: seconds(raw.Slowest),
		StatusCodes: map[int]int64{}, Errors: raw.Errors,
	}
	if raw.Timed > 0 {
		s.Mean = seconds(raw.Sum / float64(raw.Timed))
	}
	for _, p := range raw.Percentiles {
		switch p.Percentage {
		case 50:
			s.P50 = seconds(p.Latency)
		case 90:
			s.P90 = seconds(p.Latency)
		case 99:
			s.P99 = seconds(p.Latency)
		}
	}
	// hey leaves out the percentiles its samples do not reach (p90 and p99
	// of fewer than 10 and 100 requests): the slowest request is the
	// closest it measured to them
	if raw.Timed > 0 {
		for _, p := range []*time.Duration{&s.P50, &s.P90, &s.P99} {
			if *p == 0 {
				*p = s.Slowest
			}
		}
	}
	for code, n := range raw.Codes {
		if c, err := strconv.Atoi(code); err == nil {
			s.StatusCodes[c] = n
		}
	}
	if s.Errors == nil {
		s.Errors = map[string]int64{}
	}
	return s, nil
}

func seconds(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Result renders the summary as the loadtester's wire type, so a hey run is
// readable at /results like a load task (with Generator "hey").
func (s *Summary) Result(canary string) webhooks.LoadResult {
	codes := webhooks.StatusCounts(s.StatusCodes, s.Errors)
	r := webhooks.LoadResult{
		Canary: canary, Generator: "hey", URL: s.URL, Method: s.Method,
		Started: s.Started, Finished: s.Finished,
		TargetRate: s.QPS * float64(s.Workers), AchievedRate: round(s.RPS),
		Requests: s.Requests, Errors: s.ErrorCount(), StatusCodes: codes,
		LatencyMs: webhooks.Latency{
			P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), Max: ms(s.Slowest), Mean: ms(s.Mean),
		},
	}
	if len(s.Errors) > 0 {
		r.TransportErrors = topErrors(s.Errors, 10)
	}
	if s.Requests > 0 {
		r.ErrorRate = round(100 * float64(r.Errors) / float64(s.Requests))
	}
	return r
}

// topErrors keeps the n most frequent messages and counts the rest as
// "other": hey's messages carry port numbers, so their kinds are unbounded.
func topErrors(errs map[string]int64, n int) map[string]int64 {
	if len(errs) <= n {
		return maps.Clone(errs)
	}
	msgs := slices.SortedFunc(maps.Keys(errs), func(a, b string) int {
		return cmp.Or(cmp.Compare(errs[b], errs[a]), strings.Compare(a, b))
	})
	out := make(map[string]int64, n+1)
	for i, m := range msgs {
		if i < n {
			out[m] = errs[m]
		} else {
			out["other"] += errs[m]
		}
	}
	return out
}

func ms(d time.Duration) float64 { return round(float64(d) / float64(time.Millisecond)) }
func round(v float64) float64    { return float64(int64(v*1000+0.5)) / 1000 }
