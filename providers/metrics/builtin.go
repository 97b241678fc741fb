package metrics

import (
	"fmt"
	"strings"
)

// The builtin metrics: a canary metric with one of these names runs the
// query of its traffic provider on the metrics server, whatever else the
// metric says.
const (
	// RequestSuccessRate is the share of non-5xx responses of the canary,
	// in percent (0–100).
	RequestSuccessRate = "request-success-rate"
	// RequestDuration is the 99th percentile of the canary's response
	// time, in milliseconds (the mean for nginx).
	RequestDuration = "request-duration"
)

// Unit is the unit of a builtin metric's value.
type Unit string

// The units of the builtin metrics.
const (
	Percent      Unit = "percent"
	Milliseconds Unit = "ms"
)

// BuiltinUnit returns the unit of a builtin metric's value, and false when
// name is not a builtin metric.
func BuiltinUnit(name string) (Unit, bool) {
	switch name {
	case RequestSuccessRate:
		return Percent, true
	case RequestDuration:
		return Milliseconds, true
	}
	return "", false
}

// builtinQueries are the two query templates of one family of providers.
type builtinQueries struct {
	successRate, duration string
}

// The selectors of each family match Flagger's, so that recording rules and
// dashboards built for Flagger's queries keep matching.
const (
	// Application-exported metrics (podinfo, the Prometheus Go client's
	// conventions) relabelled by pod, as Flagger's bundled Prometheus does.
	appSelector     = `kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"`
	istioSelector   = `reporter="destination",destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"`
	linkerdSelector = `namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"`
	nginxSelector   = `namespace="{{ namespace }}",ingress="{{ ingress }}",canary!=""`
	// Contour's clusters are named after the services: <svc>-canary,
	// <svc>-primary, <svc>-baseline.
	contourSelector  = `envoy_cluster_name=~"{{ namespace }}_{{ service }}-{{ side }}_[0-9a-zA-Z-]+"`
	notServerFailure = `!~"5.*"`
)

var (
	appQueries = builtinQueries{
		successRate: successRate("http_request_duration_seconds_count", appSelector, `status`+notServerFailure),
		// Flagger multiplies this one by 1000 in Go; doing it in PromQL
		// keeps the recorded query and its value in the same unit.
		duration: p99("http_request_duration_seconds_bucket", appSelector) + " * 1000",
	}
	istioQueries = builtinQueries{
		successRate: successRate("istio_requests_total", istioSelector, `response_code`+notServerFailure),
		duration:    p99("istio_request_duration_milliseconds_bucket", istioSelector),
	}
	linkerdQueries = builtinQueries{
		successRate: successRate("response_total", linkerdSelector, `classification!="failure"`),
		duration:    p99("response_latency_ms_bucket", linkerdSelector),
	}
	nginxQueries = builtinQueries{
		successRate: successRate("nginx_ingress_controller_requests", nginxSelector, `status`+notServerFailure),
		duration: fmt.Sprintf("%s / %s * 1000",
			sumRate("nginx_ingress_controller_response_duration_seconds_sum", nginxSelector),
			sumRate("nginx_ingress_controller_response_duration_seconds_count", nginxSelector)),
	}
	contourQueries = builtinQueries{
		successRate: successRate("envoy_cluster_upstream_rq", contourSelector, `envoy_response_code`+notServerFailure),
		duration:    p99("envoy_cluster_upstream_rq_time_bucket", contourSelector),
	}
)

func sumRate(metric, selector string) string {
	return fmt.Sprintf("sum(rate(%s{%s}[{{ interval }}]))", metric, selector)
}

func successRate(metric, selector, success string) string {
	return fmt.Sprintf("%s / %s * 100", sumRate(metric, selector+","+success), sumRate(metric, selector))
}

func p99(bucket, selector string) string {
	return fmt.Sprintf("histogram_quantile(0.99, sum(rate(%s{%s}[{{ interval }}])) by (le))", bucket, selector)
}

// builtinProviders lists, for each provider name with builtin queries, the
// family it uses. Names not listed here have no builtin queries.
var builtinProviders = map[string]builtinQueries{
	"kubernetes":          appQueries,
	"kubernetes:replicas": appQueries,
	"gatewayapi:v1":       appQueries,
	"gatewayapi:v1beta1":  appQueries,
	"istio":               istioQueries,
	"linkerd":             linkerdQueries,
	"nginx":               nginxQueries,
	"contour":             contourQueries,
}

// queriesFor finds the builtin queries of a provider. Any provider whose
// name contains "linkerd" uses Linkerd's queries, as in Flagger.
func queriesFor(provider string) (builtinQueries, bool) {
	if q, ok := builtinProviders[provider]; ok {
		return q, true
	}
	if strings.Contains(provider, "linkerd") {
		return linkerdQueries, true
	}
	return builtinQueries{}, false
}

// BuiltinProvider picks the provider whose builtin queries a canary uses:
// the canary's spec.provider, or else the controller's -mesh-provider; a
// mesh provider containing "linkerd" wins over spec.provider, as in Flagger.
func BuiltinProvider(meshProvider, canaryProvider string) string {
	switch {
	case strings.Contains(meshProvider, "linkerd"):
		return "linkerd"
	case canaryProvider != "":
		return canaryProvider
	}
	return meshProvider
}

// BuiltinQuery renders the builtin query of metricName for a provider and
// canary. The result is in the metric's BuiltinUnit. Unlike Flagger, which
// silently runs Istio's queries for providers it has none for (and then
// finds no values), an unknown provider or metric is an error wrapping
// ErrInvalidQuery that names the valid ones.
func BuiltinQuery(provider, metricName string, m Model) (string, error) {
	if provider == "" {
		return "", fmt.Errorf("%w: no traffic provider for the builtin %s query; set spec.provider or the -mesh-provider flag", ErrInvalidQuery, metricName)
	}
	qs, ok := queriesFor(provider)
	if !ok {
		hint := "use a MetricTemplate (templateRef) instead"
		if strings.HasPrefix(provider, "smi:") {
			// An SMI version does not say which mesh exports the metrics.
			// Flagger's rule that a mesh provider containing "linkerd" wins
			// covers Linkerd installs (see BuiltinProvider).
			hint = "an SMI version does not say which mesh exports the metrics: run with -mesh-provider=linkerd, or " + hint
		}
		return "", fmt.Errorf("%w: provider %q has no builtin %s query; builtin queries exist for %s, "+
			"and any provider containing \"linkerd\"; %s",
			ErrInvalidQuery, provider, metricName, strings.Join(BuiltinProviders(), ", "), hint)
	}
	var tmpl string
	switch metricName {
	case RequestSuccessRate:
		tmpl = qs.successRate
	case RequestDuration:
		tmpl = qs.duration
	default:
		return "", fmt.Errorf("%w: metric %q is not builtin; the builtin metrics are %s and %s",
			ErrInvalidQuery, metricName, RequestDuration, RequestSuccessRate)
	}
	q, err := Render(provider+" "+metricName, tmpl, m)
	if err != nil || m.side() == SideCanary {
		return q, err
	}
	// a query that reads the same for the other side would compare the
	// canary with itself and always pass
	canary, err := Render(provider+" "+metricName, tmpl, m.canary())
	if err == nil && canary == q {
		return "", fmt.Errorf("%w: provider %q's builtin %s query cannot tell the %s's traffic from the canary's; compare with a MetricTemplate instead",
			ErrInvalidQuery, provider, metricName, m.side())
	}
	return q, err
}

// BuiltinProviders lists the provider names with builtin queries, sorted.
func BuiltinProviders() []string { return sortedKeys(builtinProviders) }
