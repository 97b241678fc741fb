package loadtester

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/loadtester/load"
)

// Metadata keys of a load task. Any other key is an error, so that a typo
// in a budget ("maxp99") cannot switch the budget off unnoticed.
var loadKeys = map[string]string{
	"type":               "load",
	"url":                "the URL to load (http or https), required",
	"method":             "HTTP method, default GET",
	"headers":            `request headers, one "Name: value" per line`,
	"body":               "request body",
	"rate":               "requests per second in total, required",
	"duration":           "how long to send, such as 30s, required",
	"connections":        "most requests in flight, default rate/10 between 2 and 100",
	"timeout":            "timeout of one request from its due time, default 10s",
	"insecureSkipVerify": `"true" to skip TLS certificate verification`,
	"maxErrorRate":       "budget: most failed or dropped requests in percent",
	"maxP99":             "budget: highest p99 latency, such as 250ms",
	"returnCmdOutput":    "accepted for symmetry; the answer always carries the result",
	"logCmdOutput":       `"true" to log the text report`,
}

// loadBudget turns a finished load into a 500 when it exceeds a limit.
type loadBudget struct {
	maxFailurePct float64 // negative: no limit
	maxP99        time.Duration
}

// loadTask is a parsed load task.
type loadTask struct {
	config load.Config
	budget loadBudget
}

// parseLoadTask reads the metadata of a load task; every error names the
// key and what is valid. maxDuration is the task timeout.
func parseLoadTask(md map[string]string, maxDuration time.Duration) (loadTask, error) {
	for k := range md {
		if _, known := loadKeys[k]; !known {
			return loadTask{}, invalid("metadata.%s is not a key of a load task: valid keys are %s",
				k, strings.Join(slices.Sorted(maps.Keys(loadKeys)), ", "))
		}
	}
	p := metaParser{md: md}
	lt := loadTask{config: load.Config{
		URL:                md["url"],
		Method:             cmp.Or(strings.ToUpper(strings.TrimSpace(md["method"])), http.MethodGet),
		Body:               []byte(md["body"]),
		Rate:               p.float("rate", 0, true),
		Duration:           p.duration("duration", 0, true),
		Timeout:            p.duration("timeout", 10*time.Second, false),
		InsecureSkipVerify: p.boolean("insecureSkipVerify"),
	}, budget: loadBudget{
		maxFailurePct: p.float("maxErrorRate", -1, false),
		maxP99:        p.duration("maxP99", 0, false),
	}}
	lt.config.Connections = p.integer("connections", defaultConnections(lt.config.Rate))
	lt.config.Header = p.headers("headers")
	if p.err != nil {
		return loadTask{}, p.err
	}
	if err := lt.config.Validate(); err != nil {
		return loadTask{}, invalid("load task metadata: %v", err)
	}
	if lt.config.Duration > maxDuration {
		return loadTask{}, invalid("metadata.duration %v is longer than the loadtester's task timeout %v (-timeout)", lt.config.Duration, maxDuration)
	}
	if b := lt.budget.maxFailurePct; b > 100 {
		return loadTask{}, invalid("metadata.maxErrorRate %v: want a percentage between 0 and 100", b)
	}
	return lt, nil
}

// defaultConnections gives each connection 100 ms per request at the
// target rate, within 2 to 100.
func defaultConnections(rate float64) int {
	if !(rate > 0) {
		return 2
	}
	return int(min(max(math.Ceil(rate/10), 2), 100))
}

// metaParser reads typed metadata values and keeps the first error.
type metaParser struct {
	md  map[string]string
	err error
}

func (p *metaParser) fail(key, value, want string) {
	if p.err == nil {
		p.err = invalid("metadata.%s %q: want %s", key, value, want)
	}
}

func (p *metaParser) raw(key string, required bool) (string, bool) {
	v := strings.TrimSpace(p.md[key])
	if v == "" && required {
		p.fail(key, v, loadKeys[key])
	}
	return v, v != ""
}

