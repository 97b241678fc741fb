package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// gathered sums a metric's samples (counters, gauges, histogram counts)
// from the process's registry, which the controller serves on /metrics.
func gathered(t *testing.T, name string, label ...string) float64 {
	t.Helper()
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(label); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || (l.GetName() == label[i] && l.GetValue() == label[i+1])
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// Every tick that was due is measured against when it was due, and the
// canary queue reports as warbler_workqueue_*.
func TestTickLatenessAndQueueMetrics(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	before := gathered(t, "warbler_tick_lateness_seconds")
	create(t, deployment(ns, "podinfo", imageV1, 1),
		canary(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 2, Iterations: 2}))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	// an Initialized canary ticks every interval: each is due, and measured
	testenv.Eventually(t, 60*time.Second, func() error {
		if n := gathered(t, "warbler_tick_lateness_seconds") - before; n < 3 {
			return fmt.Errorf("%v ticks measured, want at least 3", n)
		}
		return nil
	})
	if n := gathered(t, "warbler_workqueue_adds_total", "name", "canary"); n == 0 {
		t.Error("warbler_workqueue_adds_total{name=\"canary\"} is 0 after ticks")
	}
	if n := gathered(t, "warbler_workqueue_work_duration_seconds", "name", "canary"); n == 0 {
		t.Error("warbler_workqueue_work_duration_seconds{name=\"canary\"} observed no tick")
	}
	if n := gathered(t, "workqueue_adds_total", "name", "canary"); n != 0 {
		t.Errorf("the canary queue also reports to controller-runtime's workqueue_adds_total (%v)", n)
	}
}

// A changed ConfigMap wakes the canary whose target uses it at once, long
// before its next tick (the interval is ten minutes): the watch finds it
// through the index of the configs each workload uses.
func TestConfigChangeWakesTheCanaryUsingIt(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "api-config"}, Data: map[string]string{"color": "blue"}}
	d := deployment(ns, "api", imageV1, 1)
	d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "api-config"}}}}}
	a := &flaggerv1.CanaryAnalysis{Interval: "10m", Threshold: 2, Iterations: 2}
	create(t, cm, d, canary(ns, "api", "kubernetes", a), deployment(ns, "web", imageV1, 1), canary(ns, "web", "kubernetes", a))
	waitPhase(t, ns, "api", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	waitPhase(t, ns, "web", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	// the target scaling to zero wakes the canary too: let it settle, so
	// that only the ConfigMap can wake it next
	testenv.Eventually(t, time.Minute, func() error {
		d := getDeployment(t, ns, "api")
		if s := d.Status; s.ObservedGeneration != d.Generation || s.Replicas != 0 {
			return fmt.Errorf("target status %+v, waiting for it to scale to zero", s)
		}
		return nil
	})
	time.Sleep(3 * time.Second)
	if p := getCanary(t, ns, "api").Status.Phase; p != flaggerv1.CanaryPhaseInitialized {
		t.Fatalf("api is %s before its ConfigMap changed", p)
	}

	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data["color"] = "green"
	if err := env.Client.Patch(context.Background(), cm, patch); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "api", flaggerv1.CanaryPhaseProgressing, 2*time.Minute, nil)
	if p := getCanary(t, ns, "web").Status.Phase; p != flaggerv1.CanaryPhaseInitialized {
		t.Errorf("web, whose target does not use the ConfigMap, is %s", p)
	}
}
