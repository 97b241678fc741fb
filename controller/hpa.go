package controller

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The kinds of spec.autoscalerRef.
const (
	hpaKind          = "HorizontalPodAutoscaler"
	scaledObjectKind = "ScaledObject"
)

// ensurePrimaryScaler keeps the primary's copy of the target's autoscaler.
func (t *tick) ensurePrimaryScaler(ctx context.Context, promoting bool) error {
	if ref := t.c.Spec.AutoscalerRef; ref != nil && ref.Kind == scaledObjectKind {
		return t.ensurePrimaryScaledObject(ctx, promoting)
	}
	return t.ensurePrimaryHPA(ctx, promoting)
}

// scalerMinReplicas is the minimum replica count of the target's
// autoscaler, 0 when it cannot be read.
func (t *tick) scalerMinReplicas(ctx context.Context) int32 {
	ref := t.c.Spec.AutoscalerRef
	if ref.Kind == scaledObjectKind {
		return t.scaledObjectMinReplicas(ctx)
	}
	var hpa autoscalingv2.HorizontalPodAutoscaler
	if err := t.r.Client.Get(ctx, client.ObjectKey{Namespace: t.c.Namespace, Name: ref.Name}, &hpa); err != nil || hpa.Spec.MinReplicas == nil {
		return 0
	}
	return *hpa.Spec.MinReplicas
}

// scaleTarget scales the target workload to n replicas (a DaemonSet: on
// or off its nodes). A target ScaledObject is paused at zero before the
// target goes to zero, and resumed before it comes back, as Flagger does,
// so that KEDA does not scale the canary against Warbler. Service and
// Knative targets have nothing to scale.
func (t *tick) scaleTarget(ctx context.Context, n int32) error {
	if t.obj != nil {
		return nil
	}
	if ref := t.c.Spec.AutoscalerRef; ref != nil && ref.Kind == scaledObjectKind {
		if err := t.pauseScaledObject(ctx, n == 0); err != nil {
			return err
		}
	}
	return scale(ctx, t.r.Client, t.target, n)
}

// ensurePrimaryHPA keeps <hpa>-primary, a copy of the target's
// HorizontalPodAutoscaler that scales the primary. It is created when
// missing; it is updated at promotion, and also while no release runs, so
// that edits to the HPA reach the primary without waiting for the next
// release (Flagger #591).
func (t *tick) ensurePrimaryHPA(ctx context.Context, promoting bool) error {
	ref := t.c.Spec.AutoscalerRef
	if ref == nil {
		return nil
	}
	var src autoscalingv2.HorizontalPodAutoscaler
	if err := t.r.Client.Get(ctx, client.ObjectKey{Namespace: t.c.Namespace, Name: ref.Name}, &src); err != nil {
		return fmt.Errorf("reading HorizontalPodAutoscaler %s.%s (spec.autoscalerRef): %w", ref.Name, t.c.Namespace, err)
	}
	want := src.Spec.DeepCopy()
	want.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: t.c.Spec.TargetRef.APIVersion, Kind: t.c.Spec.TargetRef.Kind, Name: t.c.PrimaryName()}
	if r := ref.PrimaryScalerReplicas; r != nil {
		if r.MinReplicas != nil {
			want.MinReplicas = r.MinReplicas
		}
		if r.MaxReplicas != nil {
			want.MaxReplicas = *r.MaxReplicas
		}
	}
	name := ref.Name + flaggerv1.PrimarySuffix
	var have autoscalingv2.HorizontalPodAutoscaler
	err := t.r.Client.Get(ctx, client.ObjectKey{Namespace: t.c.Namespace, Name: name}, &have)
	if apierrors.IsNotFound(err) {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: t.c.Namespace, Labels: filterLabels(src.Labels, t.r.Options.IncludeLabelPrefix), Annotations: withoutToolkit(src.Annotations)},
			Spec:       *want,
		}
		if err := controllerutil.SetControllerReference(t.c, hpa, t.r.Scheme); err != nil {
			return err
		}
		if err := t.r.Client.Create(ctx, hpa); err != nil {
			return fmt.Errorf("creating HorizontalPodAutoscaler %s.%s: %w", name, t.c.Namespace, err)
		}
		t.log.Info(fmt.Sprintf("HorizontalPodAutoscaler %s.%s created", name, t.c.Namespace))
		return nil
	}
	if err != nil {
		return err
	}
	idle := t.c.Status.Phase == flaggerv1.CanaryPhaseInitialized || t.c.Status.Phase == flaggerv1.CanaryPhaseSucceeded
	if (!promoting && !idle) || equality.Semantic.DeepEqual(have.Spec, *want) {
		return nil
	}
	upd := have.DeepCopy()
	upd.Spec = *want
	if err := t.r.Client.Update(ctx, upd); err != nil {
		return fmt.Errorf("updating HorizontalPodAutoscaler %s.%s: %w", name, t.c.Namespace, err)
	}
	return nil
}
