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
	// time, in milliseconds (the mean for nginx and skipper).
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
	contourSelector = `envoy_cluster_name=~"{{ namespace }}_{{ service }}-{{ side }}_[0-9a-zA-Z-]+"`
	// Knative's Envoy-based ingress names a cluster after the revision;
	// {{ route }} is the canary revision of a Knative target.
	knativeSelector = `envoy_cluster_name=~"{{ namespace }}/{{ route }}"`
	glooSelector    = `envoy_cluster_name=~"{{ namespace }}-{{ target }}-canaryupstream-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"`
	kumaSelector    = `envoy_cluster_name=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+"`
	traefikSelector = `service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"`
	// skipper names a route after the canary Ingress and its backend, with
	// dashes turned into underscores.
	skipperSelector  = `route=~"kube(ew)?_{{ namespace }}__{{ ingress }}_canary__.*__{{ service }}_canary(_[0-9]+)?"`
	apisixSelector   = `route=~"{{ namespace }}_{{ route }}-{{ target }}-canary_.+"`
	notServerFailure = `!~"5.*"`
	allResponses     = `le="+Inf"`
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
	contourQueries = envoyQueries(contourSelector)
	glooQueries    = envoyQueries(glooSelector)
	kumaQueries    = envoyQueries(kumaSelector)
	// Traefik and skipper count responses in the +Inf bucket of their
	// duration histograms.
	traefikQueries = builtinQueries{
		successRate: successRate("traefik_service_request_duration_seconds_bucket", traefikSelector+","+allResponses, `code!~"5.."`),
		duration:    p99("traefik_service_request_duration_seconds_bucket", traefikSelector) + " * 1000",
	}
	skipperQueries = builtinQueries{
		successRate: successRate("skipper_response_duration_seconds_bucket", skipperSelector+","+allResponses, `code!~"5.."`),
		duration: fmt.Sprintf("%s / %s * 1000",
			sumRate("skipper_serve_route_duration_seconds_sum", skipperSelector),
			sumRate("skipper_serve_route_duration_seconds_count", skipperSelector)),
	}
	apisixQueries = builtinQueries{
		successRate: successRate("apisix_http_status", apisixSelector, `code!~"5.."`),
		duration:    p99("apisix_http_latency_bucket", `type=~"request",`+apisixSelector),
	}
	knativeQueries = builtinQueries{
		successRate: successRate("envoy_cluster_upstream_rq", knativeSelector, `envoy_response_code`+notServerFailure),
		duration:    p99("envoy_cluster_upstream_rq_time_bucket", knativeSelector),
	}
)

// envoyQueries are the queries of the Envoy-based providers, on the
// clusters a selector picks.
func envoyQueries(selector string) builtinQueries {
	return builtinQueries{
		successRate: successRate("envoy_cluster_upstream_rq", selector, `envoy_response_code`+notServerFailure),
		duration:    p99("envoy_cluster_upstream_rq_time_bucket", selector),
	}
}

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
	"knative":             knativeQueries,
	"gloo":                glooQueries,
	"kuma":                kumaQueries,
	"kuma:meshhttproute":  kumaQueries,
	"traefik":             traefikQueries,
	"skipper":             skipperQueries,
	"apisix":              apisixQueries,
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
	if m.side() != SideCanary && canaryOnly[provider] {
		return "", fmt.Errorf("%w: provider %q's builtin %s query cannot tell the %s's traffic from the canary's; compare with a MetricTemplate instead",
			ErrInvalidQuery, provider, metricName, m.side())
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

// canaryOnly are the providers whose builtin queries, as Flagger writes
// them, select the canary by a name only the canary's route or cluster has
// (gloo's and kuma's clusters and traefik's services are named after the
// canary's target, apisix's and skipper's routes after the canary's own
// route object, knative's after the canary revision): they have no form
// for the primary or the baseline.
var canaryOnly = map[string]bool{"gloo": true, "kuma": true, "kuma:meshhttproute": true, "traefik": true,
	"skipper": true, "apisix": true, "knative": true}

// BuiltinProviders lists the provider names with builtin queries, sorted.
func BuiltinProviders() []string { return sortedKeys(builtinProviders) }
