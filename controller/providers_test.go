package controller_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// The metric providers of other backends than Prometheus drive a canary
// like Prometheus does: templates on a real Graphite, a real InfluxDB and
// Keptn resources on the API server return the values fed to them, good
// values promote, bad ones roll back, and status.checks and the events say
// why.

// feed calls send with the current value every 500 ms until the test ends.
func feed(t *testing.T, v *atomic.Int64, send func(now time.Time, v int64) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := send(time.Now(), v.Load()); err != nil && ctx.Err() == nil {
				t.Logf("feeding %d: %v", v.Load(), err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// keptnOperator does what Keptn's metrics-operator does with the
// resources the keptn provider reads: it writes the value of the
// KeptnMetric name, and completes every Analysis in ns, passing it while
// pass is true. (Keptn's modules are not served by the module proxy this
// project builds from, so its operator cannot run here.)
func keptnOperator(t *testing.T, ns, metric string, value *atomic.Int64, pass *atomic.Bool, analyses *atomic.Int64) {
	ctx := context.Background()
	m := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metrics.keptn.sh/v1beta1", "kind": "KeptnMetric",
		"metadata": map[string]any{"name": metric, "namespace": ns},
		"spec":     map[string]any{"provider": map[string]any{"name": "prometheus"}, "query": "sum(rate(errors[1m]))", "fetchIntervalSeconds": int64(1)},
	}}
	if err := env.Client.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	feed(t, value, func(now time.Time, v int64) error {
		if err := unstructured.SetNestedField(m.Object, strconv.FormatInt(v, 10), "status", "value"); err != nil {
			return err
		}
		_ = unstructured.SetNestedField(m.Object, now.UTC().Format(time.RFC3339), "status", "lastUpdated")
		if err := env.Client.Status().Update(ctx, m); err != nil {
			return err
		}
		var list unstructured.UnstructuredList
		list.SetAPIVersion("metrics.keptn.sh/v1beta1")
		list.SetKind("AnalysisList")
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, a := range list.Items {
			if state, _, _ := unstructured.NestedString(a.Object, "status", "state"); state == "Completed" {
				continue
			}
			_ = unstructured.SetNestedField(a.Object, "Completed", "status", "state")
			_ = unstructured.SetNestedField(a.Object, pass.Load(), "status", "pass")
			if err := env.Client.Status().Update(ctx, &a); err != nil {
				return err
			}
			analyses.Add(1)
		}
		return nil
	})
}

func template(ns, name string, p flaggerv1.MetricTemplateProvider, query string) *flaggerv1.MetricTemplate {
	return &flaggerv1.MetricTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: flaggerv1.MetricTemplateSpec{Provider: p, Query: query}}
}

func templateMetric(name string, min, max *float64) flaggerv1.CanaryMetric {
	return flaggerv1.CanaryMetric{Name: name, Interval: "1m", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: name},
		ThresholdRange: &flaggerv1.CanaryThresholdRange{Min: min, Max: max}}
}

