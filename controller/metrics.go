package controller

import (
	"context"
	"errors"
	"fmt"
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

	providers metrics.Cache
}

var _ MetricRunner = (*PrometheusChecks)(nil)

// retryBackoff is the pause before each extra attempt of a failed query.
const retryBackoff = 500 * time.Millisecond

// Run queries one metric of a canary, retrying provider errors as many
// times as the metric allows (errorRetries, default 2).
func (p *PrometheusChecks) Run(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric, provider string) analysis.MetricResult {
	retries := 2
	if m.ErrorRetries != nil {
		retries = *m.ErrorRetries
	}
	var r analysis.MetricResult
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return r
			case <-time.After(time.Duration(attempt) * retryBackoff):
			}
		}
		r = p.runOnce(ctx, c, m)
		if r.Outcome != analysis.QueryProviderError {
			break
		}
	}
	return r
}

func (p *PrometheusChecks) runOnce(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric) analysis.MetricResult {
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
	return classify(r, err)
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
	prov, err := p.providers.Get(t.Spec.Provider, data)
	if err != nil {
		return nil, fmt.Errorf("%w: metric template %s.%s: %v", metrics.ErrInvalidQuery, t.Name, t.Namespace, err)
	}
	return prov, nil
}
