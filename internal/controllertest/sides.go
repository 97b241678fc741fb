package controllertest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/loadtester/load"
	"github.com/warbler-dev/warbler/providers/metrics"
)

// Sides are podinfo processes posing as the pods of a canary's primary,
// baseline and canary in a namespace, scraped every second by a real
// Prometheus through the labels Flagger's bundled Prometheus puts on pods,
// and loaded at a constant rate by the load engine. The canary has several
// variants (a fast and a slow build, say), each its own process; Canary
// chooses the one that poses as the canary's pod and gets its traffic, so a
// test changes what the canary does between releases. The pods of
// Kubernetes (kwok's) serve nothing: these processes are what the metrics
// see.
type Sides struct {
	// Prometheus to set as the canaries' metricsServer.
	Prometheus *testenv.Prometheus
	cfg        SidesConfig
	stable     []testenv.ScrapeTarget
	variants   map[string]*testenv.Podinfo
	ctx        context.Context
	t          testing.TB

	mu      sync.Mutex
	current string
	cancel  context.CancelFunc // of the canary's load
	wg      sync.WaitGroup
}

// SidesConfig describes the processes of Sides.
type SidesConfig struct {
	// Namespace and Target name the pods: <target>-primary-…,
	// <target>-baseline-… and <target>-… in the namespace.
	Namespace, Target string
	// Rate is each side's requests per second (20 when zero).
	Rate float64
	// Duration bounds each load run (15 minutes when zero); every run also
	// ends with the test.
	Duration time.Duration
	// Stable are the podinfo flags of the primary and the baseline;
	// Variants the canary's variants, by name, with their flags.
	Stable   []string
	Variants map[string][]string
}

// StartSides starts the processes and loads the primary and the baseline;
// the canary is not scraped and gets no traffic until Canary is called.
func StartSides(t testing.TB, cfg SidesConfig) *Sides {
	t.Helper()
	if cfg.Rate == 0 {
		cfg.Rate = 20
	}
	if cfg.Duration == 0 {
		cfg.Duration = 15 * time.Minute
	}
	primary := testenv.StartPodinfo(t, cfg.Target+"-primary", cfg.Stable...)
	baseline := testenv.StartPodinfo(t, cfg.Target+"-baseline", cfg.Stable...)
	s := &Sides{cfg: cfg, variants: map[string]*testenv.Podinfo{}, t: t}
	s.stable = []testenv.ScrapeTarget{s.asPod(primary, cfg.Target+"-primary-5d8f7b9c4-x2x1q"), s.asPod(baseline, cfg.Target+"-baseline-6c7d8e9f1-a1b2c")}
	for _, name := range slices.Sorted(maps.Keys(cfg.Variants)) {
		s.variants[name] = testenv.StartPodinfo(t, cfg.Target+"-canary-"+name, cfg.Variants[name]...)
	}
	s.Prometheus = testenv.StartPrometheus(t, time.Second, s.stable...)
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx = ctx
	t.Cleanup(func() { cancel(); s.wg.Wait() })
	s.load(ctx, primary.URL+"/", cfg.Rate)
	s.load(ctx, baseline.URL+"/", cfg.Rate)
	return s
}

func (s *Sides) asPod(p *testenv.Podinfo, pod string) testenv.ScrapeTarget {
	return testenv.ScrapeTarget{Address: strings.TrimPrefix(p.URL, "http://"),
		Labels: map[string]string{"kubernetes_namespace": s.cfg.Namespace, "kubernetes_pod_name": pod}}
}

