package controller

import (
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
// times as the metric allows (errorRetries, default 2). A provider that
// answers 429 is retried after its Retry-After, up to maxThrottleWait.
func (p *PrometheusChecks) Run(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric, provider string) analysis.MetricResult {
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
		r, err = p.runOnce(ctx, c, m)
		if r.Outcome != analysis.QueryProviderError {
			break
		}
		throttled, _ = metrics.RetryAfter(err)
	}
	return r
}

func (p *PrometheusChecks) runOnce(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric) (analysis.MetricResult, error) {
	model := metrics.NewModel(c, m)
	r := analysis.MetricResult{Name: m.Name}
	var prov metrics.Provider
	var query string
	var err error
	switch _, builtin := metrics.BuiltinUnit(m.Name); {
	case builtin:
		query, err = metrics.BuiltinQuery(metrics.BuiltinProvider(p.MeshProvider, c.Spec.Provider), m.Name, model)
		if err == nil {
			prov, err = p.server(c)
		}
	case m.TemplateRef != nil:
		var tmpl *flaggerv1.MetricTemplate
		if tmpl, err = p.template(ctx, c, m.TemplateRef); err == nil {
			prov, err = p.templateProvider(ctx, tmpl)
			query = tmpl.Spec.Query
		}
	case m.Query != "":
		query = m.Query
		prov, err = p.server(c)
	default:
		err = fmt.Errorf("%w: no usable metrics template and query were configured", metrics.ErrInvalidQuery)
	}
	if err == nil {
		var rendered string
		rendered, r.Value, err = metrics.Evaluate(ctx, prov, m.Name, query, model)
		r.Query = rendered
	}
	if r.Query == "" {
		r.Query = query
	}
	return classify(r, err), err
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
