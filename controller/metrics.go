package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/metrics"
)

// PrometheusChecks runs metric checks through providers/metrics: the
// builtin checks and inline queries on the metrics server, MetricTemplates
// on their own provider. Providers are kept across ticks.
type PrometheusChecks struct {
	// Templates reads MetricTemplates (the manager's cache).
	Templates client.Reader
	// Secrets reads the Secrets of template providers (around the cache).
	Secrets client.Reader
	// MetricsServer is -metrics-server; MeshProvider is -mesh-provider.
	MetricsServer, MeshProvider string
	// Kube is the client the keptn provider reads KeptnMetrics and runs
	// Analyses with (the manager's client: it reads unstructured objects
	// from the API server). Without it, keptn templates fail.
	Kube client.Client

	once      sync.Once
	providers metrics.Cache
}

var (
	_ MetricRunner    = (*PrometheusChecks)(nil)
	_ ProviderChecker = (*PrometheusChecks)(nil)
)

// ProviderChecker is a MetricRunner that can check that the providers of a
// canary's metrics answer.
type ProviderChecker interface {
	CheckProviders(ctx context.Context, c *flaggerv1.Canary) error
}

// checkProviders runs the providers' online checks while the canary
// initializes, as Flagger does. The outcome is an event ("all the metrics
// providers are available!", or "Error checking metric providers: …");
// it never holds the canary. Flagger sends the event for canaries without
// metrics too; Warbler checks only when there is something to check.
func (t *tick) checkProviders(ctx context.Context) {
	a := t.c.Spec.Analysis
	phase := t.c.Status.Phase
	checker, ok := t.r.Metrics.(ProviderChecker)
	if !ok || a == nil || len(a.Metrics) == 0 || t.c.Spec.SkipAnalysis || t.c.DeletionTimestamp != nil ||
		(phase != "" && phase != flaggerv1.CanaryPhaseInitializing) {
		return
	}
	if err := checker.CheckProviders(ctx, t.c); err != nil {
		t.event(analysis.SeverityError, "Error checking metric providers: "+err.Error())
		return
	}
	t.event(analysis.SeverityInfo, "all the metrics providers are available!")
}

// retryBackoff is the pause before each extra attempt of a failed query;
// maxThrottleWait caps the wait a throttled provider asks for.
const (
	retryBackoff    = 500 * time.Millisecond
	maxThrottleWait = 10 * time.Second
)

// Run queries one metric of a canary, retrying provider errors as many
// times as the metric allows (errorRetries, default 2). A relative check
// (compare) runs the query for the other side too; a judged metric runs
// it over the window for the canary and for the baseline. A provider that
// answers 429 is retried after its Retry-After, up to maxThrottleWait.
func (p *PrometheusChecks) Run(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric, _ string, w analysis.Window) analysis.MetricResult {
	if m.Judge != nil {
		return p.retry(ctx, m, func() (analysis.MetricResult, error) { return p.samples(ctx, c, m, w) })
	}
	r := p.retry(ctx, m, func() (analysis.MetricResult, error) { return p.runOnce(ctx, c, m, metrics.SideCanary) })
	if cmp := m.Compare; cmp != nil {
		side := metrics.SideBaseline
		if cmp.Against == flaggerv1.ComparePrimary {
			side = metrics.SidePrimary
		}
		other := p.retry(ctx, m, func() (analysis.MetricResult, error) { return p.runOnce(ctx, c, m, side) })
		r.Against = &other
	}
	return r
}

// retry runs a query again while the provider fails.
func (p *PrometheusChecks) retry(ctx context.Context, m flaggerv1.CanaryMetric, run func() (analysis.MetricResult, error)) analysis.MetricResult {
	retries := 2
	if m.ErrorRetries != nil {
		retries = *m.ErrorRetries
	}
	var r analysis.MetricResult
	var throttled time.Duration
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return r
			case <-time.After(max(time.Duration(attempt)*retryBackoff, min(throttled, maxThrottleWait))):
			}
		}
		var err error
		r, err = run()
		if r.Outcome != analysis.QueryProviderError {
			break
		}
		throttled, _ = metrics.RetryAfter(err)
	}
	return r
}

