package controller

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// The baseline of analysis.baseline is the controller's, like the primary:
// <target>-baseline runs the primary's pod template at the canary's size,
// its pods labelled <label>: <value>-baseline so that metrics, services and
// routes tell them apart from the primary's (<value>-primary) and the
// canary's (<value>); <svc>-baseline selects them. The analysis decides
// when it starts and stops; nothing about it is remembered outside the
// cluster and the status.

// findBaseline reads the baseline from the cache; nil when there is none.
func (t *tick) findBaseline(ctx context.Context) error {
	if t.c.Spec.TargetRef.Kind != "Deployment" {
		return nil
	}
	var err error
	t.baseline, err = getWorkload(ctx, t.r.Client, "Deployment", t.c.Namespace, t.c.BaselineName())
	return err
}

// observeBaseline adds the baseline and its share of traffic to the
// observations.
func (t *tick) observeBaseline(ctx context.Context, obs *analysis.Observations, threshold int) error {
	obs.BaselineRunning = t.baseline != nil
	name := "baseline deployment " + t.c.BaselineName() + "." + t.c.Namespace
	if t.baseline != nil {
		obs.BaselineReady = readiness(t.baseline, threshold, progressDeadline(t.c), t.now, name)
	} else {
		obs.BaselineReady = analysis.Readiness{Message: name + " not ready: it does not exist yet"}
	}
	br, ok := t.router.(routers.BaselineRouter)
	if !ok || (!t.c.BaselineEnabled() && t.baseline == nil) {
		// most canaries: nothing to read
		return nil
	}
	b, err := br.GetBaselineRoute(ctx, t.c)
	if err != nil {
		return err
	}
	obs.Routes.Baseline = b
	t.r.prom.weightVec.WithLabelValues(t.c.BaselineName(), t.c.Namespace).Set(float64(b))
	return nil
}

// checkBaselineRouter refuses a baseline on a provider that cannot split
// traffic three ways.
func (t *tick) checkBaselineRouter() error {
	if !t.c.BaselineEnabled() {
		return nil
	}
	return routers.CheckBaseline(t.provider)
}

// startBaseline creates <svc>-baseline and <target>-baseline unless they
// exist: the primary's template, relabelled, at the canary's replicas.
func (t *tick) startBaseline(ctx context.Context) error {
	svcs := &routers.Services{Deps: t.routerDeps()}
	if err := svcs.ReconcileBaseline(ctx, t.c, t.selector()); err != nil {
		return err
	}
	if t.baseline != nil {
		return nil
	}
	p, ok := t.primary.obj.(*appsv1.Deployment)
	if !ok {
		return &analysis.SpecError{Field: "spec.analysis.baseline", Msg: "needs a Deployment target"}
	}
	d := t.builder().buildBaseline(t.c, p, t.canaryReplicas(ctx))
	if err := createPrimary(ctx, t.r.Client, t.r.Scheme, t.c, d); err != nil {
		return err
	}
	t.log.Info(fmt.Sprintf("Deployment %s.%s created", d.Name, d.Namespace))
	t.baseline = asWorkload(d)
	return nil
}

// stopBaseline scales the baseline to zero and removes it and its service;
// traffic has left them.
func (t *tick) stopBaseline(ctx context.Context) error {
	if t.baseline != nil {
		if err := scale(ctx, t.r.Client, t.baseline, 0); err != nil {
			return err
		}
		if err := t.r.Client.Delete(ctx, t.baseline.obj); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting %s.%s: %w", t.baseline.obj.GetName(), t.c.Namespace, err)
		}
		t.log.Info(fmt.Sprintf("Deployment %s.%s scaled to zero and deleted", t.baseline.obj.GetName(), t.c.Namespace))
		t.baseline = nil
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: t.c.Namespace, Name: t.c.BaselineServiceName()}}
	err := t.r.Client.Get(ctx, client.ObjectKeyFromObject(svc), svc)
	if err == nil && metav1.IsControlledBy(svc, t.c) {
		err = t.r.Client.Delete(ctx, svc)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting service %s.%s: %w", svc.Name, svc.Namespace, err)
	}
	return nil
}

// buildBaseline returns the baseline of a primary Deployment: its pod
// template and settings with the selector label's value ending in
// -baseline, and replicas as given.
func (b primaryBuilder) buildBaseline(c *flaggerv1.Canary, primary *appsv1.Deployment, replicas int32) *appsv1.Deployment {
	value := b.value + flaggerv1.BaselineSuffix
	tmpl := *primary.Spec.Template.DeepCopy()
	tmpl.Labels = maps.Clone(tmpl.Labels)
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[b.label] = value
	labels := maps.Clone(primary.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[b.label] = value
	annotations := maps.Clone(primary.Annotations)
	delete(annotations, routers.BaseReplicasAnnotation)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: c.BaselineName(), Namespace: c.Namespace, Labels: labels, Annotations: annotations},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{b.label: value}}, Template: tmpl,
			Strategy: primary.Spec.Strategy, MinReadySeconds: primary.Spec.MinReadySeconds,
			RevisionHistoryLimit: primary.Spec.RevisionHistoryLimit, ProgressDeadlineSeconds: primary.Spec.ProgressDeadlineSeconds,
		},
	}
}
