package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// A DaemonSet target: the primary DaemonSet is created, the target is parked
// on no node after initialisation, unparked for a new revision and parked
// again after the promotion.
func TestDaemonSetRelease(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	labels := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: imageV1}}}},
		},
	}
	c := canary(ns, "agent", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 2, Iterations: 2})
	c.Spec.TargetRef.Kind = "DaemonSet"
	create(t, ds, c)
	waitPhase(t, ns, "agent", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	parked := func(want bool) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() error {
			var got appsv1.DaemonSet
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "agent"}, &got); err != nil {
				return err
			}
			if _, ok := got.Spec.Template.Spec.NodeSelector["flagger.app/scale-to-zero"]; ok != want {
				return fmt.Errorf("target DaemonSet parked=%v (nodeSelector %v), want %v", ok, got.Spec.Template.Spec.NodeSelector, want)
			}
			return nil
		})
	}
	parked(true)
	var primary appsv1.DaemonSet
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "agent-primary"}, &primary); err != nil {
		t.Fatal(err)
	}
	if primary.Spec.Template.Labels["app"] != "agent-primary" {
		t.Errorf("primary DaemonSet pod labels %v, want app=agent-primary", primary.Spec.Template.Labels)
	}

	var d appsv1.DaemonSet
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "agent"}, &d); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = imageV2
	if err := env.Client.Patch(context.Background(), &d, patch); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "agent", flaggerv1.CanaryPhaseSucceeded, 90*time.Second, nil)
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "agent-primary"}, &primary); err != nil {
		t.Fatal(err)
	}
	if img := primary.Spec.Template.Spec.Containers[0].Image; img != imageV2 {
		t.Errorf("primary DaemonSet image %q, want %q", img, imageV2)
	}
	if _, ok := primary.Spec.Template.Spec.NodeSelector["flagger.app/scale-to-zero"]; ok {
		t.Errorf("the primary carries the scale-to-zero nodeSelector: %v", primary.Spec.Template.Spec.NodeSelector)
	}
	parked(true)
}

// An HPA target gets <hpa>-primary scaling the primary, with the same
// bounds, overridden by primaryScalerReplicas; edits reach it while no
// release runs (Flagger #591).
func TestPrimaryHPA(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](80)}}}},
		},
	}
	c := canary(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 2, Iterations: 1})
	c.Spec.AutoscalerRef = &flaggerv1.AutoscalerReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler", Name: "podinfo",
		PrimaryScalerReplicas: &flaggerv1.ScalerReplicas{MaxReplicas: ptr.To[int32](6)}}
	create(t, deployment(ns, "podinfo", imageV1, 2), hpa, c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	primaryHPA := func() (*autoscalingv2.HorizontalPodAutoscaler, error) {
		var got autoscalingv2.HorizontalPodAutoscaler
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, &got)
		return &got, err
	}
	got, err := primaryHPA()
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.ScaleTargetRef.Name != "podinfo-primary" || ptr.Deref(got.Spec.MinReplicas, 0) != 2 || got.Spec.MaxReplicas != 6 {
		t.Errorf("podinfo-primary HPA targets %s with %d..%d, want podinfo-primary with 2..6", got.Spec.ScaleTargetRef.Name, ptr.Deref(got.Spec.MinReplicas, 0), got.Spec.MaxReplicas)
	}
	patch := client.MergeFrom(hpa.DeepCopy())
	hpa.Spec.MinReplicas = ptr.To[int32](3)
	if err := env.Client.Patch(context.Background(), hpa, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		got, err := primaryHPA()
		if err != nil {
			return err
		}
		if ptr.Deref(got.Spec.MinReplicas, 0) != 3 {
			return fmt.Errorf("podinfo-primary HPA minReplicas %d after the HPA changed to 3", ptr.Deref(got.Spec.MinReplicas, 0))
		}
		return nil
	})
}
