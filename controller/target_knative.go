package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	"github.com/warbler-dev/warbler/providers/routers"
)

// knativeTarget is a Knative Service target (provider knative). Knative
// makes a revision of every change to the Service's template; the latest
// created revision is the canary and its name is the target's revision, the
// revision named by flagger.app/primary-revision is the primary (the
// knative router records it on the first tick). Promotion moves the
// annotation to the latest revision. Readiness is the revisions' Ready
// condition, which Knative writes.
type knativeTarget struct {
	t       *tick
	latest  string
	primary string
	gen     int64
	image   []string
	ready   [2]analysis.Readiness // primary, canary
}

func (k *knativeTarget) generation() int64 { return k.gen }

func (k *knativeTarget) images() []string { return k.image }

func (k *knativeTarget) find(ctx context.Context) (string, error) {
	c := k.t.c
	svc := &unstructured.Unstructured{}
	svc.SetGroupVersionKind(routers.KnativeServiceGVK)
	if err := k.t.r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.TargetRef.Name}, svc); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("knative service %s.%s %w (spec.targetRef)", c.Spec.TargetRef.Name, c.Namespace, errTargetMissing)
		}
		return "", fmt.Errorf("reading knative service %s.%s: %w", c.Spec.TargetRef.Name, c.Namespace, err)
	}
	k.gen = svc.GetGeneration()
	k.image = routers.KnativeImages(svc, "spec", "template", "spec", "containers")
	k.latest, _, _ = unstructured.NestedString(svc.Object, "status", "latestCreatedRevisionName")
	if k.latest == "" {
		return "", fmt.Errorf("knative service %s.%s has no revision yet (status.latestCreatedRevisionName is empty)", svc.GetName(), c.Namespace)
	}
	k.primary = svc.GetAnnotations()[routers.KnativePrimaryRevision]
	primary := k.primary
	if primary == "" {
		primary = k.latest // the revision the router will record
	}
	var err error
	if k.ready[0], err = k.revisionReady(ctx, primary); err != nil {
		return "", err
	}
	if k.ready[1], err = k.revisionReady(ctx, k.latest); err != nil {
		return "", err
	}
	return k.latest, nil
}

// revisionReady reads the Ready condition of a revision, with Flagger's
// message. Ready=False is a failed revision: waiting will not help.
func (k *knativeTarget) revisionReady(ctx context.Context, name string) (analysis.Readiness, error) {
	ns := k.t.c.Namespace
	rev := &unstructured.Unstructured{}
	rev.SetGroupVersionKind(routers.KnativeRevisionGVK)
	if err := k.t.r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rev); err != nil {
		if apierrors.IsNotFound(err) {
			return analysis.Readiness{Message: fmt.Sprintf("Knative Revision %s.%s is not ready: it does not exist", name, ns)}, nil
		}
		return analysis.Readiness{}, fmt.Errorf("reading knative revision %s.%s: %w", name, ns, err)
	}
	if m := routers.KnativeCondition(rev, "Ready"); m != nil {
		switch m["status"] {
		case "True":
			return analysis.Readiness{Ready: true}, nil
		case "False":
			return analysis.Readiness{Deadline: true, Message: fmt.Sprintf("Knative Revision %s.%s is not ready: %v %v", name, ns, m["reason"], m["message"])}, nil
		}
	}
	return analysis.Readiness{Message: fmt.Sprintf("Knative Revision %s.%s is not ready", name, ns)}, nil
}

func (k *knativeTarget) created() bool { return k.primary != "" }

// ensure has nothing to create: the knative router records the primary
// revision and writes the traffic.
func (k *knativeTarget) ensure(context.Context) error { return nil }

func (k *knativeTarget) readiness() (analysis.Readiness, analysis.Readiness) {
	return k.ready[0], k.ready[1]
}

func (k *knativeTarget) matchesPrimary() bool { return k.primary != "" && k.primary == k.latest }

// promote records the latest revision as the primary, as Flagger does.
func (k *knativeTarget) promote(ctx context.Context) error {
	c := k.t.c
	svc := &unstructured.Unstructured{}
	svc.SetGroupVersionKind(routers.KnativeServiceGVK)
	svc.SetNamespace(c.Namespace)
	svc.SetName(c.Spec.TargetRef.Name)
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, routers.KnativePrimaryRevision, k.latest)
	if err := k.t.r.Client.Patch(ctx, svc, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("promoting revision %s of knative service %s.%s: %w", k.latest, c.Spec.TargetRef.Name, c.Namespace, err)
	}
	k.primary = k.latest
	return nil
}