// source is where a metric's query runs, and its template.
type source struct {
	prov  metrics.Provider
	query string
	// builtin: query is a builtin metric's name, rendered per side
	builtin string
}

// resolve finds the provider and the query of a metric.
func (p *PrometheusChecks) resolve(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric) (source, error) {
	var src source
	var err error
	switch _, builtin := metrics.BuiltinUnit(m.Name); {
	case builtin:
		src.builtin = metrics.BuiltinProvider(p.MeshProvider, c.Spec.Provider)
		src.prov, err = p.server(c)
	case m.TemplateRef != nil:
		var tmpl *flaggerv1.MetricTemplate
		if tmpl, err = p.template(ctx, c, m.TemplateRef); err == nil {
			src.prov, err = p.templateProvider(ctx, tmpl)
			src.query = tmpl.Spec.Query
		}
	case m.Query != "":
		src.query = m.Query
		src.prov, err = p.server(c)
	default:
		err = fmt.Errorf("%w: no usable metrics template and query were configured", metrics.ErrInvalidQuery)
	}
	return src, err
}

// template returns the query template of one side; a builtin query is
// rendered for the side here, a template by Evaluate.
func (s source) template(name string, model metrics.Model) (string, error) {
	if s.builtin == "" {
		return s.query, nil
	}
	return metrics.BuiltinQuery(s.builtin, name, model)
}

func (p *PrometheusChecks) runOnce(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric, side metrics.Side) (analysis.MetricResult, error) {
	model := metrics.NewModel(c, m).ForSide(side)
	r := analysis.MetricResult{Name: m.Name}
	src, err := p.resolve(ctx, c, m)
	var query string
	if err == nil {
		query, err = src.template(m.Name, model)
	}
	if err == nil {
		var rendered string
		rendered, r.Value, err = metrics.Evaluate(ctx, src.prov, m.Name, query, model)
		r.Query = rendered
	}
	if r.Query == "" {
		r.Query = query
	}
	return classify(r, err), err
}

// samples queries a judged metric over the window for the canary and the
// baseline: one sample per metrics[].interval, each over that interval,
// so that no two share a request. The first sample covers the window's
// first interval. A side without data has no samples.
func (p *PrometheusChecks) samples(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric, w analysis.Window) (analysis.MetricResult, error) {
	r := analysis.MetricResult{Name: m.Name, Samples: &analysis.Samples{}}
	step, err := time.ParseDuration(cmp.Or(m.Interval, metrics.DefaultInterval))
	if err != nil || step <= 0 {
		err = fmt.Errorf("%w: interval %q of a judged metric is not a duration", metrics.ErrInvalidQuery, m.Interval)
		return classify(r, err), err
	}
	start := w.Start.Add(step)
	if w.Start.IsZero() || start.After(w.End) {
		return classify(r, nil), nil
	}
	src, err := p.resolve(ctx, c, m)
	if err != nil {
		return classify(r, err), err
	}
	for _, side := range []metrics.Side{metrics.SideCanary, metrics.SideBaseline} {
		model := metrics.NewModel(c, m).ForSide(side)
		query, err := src.template(m.Name, model)
		var values []float64
		if err == nil {
			var rendered string
			rendered, values, err = metrics.EvaluateRange(ctx, src.prov, m.Name, query, model, start, w.End, step)
			if side == metrics.SideCanary {
				r.Query = rendered
			}
		}
		if err != nil && !errors.Is(err, metrics.ErrNoValues) {
			if side != metrics.SideCanary {
				err = fmt.Errorf("%s: %w", side, err)
			}
			return classify(r, err), err
		}
		if side == metrics.SideCanary {
			r.Samples.Canary = values
		} else {
			r.Samples.Baseline = values
		}
	}
	return classify(r, nil), nil
}

