package charts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// Every PromQL expression of the chart's Grafana dashboard, taken from
// the ConfigMap a Helm install created, returns series from a real
// Prometheus that scrapes the chart's controller (run as a process with
// the release's identity) in the middle of a release, after one release
// was promoted and one rolled back.
func TestGrafanaDashboardQueriesReturnSeries(t *testing.T) {
	ns := env.Namespace(t)
	cfg := helmConfig(t, ns)
	install := action.NewInstall(cfg)
	install.ReleaseName, install.Namespace = "warbler", ns
	if _, err := install.Run(loadChart(t, warbler), map[string]any{"namespace": ns, "meshProvider": "kubernetes:replicas",
		"grafanaDashboard": map[string]any{"enabled": true}}); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() { _, _ = action.NewUninstall(cfg).Run("warbler") })
	dash := installedDashboard(t, ns)

	// the chart's arguments, with ticks every second as the canary asks
	controller := runContainer(t, ns, "warbler", "-min-analysis-interval=1s")
	controller.waitLog(t, "Starting workers")
	primary, canary := testenv.StartPodinfo(t, "podinfo-primary"), testenv.StartPodinfo(t, "podinfo-canary")
	prom := testenv.StartPrometheus(t, time.Second,
		testenv.ScrapeTarget{Address: strings.TrimPrefix(controller.url, "http://")},
		testenv.ScrapeTarget{Address: strings.TrimPrefix(primary.URL, "http://"), Labels: map[string]string{"kubernetes_namespace": ns, "kubernetes_pod_name": "podinfo-primary-5d8f7b-x2x1q"}},
		testenv.ScrapeTarget{Address: strings.TrimPrefix(canary.URL, "http://"), Labels: map[string]string{"kubernetes_namespace": ns, "kubernetes_pod_name": "podinfo-7d9c5f-q8k2m"}})
	testenv.StartTraffic(t, canary.URL, 10)
	// the builtin checks need a rate of the canary's requests
	testenv.Eventually(t, 60*time.Second, func() error {
		q := fmt.Sprintf(`rate(http_request_duration_seconds_count{kubernetes_namespace=%q}[15s]) > 0`, ns)
		if n, err := promSeries(prom.URL, q, ""); err != nil || n == 0 {
			return fmt.Errorf("%s: %d series, %v", q, n, err)
		}
		return nil
	})

	var gateOpen atomic.Bool
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if !gateOpen.Load() {
			http.Error(w, "closed", http.StatusForbidden)
		}
	}))
	defer gate.Close()
	c := &flaggerv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: flaggerv1.CanarySpec{Provider: "kubernetes:replicas", MetricsServer: prom.URL,
			TargetRef: flaggerv1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   flaggerv1.CanaryService{Port: 9898},
			Analysis: &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 3, StepWeight: 50,
				Metrics: []flaggerv1.CanaryMetric{
					{Name: "request-success-rate", Interval: "15s", ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: ptr.To(99.0)}},
					{Name: "request-duration", Interval: "15s", ThresholdRange: &flaggerv1.CanaryThresholdRange{Max: ptr.To(500.0)}},
				},
				Webhooks: []flaggerv1.CanaryWebhook{{Name: "approval", Type: flaggerv1.ConfirmPromotionHook, URL: gate.URL}}}}}
	env.Create(t, testenv.Deployment(ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.0", 1), c)
	waitCanaryPhase(t, ns, flaggerv1.CanaryPhaseInitialized)

	// one release promoted, one aborted, and one held at the gate
	gateOpen.Store(true)
	setPodinfoImage(t, ns, "6.0.1")
	waitCanaryPhase(t, ns, flaggerv1.CanaryPhaseSucceeded)
	gateOpen.Store(false)
	setPodinfoImage(t, ns, "6.0.2")
	waitCanaryPhase(t, ns, flaggerv1.CanaryPhaseWaitingPromotion)
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"`+flaggerv1.RequestAnnotation+`":"abort"}}}`))
	if err := env.Client.Patch(context.Background(), c, patch); err != nil {
		t.Fatal(err)
	}
	waitCanaryPhase(t, ns, flaggerv1.CanaryPhaseFailed)
	setPodinfoImage(t, ns, "6.0.3")
	waitCanaryPhase(t, ns, flaggerv1.CanaryPhaseWaitingPromotion)

	vars := map[string]string{"namespace": ns, "name": "podinfo", "__range": "10m", "__rate_interval": "30s", "__interval": "15s"}
	queries := dash.queries(t, prom.URL, vars)
	if len(queries) < 10 {
		t.Fatalf("found %d queries in the dashboard: %v", len(queries), queries)
	}
	for _, want := range []string{"flagger_canary_status", "flagger_canary_weight", "flagger_canary_metric_analysis",
		"warbler_canary_metric_threshold", "flagger_canary_successes_total", "flagger_canary_failures_total",
		"flagger_canary_duration_seconds_bucket", "flagger_canary_total", "flagger_info"} {
		if !slices.ContainsFunc(queries, func(q dashQuery) bool { return strings.Contains(q.expr, want) }) {
			t.Errorf("no panel queries %s", want)
		}
	}
	// Prometheus scrapes every second; a query may run before the series it
	// needs has a second sample (rate, increase)
	start := time.Now()
	for _, q := range queries {
		testenv.Eventually(t, 60*time.Second, func() error {
			n, err := promSeries(prom.URL, q.expr, q.label)
			if err == nil && n == 0 {
				err = fmt.Errorf("no series")
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", q.where, q.expr, err)
			}
			return nil
		})
	}
	t.Logf("%d expressions of the dashboard returned series (after %v)", len(queries), time.Since(start).Round(time.Millisecond))
}

// grafanaDashboard is the part of a dashboard's JSON that holds queries.
type grafanaDashboard struct {
	Templating struct {
		List []struct {
			Name, Type string
			Query      json.RawMessage
		}
	}
	Panels []grafanaPanel
}

type grafanaPanel struct {
	Title   string
	Repeat  string
	Targets []struct{ Expr string }
	Panels  []grafanaPanel // of a row
}

// dashQuery is one PromQL expression; label is set for a template
// variable's label_values(selector, label): every series must carry it.
type dashQuery struct {
	where, expr, label string
}

func installedDashboard(t *testing.T, ns string) *grafanaDashboard {
	t.Helper()
	cm, err := env.Kube.CoreV1().ConfigMaps(ns).Get(context.Background(), "warbler-grafana-dashboard", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the dashboard ConfigMap: %v", err)
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("ConfigMap labels %v lack grafana_dashboard=1", cm.Labels)
	}
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(cm.Data["warbler-canaries.json"]), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return &d
}

var (
	labelValues = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	grafanaVar  = regexp.MustCompile(`\$\{?(\w+)\}?`)
)

// queries lists the expressions of the variables and the panels with the
// variables substituted; a panel repeated over a variable gives one
// expression per value the variable's own query finds.
func (d *grafanaDashboard) queries(t *testing.T, prom string, vars map[string]string) []dashQuery {
	t.Helper()
	var out []dashQuery
	valuesOf := map[string]string{} // variable -> its label_values selector and label
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
			continue
		}
		valuesOf[v.Name] = q.Query
		out = append(out, dashQuery{where: "variable " + v.Name, expr: substitute(t, m[1], vars), label: m[2]})
	}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			walk(p.Panels)
			values := []string{""}
			if p.Repeat != "" {
				values = variableValues(t, prom, valuesOf[p.Repeat], vars)
			}
			for _, val := range values {
				pv := vars
				if p.Repeat != "" {
					pv = map[string]string{p.Repeat: val}
					for k, v := range vars {
						pv[k] = v
					}
				}
				for _, tg := range p.Targets {
					out = append(out, dashQuery{where: "panel " + substitute(t, p.Title, pv), expr: substitute(t, tg.Expr, pv)})
				}
			}
		}
	}
	walk(d.Panels)
	return out
}

// variableValues runs a variable's label_values query and returns the
// values of its label, which a repeated panel is drawn for.
func variableValues(t *testing.T, prom, query string, vars map[string]string) []string {
	t.Helper()
	m := labelValues.FindStringSubmatch(query)
	if m == nil {
		t.Fatalf("panel repeated over a variable without a label_values query: %q", query)
	}
	var values []string
	testenv.Eventually(t, 60*time.Second, func() error {
		res, err := promQuery(prom, substitute(t, m[1], vars))
		if err != nil {
			return err
		}
		values = nil
		for _, s := range res {
			if v := s.Metric[m[2]]; v != "" && !slices.Contains(values, v) {
				values = append(values, v)
			}
		}
		if len(values) < 2 {
			return fmt.Errorf("%s found %v, want both checks", query, values)
		}
		return nil
	})
	return values
}

func substitute(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return grafanaVar.ReplaceAllStringFunc(s, func(v string) string {
		name := grafanaVar.FindStringSubmatch(v)[1]
		val, ok := vars[name]
		if !ok {
			t.Errorf("%q uses the variable %s, which the test does not set", s, name)
		}
		return val
	})
}

// promSample is one series of an instant query.
type promSample struct {
	Metric map[string]string
}

func promQuery(base, expr string) ([]promSample, error) {
	res, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body struct {
		Status, Error string
		Data          struct {
			ResultType string
			Result     json.RawMessage
		}
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", body.Data.ResultType)
	}
	var out []promSample
	err = json.Unmarshal(body.Data.Result, &out)
	return out, err
}

// promSeries counts the series an expression returns; with label, only
// those that carry it.
func promSeries(base, expr, label string) (int, error) {
	res, err := promQuery(base, expr)
	n := 0
	for _, s := range res {
		if label == "" || s.Metric[label] != "" {
			n++
		}
	}
	return n, err
}

func waitCanaryPhase(t *testing.T, ns string, phase flaggerv1.CanaryPhase) {
	t.Helper()
	testenv.Eventually(t, 90*time.Second, func() error {
		var c flaggerv1.Canary
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, &c); err != nil {
			return err
		}
		if c.Status.Phase != phase {
			return fmt.Errorf("canary phase %q weight %d message %q, want %s", c.Status.Phase, c.Status.CanaryWeight, c.Status.Message, phase)
		}
		return nil
	})
}

func setPodinfoImage(t *testing.T, ns, tag string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"podinfod","image":"ghcr.io/stefanprodan/podinfo:%s"}]}}}}`, tag)
	if _, err := env.Kube.AppsV1().Deployments(ns).Patch(context.Background(), "podinfo", "application/strategic-merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}
