// Package load is an open-model HTTP load generator: it sends requests at a
// constant global rate whatever the server does, and measures each latency
// from the time the request was due, not from when a connection was free
// to send it. A server that stalls therefore shows the stall in its
// percentiles instead of slowing the generator down with it (the
// "coordinated omission" of closed-loop tools such as hey and wrk).
//
// It is a library: build a Config, call Run, and render the Report.
package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// timerSlack is the wake-up lateness of an idle worker that is not counted
// in a latency.
const timerSlack = time.Millisecond

// Limits of a Config. They bound what one webhook call can ask of the
// loadtester, not what a server can take.
const (
	MaxRate        = 1_000_000
	MaxConnections = 10_000
)

// Config is one load run.
type Config struct {
	// URL to load; http or https.
	URL string
	// Method; GET when empty.
	Method string
	// Header is sent with every request. A "Host" entry sets the Host.
	Header http.Header
	// Body is sent with every request.
	Body []byte
	// Rate is the total number of requests per second, spread evenly over
	// time and over the connections (not per connection, unlike hey's -q).
	Rate float64
	// Duration of the run. Rate×Duration requests are scheduled, rounded
	// down; none of them is dropped without being counted.
	Duration time.Duration
	// Connections bounds the requests in flight (and the TCP connections).
	// When every connection is busy, due requests wait and their wait counts
	// in their latency.
	Connections int
	// Timeout of one request, counted from the time it was due: a request
	// that waited for a free connection has that much less time, and one
	// that could not even be sent in that time is counted as dropped.
	Timeout time.Duration
	// InsecureSkipVerify turns off TLS certificate verification, which is on
	// by default (hey always turns it off).
	InsecureSkipVerify bool
}

// Validate checks c and names the first field that is wrong.
func (c *Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return errors.New("url is required")
	case err != nil:
		return fmt.Errorf("url %q: %w", c.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url %q: scheme must be http or https", c.URL)
	case u.Host == "":
		return fmt.Errorf("url %q: host is missing", c.URL)
	case c.Method != "" && !validMethod(c.Method):
		return fmt.Errorf("method %q is not a valid HTTP method token", c.Method)
	case !(c.Rate > 0 && c.Rate <= MaxRate):
		return fmt.Errorf("rate %v: must be more than 0 and at most %d requests per second", c.Rate, MaxRate)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: must be positive", c.Duration)
	case c.Connections < 1 || c.Connections > MaxConnections:
		return fmt.Errorf("connections %d: must be between 1 and %d", c.Connections, MaxConnections)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %v: must be positive", c.Timeout)
	case c.Rate*c.Duration.Seconds() < 1:
		return fmt.Errorf("rate %v for duration %v schedules no request: rate×duration must be at least 1", c.Rate, c.Duration)
	}
	return nil
}

func validMethod(m string) bool {
	return m != "" && strings.IndexFunc(m, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) < 0
}

// Run sends the load and returns its report. It returns early, with what it
// measured so far and the requests it did not send counted as dropped, when
// ctx ends; the error is then ctx's.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r, err := newRun(cfg)
	if err != nil {
		return nil, err
	}

	// a few shards, each with its lock, so that workers rarely wait for
	// one another and memory does not grow with the connections
	shards := make([]*shard, min(cfg.Connections, 4*runtime.GOMAXPROCS(0)))
	for i := range shards {
		shards[i] = &shard{agg: newAggregator(&cfg)}
	}
	r.start = time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Connections {
		wg.Go(func() { r.work(ctx, shards[i%len(shards)]) })
	}
	wg.Wait()

	agg := newAggregator(&cfg)
	for _, s := range shards {
		agg.merge(s.agg.report)
	}
	rep := agg.report
	rep.Started, rep.Finished = r.start, time.Now()
	rep.Scheduled = r.total
	// tickets nobody claimed before ctx ended were never sent either
	rep.Dropped += r.total - min(r.next.Load(), r.total)
	return rep, ctx.Err()
}

// run is the shared state of the workers: the schedule and a ticket counter.
// Each worker claims the next ticket, waits until it is due, sends it, and
// claims another; no goroutine paces the others, so there is no queue to
// overflow and nothing to lock.
type run struct {
	cfg      Config
	target   *target
	start    time.Time
	interval float64 // nanoseconds between two due times
	total    int64
	next     atomic.Int64
}

func newRun(cfg Config) (*run, error) {
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	// a "Host" header sets the Host, as it does in curl and hey
	host := cfg.Header.Get("Host")
	header := cfg.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Del("Host")
	cfg.Header = header
	t, err := newTarget(&cfg, host)
	if err != nil {
		return nil, err
	}
	return &run{
		cfg:      cfg,
		target:   t,
		interval: float64(time.Second) / cfg.Rate,
		total:    int64(cfg.Rate * cfg.Duration.Seconds()),
	}, nil
}

// outcome is one scheduled request, as a worker saw it.
type outcome struct {
	latency time.Duration // to the end of the body, from the due time if it queued
	code    int           // 0 when no response arrived
	err     string        // transport error, when code is 0
	timeout bool          // the error was the request's deadline
	dropped bool          // never sent: it was already Timeout late
	sentAt  time.Duration // when it was sent, from the start of the run
}

// shard is the part of the report some workers record into.
type shard struct {
	mu  sync.Mutex
	agg *aggregator
}

func (s *shard) add(o outcome) {
	s.mu.Lock()
	s.agg.add(o)
	s.mu.Unlock()
}

func (r *run) work(ctx context.Context, results *shard) {
	c := &conn{t: r.target}
	defer c.close()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		i := r.next.Add(1) - 1
		if i >= r.total {
			return
		}
		due := r.start.Add(time.Duration(float64(i) * r.interval))
		// Latency runs from the due time. One exception: a worker that was
		// idle, only sleeping until the due time, may wake up to about a
		// millisecond late (Go's timers, when the scheduler idles); that
		// much is the generator's own jitter and is not billed to the
		// server. Any longer lateness, and all waiting for a busy
		// connection, counts.
		clock := due
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				results.add(outcome{dropped: true})
				return
			}
			if woke := time.Now(); woke.Before(due.Add(timerSlack)) {
				clock = woke
			} else {
				clock = due.Add(timerSlack)
			}
		}
		if ctx.Err() != nil {
			results.add(outcome{dropped: true})
			return
		}
		results.add(r.send(ctx, c, due, clock))
	}
}

// send makes the request due at due on c; its latency runs from clock.
func (r *run) send(ctx context.Context, c *conn, due, clock time.Time) outcome {
	deadline := due.Add(r.cfg.Timeout)
	if !time.Now().Before(deadline) {
		return outcome{dropped: true}
	}
	sentAt := time.Since(r.start)
	code, err := c.do(ctx, deadline)
	if err == nil {
		return outcome{latency: time.Since(clock), code: code, sentAt: sentAt}
	}
	return outcome{latency: time.Since(clock), err: transportError(err), timeout: isTimeout(err), sentAt: sentAt}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// transportError names the failure without the details that differ from
// one request to the next (ports, addresses of the timeout), so that the
// same failure counts as one kind.
func transportError(err error) string {
	if isTimeout(err) {
		return "timeout (request deadline exceeded)"
	}
	// without the local address: its port differs on every connection
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		return fmt.Sprintf("%s %s %s: %v", op.Op, op.Net, op.Addr, op.Err)
	}
	return err.Error()
}