func classify(r analysis.MetricResult, err error) analysis.MetricResult {
	switch {
	case err == nil:
		r.Outcome = analysis.QueryOK
	case errors.Is(err, metrics.ErrNoValues):
		r.Outcome, r.Err = analysis.QueryNoData, err.Error()
	case errors.Is(err, metrics.ErrInvalidQuery):
		r.Outcome, r.Err = analysis.QueryInvalid, err.Error()
	default:
		r.Outcome, r.Err = analysis.QueryProviderError, err.Error()
	}
	return r
}

// server is the Prometheus of builtin and inline queries: spec.metricsServer
// or -metrics-server.
func (p *PrometheusChecks) server(c *flaggerv1.Canary) (metrics.Provider, error) {
	addr := c.Spec.MetricsServer
	if addr == "" {
		addr = p.MetricsServer
	}
	if addr == "" {
		return nil, fmt.Errorf("%w: no metrics server: set spec.metricsServer or the -metrics-server flag", metrics.ErrInvalidQuery)
	}
	return p.providers.Get(flaggerv1.MetricTemplateProvider{Type: metrics.TypePrometheus, Address: addr}, nil)
}

func (p *PrometheusChecks) template(ctx context.Context, c *flaggerv1.Canary, ref *flaggerv1.CrossNamespaceObjectReference) (*flaggerv1.MetricTemplate, error) {
	ns := ref.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	var t flaggerv1.MetricTemplate
	if err := p.Templates.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, &t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("%w: metric template %s.%s not found", metrics.ErrInvalidQuery, ref.Name, ns)
		}
		return nil, err
	}
	return &t, nil
}

// templateProvider builds the provider of a template, with the data of its
// Secret read from the template's namespace.
func (p *PrometheusChecks) templateProvider(ctx context.Context, t *flaggerv1.MetricTemplate) (metrics.Provider, error) {
	var data map[string][]byte
	if ref := t.Spec.Provider.SecretRef; ref != nil {
		var s corev1.Secret
		if err := p.Secrets.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: ref.Name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("%w: secret %s.%s of metric template %s not found", metrics.ErrInvalidQuery, ref.Name, t.Namespace, t.Name)
			}
			return nil, err
		}
		data = s.Data
	}
	p.once.Do(func() { p.providers.Deps = metrics.Deps{Kube: p.Kube} })
	prov, err := p.providers.Get(t.Spec.Provider, data)
	if err != nil {
		return nil, fmt.Errorf("%w: metric template %s.%s: %v", metrics.ErrInvalidQuery, t.Name, t.Namespace, err)
	}
	return prov, nil
}

// CheckProviders runs the online check of every provider the canary's
// metrics use: the metrics server of builtin checks and each template's
// provider. Flagger does this while a canary initializes; the first
// failure is returned, with Flagger's wording.
func (p *PrometheusChecks) CheckProviders(ctx context.Context, c *flaggerv1.Canary) error {
	if c.Spec.Analysis == nil {
		return nil
	}
	for _, m := range c.Spec.Analysis.Metrics {
		if _, builtin := metrics.BuiltinUnit(m.Name); builtin {
			prov, err := p.server(c)
			if err == nil {
				_, err = prov.IsOnline(ctx)
			}
			if err != nil {
				return fmt.Errorf("prometheus not available: %v", err)
			}
			continue
		}
		if m.TemplateRef == nil {
			continue
		}
		t, err := p.template(ctx, c, m.TemplateRef)
		if err != nil {
			return fmt.Errorf("metric template %s error: %v", m.TemplateRef.Name, err)
		}
		prov, err := p.templateProvider(ctx, t)
		if err != nil {
			// the error names the template, its provider and what is wrong
			return err
		}
		if _, err := prov.IsOnline(ctx); err != nil {
			return fmt.Errorf("%s in metric template %s.%s not available: %v", t.Spec.Provider.Type, t.Name, t.Namespace, err)
		}
	}
	return nil
}
