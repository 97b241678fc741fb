package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/warbler-dev/warbler/analysis"
)

// FinalizerName is Flagger's finalizer, added when revertOnDeletion is set.
const FinalizerName = "finalizer.flagger.app"

// finalizerWait bounds how long a deleted canary waits for the target to
// come back before reverting anyway; finalizerPoll is how often it looks
// while it waits.
const (
	finalizerWait = time.Minute
	finalizerPoll = 2 * time.Second
)

// finalizer adds the finalizer when revertOnDeletion asks for it and removes
// it when it no longer does. It reports done when the Canary is being
// deleted without the finalizer: nothing is left to do.
func (t *tick) finalizer(ctx context.Context) (bool, error) {
	has := controllerutil.ContainsFinalizer(t.c, FinalizerName)
	if t.c.DeletionTimestamp != nil {
		return !has, nil
	}
	if t.c.Spec.RevertOnDeletion == has {
		return false, nil
	}
	patch := client.MergeFrom(t.c.DeepCopy())
	if t.c.Spec.RevertOnDeletion {
		controllerutil.AddFinalizer(t.c, FinalizerName)
	} else {
		controllerutil.RemoveFinalizer(t.c, FinalizerName)
	}
	if err := t.r.Client.Patch(ctx, t.c, patch); err != nil {
		return false, fmt.Errorf("updating finalizers of canary %s: %w", t.c.Key(), err)
	}
	t.orig = t.c.DeepCopy()
	t.r.written.Store(client.ObjectKeyFromObject(t.c), t.c.ResourceVersion)
	return false, nil
}

// finalize reverts what Warbler changed for a Canary deleted with
// revertOnDeletion: the target takes its traffic back, the apex service
// selects it again and survives the Canary, and the router restores its
// object. Then the finalizer goes and garbage collection removes the rest.
func (t *tick) finalize(ctx context.Context, d analysis.Decision) error {
	writeStatus(t.c, d.Status, t.now)
	if err := t.patchStatus(ctx); err != nil {
		return err
	}
	t.emit(d.Events)
	if waiting, err := t.revertTarget(ctx); waiting || err != nil {
		return err
	}
	if err := t.router.Finalize(ctx, t.c); err != nil {
		return fmt.Errorf("finalizing routes of canary %s: %w", t.c.Key(), err)
	}
	if err := t.stopBaseline(ctx); err != nil {
		return err
	}
	patch := client.MergeFrom(t.c.DeepCopy())
	controllerutil.RemoveFinalizer(t.c, FinalizerName)
	if err := t.r.Client.Patch(ctx, t.c, patch); err != nil {
		return fmt.Errorf("removing the finalizer of canary %s: %w", t.c.Key(), err)
	}
	// The Canary is gone now. The API server answers the patch that
	// deletes it with the resourceVersion it had before, which the cache
	// may still hold: forget it, so that a tick queued meanwhile reads the
	// API server, finds nothing and does not write to a deleted Canary.
	t.r.written.Delete(client.ObjectKeyFromObject(t.c))
	t.event(analysis.SeverityInfo, fmt.Sprintf("Terminated canary %s", t.c.Key()))
	return nil
}

// revertTarget gives the traffic back to the target: a workload is scaled
// back to the primary's replicas and, once ready, selected by the apex
// service again. It reports waiting while the target is not ready yet.
// Service and Knative targets have nothing to scale; the router's Finalize
// reverts their routes.
func (t *tick) revertTarget(ctx context.Context) (bool, error) {
	ready := analysis.Readiness{Ready: true}
	if t.obj != nil {
		_, ready = t.obj.readiness()
	} else {
		replicas := int32(1)
		if t.primary != nil && t.primary.replicas != nil && *t.primary.replicas > 0 {
			replicas = *t.primary.replicas
			if base := baseReplicasOf(t.primary); base > 0 {
				replicas = base
			}
		}
		if err := t.scaleTarget(ctx, replicas); err != nil {
			return false, err
		}
		ready = readiness(t.target, 100, 0, t.now, t.target.obj.GetName()+"."+t.c.Namespace)
	}
	if !ready.Ready && t.now.Sub(t.c.DeletionTimestamp.Time) < finalizerWait {
		// waiting is no error: say why at info level and look again soon
		// (a change of the target wakes the canary earlier)
		t.log.Info(fmt.Sprintf("Waiting for %s.%s to be ready before reverting traffic", t.c.Spec.TargetRef.Name, t.c.Namespace), "reason", ready.Message)
		t.retry = finalizerPoll
		return true, nil
	}
	if t.obj != nil {
		return false, nil
	}
	return false, t.revertApex(ctx)
}

// revertApex points the apex service back at the target's pods. A service
// Warbler created is released from the Canary so it survives it.
func (t *tick) revertApex(ctx context.Context) error {
	var svc corev1.Service
	err := t.r.Client.Get(ctx, client.ObjectKey{Namespace: t.c.Namespace, Name: t.c.ApexServiceName()}, &svc)
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	upd := svc.DeepCopy()
	upd.Spec.Selector = map[string]string{t.label: t.value}
	var owners []metav1.OwnerReference
	for _, o := range upd.OwnerReferences {
		if o.UID != t.c.UID {
			owners = append(owners, o)
		}
	}
	upd.OwnerReferences = owners
	return t.r.Client.Patch(ctx, upd, client.MergeFrom(&svc))
}

// release removes the finalizer of a Canary that cannot be reverted (its
// target is gone, its spec is invalid), so that its deletion does not hang.
func (t *tick) release(ctx context.Context, cause error) error {
	t.event(analysis.SeverityWarn, fmt.Sprintf("Cannot revert canary %s: %v; removing the finalizer", t.c.Key(), cause))
	patch := client.MergeFrom(t.c.DeepCopy())
	controllerutil.RemoveFinalizer(t.c, FinalizerName)
	if err := t.r.Client.Patch(ctx, t.c, patch); err != nil {
		return fmt.Errorf("removing the finalizer of canary %s: %w", t.c.Key(), err)
	}
	return nil
}