// Canary makes a variant the canary's pod, scraped as
// <target>-7d9c5f8b6-q8k2m, and sends it the canary's traffic, errorPercent
// of it to /status/500. Only one variant is scraped at a time: podinfo
// counts Prometheus' own scrapes in its latency histogram, so an idle
// variant would still show in the canary's metrics.
func (s *Sides) Canary(variant string, errorPercent int) {
	s.t.Helper()
	p, ok := s.variants[variant]
	if !ok {
		s.t.Fatalf("no canary variant %q", variant)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	if variant != s.current {
		ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
		defer cancel()
		if err := s.Prometheus.Rescrape(ctx, append(slices.Clone(s.stable), s.asPod(p, s.cfg.Target+"-7d9c5f8b6-q8k2m"))...); err != nil {
			s.t.Fatal(err)
		}
		s.current = variant
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.cancel = cancel
	fail := s.cfg.Rate * float64(errorPercent) / 100
	s.load(ctx, p.URL+"/", s.cfg.Rate-fail)
	if fail > 0 {
		s.load(ctx, p.URL+"/status/500", fail)
	}
	// the canary's first tick must find the traffic measured: wait for a
	// rate over 5s of every side
	prom, err := metrics.NewPrometheus(metrics.PrometheusConfig{Address: s.Prometheus.URL})
	if err != nil {
		s.t.Fatal(err)
	}
	pods := append([]string{s.cfg.Target + "-7d9c5f8b6-q8k2m"}, s.stable[0].Labels["kubernetes_pod_name"], s.stable[1].Labels["kubernetes_pod_name"])
	testenv.Eventually(s.t, time.Minute, func() error {
		for _, pod := range pods {
			q := fmt.Sprintf(`sum(rate(http_request_duration_seconds_count{kubernetes_namespace=%q,kubernetes_pod_name=%q,instance=%q}[5s]))`,
				s.cfg.Namespace, pod, strings.TrimPrefix(p.URL, "http://"))
			if pod != pods[0] {
				q = fmt.Sprintf(`sum(rate(http_request_duration_seconds_count{kubernetes_namespace=%q,kubernetes_pod_name=%q}[5s]))`, s.cfg.Namespace, pod)
			}
			if v, err := prom.Query(s.ctx, q); err != nil || v == 0 {
				return fmt.Errorf("no traffic of %s measured yet (%v)", pod, err)
			}
		}
		return nil
	})
}

// load runs the load engine at rate against url, bounded by the
// configured duration and by ctx.
func (s *Sides) load(ctx context.Context, url string, rate float64) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// the report is not needed: Prometheus measures
		_, _ = load.Run(ctx, load.Config{URL: url, Rate: rate, Duration: s.cfg.Duration, Connections: 16, Timeout: 5 * time.Second})
	}()
}

// The queries of the pods Sides poses as, for MetricTemplates: podinfo's
// mean latency in milliseconds and its share of non-5xx responses in
// percent, over {{ interval }}, of {{ target }}'s pods (the canary's, or
// the other side's when a relative check or the judge renders them for
// it).
const (
	podSelector = `kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`

	MeanLatencyQuery = `sum(rate(http_request_duration_seconds_sum{` + podSelector + `}[{{ interval }}])) / ` +
		`sum(rate(http_request_duration_seconds_count{` + podSelector + `}[{{ interval }}])) * 1000`
	SuccessRateQuery = `sum(rate(http_request_duration_seconds_count{` + podSelector + `,status!~"5.*"}[{{ interval }}])) / ` +
		`sum(rate(http_request_duration_seconds_count{` + podSelector + `}[{{ interval }}])) * 100`
)

// Templates are the MetricTemplates "latency" (MeanLatencyQuery) and
// "success" (SuccessRateQuery) in the namespace, on this Prometheus.
func (s *Sides) Templates() []client.Object {
	tmpl := func(name, query string) client.Object {
		return &flaggerv1.MetricTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: s.cfg.Namespace, Name: name},
			Spec: flaggerv1.MetricTemplateSpec{Provider: flaggerv1.MetricTemplateProvider{Type: "prometheus", Address: s.Prometheus.URL}, Query: query}}
	}
	return []client.Object{tmpl("latency", MeanLatencyQuery), tmpl("success", SuccessRateQuery)}
}

// Delay is podinfo's flags for a random delay of min to max milliseconds.
func Delay(min, max int) []string {
	return []string{"--random-delay", "--random-delay-unit", "ms", "--random-delay-min", fmt.Sprint(min), "--random-delay-max", fmt.Sprint(max)}
}