func TestVendorProvidersPromoteAndRollBack(t *testing.T) {
	ns := env.Namespace(t)
	env.KeptnCRDs(t)
	graphite := testenv.StartGraphite(t)
	influx := testenv.StartInfluxDB(t, "metrics")

	// every backend starts with good values
	var graphiteErrors, influxLatency, keptnErrors atomic.Int64
	var keptnPass atomic.Bool
	var analyses atomic.Int64
	graphiteErrors.Store(1)
	influxLatency.Store(120)
	keptnErrors.Store(2)
	keptnPass.Store(true)
	feed(t, &graphiteErrors, func(now time.Time, v int64) error {
		return graphite.Send(stack.GraphiteLine("app.graphite-app."+ns+".errors", float64(v), now))
	})
	feed(t, &influxLatency, func(now time.Time, v int64) error {
		return influx.Write(context.Background(), "metrics", fmt.Sprintf("latency,namespace=%s,target=influx-app value=%d %d", ns, v, now.Unix()))
	})
	keptnOperator(t, ns, "keptn-app-errors", &keptnErrors, &keptnPass, &analyses)

	create(t,
		template(ns, "graphite-errors", flaggerv1.MetricTemplateProvider{Type: "graphite", Address: graphite.URL},
			`target=app.{{ target }}.{{ namespace }}.errors&from=-2min`),
		template(ns, "influx-latency", flaggerv1.MetricTemplateProvider{Type: "influxdb", Address: influx.URL},
			`from(bucket: "metrics/autogen")
			  |> range(start: -{{ interval }})
			  |> filter(fn: (r) => r._measurement == "latency" and r.namespace == "{{ namespace }}" and r.target == "{{ target }}")
			  |> last()`),
		template(ns, "keptn-errors", flaggerv1.MetricTemplateProvider{Type: "keptn"}, `keptnmetric/{{ namespace }}/{{ target }}-errors`),
		template(ns, "keptn-slo", flaggerv1.MetricTemplateProvider{Type: "keptn"}, `analysis/{{ namespace }}/{{ target }}-slo/{{ interval }}/service={{ target }}`),
	)
	analysisOf := func(metrics ...flaggerv1.CanaryMetric) *flaggerv1.CanaryAnalysis {
		return &flaggerv1.CanaryAnalysis{Interval: "2s", Threshold: 2, StepWeight: 50, Metrics: metrics}
	}
	canaries := map[string]*flaggerv1.CanaryAnalysis{
		"graphite-app": analysisOf(templateMetric("graphite-errors", nil, ptr.To(5.0))),
		"influx-app":   analysisOf(templateMetric("influx-latency", nil, ptr.To(500.0))),
		"keptn-app":    analysisOf(templateMetric("keptn-errors", nil, ptr.To(5.0)), templateMetric("keptn-slo", ptr.To(1.0), nil)),
	}
	logs := &logBuffer{}
	startController(t, logs, ns)
	for name, a := range canaries {
		create(t, deployment(ns, name, imageV1, 1), canary(ns, name, "kubernetes:replicas", a))
	}
	for name := range canaries {
		waitPhase(t, ns, name, flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
		waitEvent(t, ns, name, "all the metrics providers are available!")
	}

	for name := range canaries {
		setImage(t, ns, name, imageV2)
	}
	for name := range canaries {
		done := waitPhase(t, ns, name, flaggerv1.CanaryPhaseSucceeded, 120*time.Second, nil)
		passed := map[string]float64{}
		for _, ch := range done.Status.Checks {
			if ch.Verdict == flaggerv1.VerdictPass && ch.Value != nil {
				passed[ch.Metric] = *ch.Value
			}
		}
		if len(passed) != len(canaries[name].Metrics) {
			t.Errorf("%s: passing checks %v, want one per metric: %+v", name, passed, done.Status.Checks)
		}
		t.Logf("%s promoted with %v", name, passed)
	}
	want := map[string]float64{"graphite-errors": 1, "influx-latency": 120, "keptn-errors": 2, "keptn-slo": 1}
	for name := range canaries {
		for _, ch := range getCanary(t, ns, name).Status.Checks {
			if ch.Verdict == flaggerv1.VerdictPass && (ch.Value == nil || *ch.Value != want[ch.Metric]) {
				t.Errorf("%s: check %s value %v, want the fed %v", name, ch.Metric, ch.Value, want[ch.Metric])
			}
		}
	}

	// the backends turn bad
	graphiteErrors.Store(40)
	influxLatency.Store(2500)
	keptnPass.Store(false)
	time.Sleep(2 * time.Second)
	for name := range canaries {
		setImage(t, ns, name, "ghcr.io/stefanprodan/podinfo:6.0.2")
	}
	halts := map[string]string{
		"graphite-app": "Halt graphite-app." + ns + " advancement graphite-errors 40.00 > 5",
		"influx-app":   "Halt influx-app." + ns + " advancement influx-latency 2500.00 > 500",
		"keptn-app":    "Halt keptn-app." + ns + " advancement keptn-slo 0.00 < 1",
	}
	for name, halt := range halts {
		failed := waitPhase(t, ns, name, flaggerv1.CanaryPhaseFailed, 120*time.Second, nil)
		var failing []flaggerv1.CheckResult
		for _, ch := range failed.Status.Checks {
			if ch.Failed && ch.Verdict == flaggerv1.VerdictFail {
				failing = append(failing, ch)
			}
		}
		if len(failing) < 2 {
			t.Errorf("%s: %d failing checks in the status, want the 2 that rolled it back: %+v", name, len(failing), failed.Status.Checks)
			continue
		}
		last := failing[len(failing)-1]
		if last.Message != halt {
			t.Errorf("%s: last failing check says %q, want %q", name, last.Message, halt)
		}
		waitEvent(t, ns, name, halt)
		logs.waitLog(t, name+"."+ns, "Rolling back "+name+"."+ns+" failed checks threshold reached 2", 10*time.Second)
	}
	if analyses.Load() == 0 {
		t.Error("no Keptn Analysis was created")
	}
	// the provider deletes the Analyses it created
	testenv.Eventually(t, 30*time.Second, func() error {
		var list unstructured.UnstructuredList
		list.SetAPIVersion("metrics.keptn.sh/v1beta1")
		list.SetKind("AnalysisList")
		if err := env.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		if len(list.Items) > 0 {
			return fmt.Errorf("%d Analyses left", len(list.Items))
		}
		return nil
	})
}

// A template whose Secret lacks a key the provider reads fails its checks
// with a status message and events that name the key, and the online check
// at initialization says so too; an unreachable address is a provider
// error, not a pass.
func TestProviderSecretAndAddressErrors(t *testing.T) {
	ns := env.Namespace(t)
	create(t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "datadog"}, Data: map[string][]byte{"datadog_api_key": []byte("k")}},
		template(ns, "dd-errors", flaggerv1.MetricTemplateProvider{Type: "datadog", SecretRef: &flaggerv1.LocalSecretReference{Name: "datadog"}},
			`sum:errors{service:{{ target }}}.as_count()`),
		template(ns, "gone-errors", flaggerv1.MetricTemplateProvider{Type: "graphite", Address: "http://127.0.0.1:9"}, `target=app.{{ target }}.errors`),
	)
	analysisOf := func(m flaggerv1.CanaryMetric) *flaggerv1.CanaryAnalysis {
		return &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50, Metrics: []flaggerv1.CanaryMetric{m}}
	}
	zero := 0
	gone := templateMetric("gone-errors", nil, ptr.To(5.0))
	gone.ErrorRetries = &zero
	startController(t, nil, ns)
	create(t, deployment(ns, "dd", imageV1, 1), canary(ns, "dd", "kubernetes:replicas", analysisOf(templateMetric("dd-errors", nil, ptr.To(5.0)))),
		deployment(ns, "gone", imageV1, 1), canary(ns, "gone", "kubernetes:replicas", analysisOf(gone)))
	missing := `secret "datadog" has no key "datadog_application_key"`
	waitEvent(t, ns, "dd", "Error checking metric providers: invalid query: metric template dd-errors."+ns+": datadog provider: "+missing)
	waitEvent(t, ns, "dd", missing)
	waitEvent(t, ns, "gone", "Error checking metric providers: graphite in metric template gone-errors."+ns+" not available")
	for _, name := range []string{"dd", "gone"} {
		waitPhase(t, ns, name, flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
		setImage(t, ns, name, imageV2)
	}
	for name, msg := range map[string]string{"dd": missing, "gone": "connection refused"} {
		c := waitPhase(t, ns, name, flaggerv1.CanaryPhaseFailed, 90*time.Second, nil)
		n := len(c.Status.Checks)
		if n == 0 || c.Status.Checks[n-1].Verdict != flaggerv1.VerdictError || !strings.Contains(c.Status.Checks[n-1].Message, msg) {
			t.Errorf("%s: checks %+v, want the last an Error saying %q", name, c.Status.Checks, msg)
		}
		waitEvent(t, ns, name, "Metric query failed for "+c.Spec.Analysis.Metrics[0].Name+": ")
	}
}