func (p *metaParser) float(key string, def float64, required bool) float64 {
	v, set := p.raw(key, required)
	if !set {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		p.fail(key, v, "a non-negative number")
	}
	return f
}

func (p *metaParser) integer(key string, def int) int {
	v, set := p.raw(key, false)
	if !set {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(key, v, "a whole number")
	}
	return n
}

func (p *metaParser) duration(key string, def time.Duration, required bool) time.Duration {
	v, set := p.raw(key, required)
	if !set {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		p.fail(key, v, "a positive duration such as 30s or 250ms")
	}
	return d
}

func (p *metaParser) boolean(key string) bool {
	v, set := p.raw(key, false)
	if !set {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(key, v, "true or false")
	}
	return b
}

func (p *metaParser) headers(key string) http.Header {
	h := http.Header{}
	for line := range strings.Lines(p.md[key]) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, found := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !found || !validHeaderName(name) {
			p.fail(key, line, `one "Name: value" header per line`)
			continue
		}
		h.Add(name, value)
	}
	return h
}

func validHeaderName(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) < 0
}

// load runs a load task and answers when it is done: 200 with the result
// as JSON, or 500 when the run exceeded its budget. The result is also kept
// for GET /results/{namespace}/{name}.
func (t *Tasks) load(ctx context.Context, task Task) (Result, error) {
	if task.Name == "" || task.Namespace == "" {
		return Result{}, invalid("a load task needs the canary's name and namespace in the payload: its result is kept under them")
	}
	lt, err := parseLoadTask(task.Metadata, t.Timeout)
	if err != nil {
		return Result{}, err
	}
	log := t.log(task)
	log.Info(fmt.Sprintf("task starting load %s %s at %v req/s for %v", lt.config.Method, lt.config.URL, lt.config.Rate, lt.config.Duration))
	rep, runErr := load.Run(ctx, lt.config)
	if rep == nil {
		return Result{}, invalid("load task: %v", runErr)
	}
	res := rep.Result(task.Canary())
	t.Results.Put(res)
	body, _ := json.Marshal(res)
	log.Info(fmt.Sprintf("load summary %s: %d requests, %.1f of %.1f req/s, p50 %vms, p99 %vms, p99.9 %vms, %d errors, %d dropped",
		res.URL, res.Requests, res.AchievedRate, res.TargetRate, res.LatencyMs.P50, res.LatencyMs.P99, res.LatencyMs.P999, res.Errors, res.Dropped),
		"result", json.RawMessage(body))
	if task.flag("logCmdOutput") {
		var text strings.Builder
		_ = rep.WriteText(&text)
		log.Info(text.String())
	}
	if runErr != nil {
		return Result{}, fmt.Errorf("load task for %s stopped before its end: %w", task.Canary(), runErr)
	}
	if verdict := lt.budget.check(rep); verdict != "" {
		log.Error("command failed load " + res.URL + " " + verdict)
		return Result{}, failed("load test of %s exceeded its budget: %s\n%s", task.Canary(), verdict, body)
	}
	log.Info("command finished load " + res.URL)
	return Result{Status: http.StatusOK, Body: string(body)}, nil
}

// check returns why the report exceeds the budget, or "".
func (b loadBudget) check(r *load.Report) string {
	var why []string
	if b.maxFailurePct >= 0 && r.FailureRate() > b.maxFailurePct {
		why = append(why, fmt.Sprintf("error rate %.2f%% (%d errors and %d dropped of %d scheduled) > maxErrorRate %v%%",
			r.FailureRate(), r.Errors, r.Dropped, r.Scheduled, b.maxFailurePct))
	}
	if p99 := r.Latency.Quantile(0.99); b.maxP99 > 0 && p99 > b.maxP99 {
		why = append(why, fmt.Sprintf("p99 latency %v > maxP99 %v", p99, b.maxP99))
	}
	return strings.Join(why, "; ")
}
