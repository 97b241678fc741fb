package controller

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/warbler-dev/warbler/analysis"
)

// readiness tells whether a workload has rolled out, with Flagger's
// messages. threshold is the percentage of updated replicas that must be
// available; deadline is the canary's progressDeadlineSeconds, past which
// waiting no longer helps. prefix names the workload in messages
// ("podinfo-primary.test" or "canary deployment podinfo.test").
func readiness(w *workload, threshold int, deadline time.Duration, now time.Time, prefix string) analysis.Readiness {
	var msg string
	var stuck bool
	switch o := w.obj.(type) {
	case *appsv1.Deployment:
		msg, stuck = deploymentProgress(o, threshold, deadline, now)
	case *appsv1.DaemonSet:
		msg, stuck = daemonSetProgress(o, threshold)
	}
	if msg == "" {
		return analysis.Readiness{Ready: true}
	}
	return analysis.Readiness{Deadline: stuck, Message: prefix + " not ready: " + msg}
}

func deploymentProgress(d *appsv1.Deployment, threshold int, deadline time.Duration, now time.Time) (string, bool) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for rollout to finish: observed deployment generation less than desired generation", false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	var msg string
	switch {
	case want == 0:
		msg = "waiting for rollout to finish: the deployment is scaled to zero"
	case st.UpdatedReplicas < want:
		msg = fmt.Sprintf("waiting for rollout to finish: %d out of %d new replicas have been updated", st.UpdatedReplicas, want)
	case st.Replicas > st.UpdatedReplicas:
		msg = fmt.Sprintf("waiting for rollout to finish: %d old replicas are pending termination", st.Replicas-st.UpdatedReplicas)
	case st.AvailableReplicas < int32(float64(st.UpdatedReplicas)*float64(threshold)/100):
		msg = fmt.Sprintf("waiting for rollout to finish: %d of %d (readyThreshold %d%%) updated replicas are available", st.AvailableReplicas, st.UpdatedReplicas, threshold)
	default:
		return "", false
	}
	return msg, pastDeadline(d, deadline, now)
}

// pastDeadline: the Deployment controller reported ProgressDeadlineExceeded,
// or the Deployment has been unavailable for longer than the canary's
// deadline.
func pastDeadline(d *appsv1.Deployment, deadline time.Duration, now time.Time) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return true
		}
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionFalse && deadline > 0 &&
			!c.LastUpdateTime.IsZero() && c.LastUpdateTime.Add(deadline).Before(now) {
			return true
		}
	}
	return false
}

func daemonSetProgress(ds *appsv1.DaemonSet, threshold int) (string, bool) {
	if ds.Generation > ds.Status.ObservedGeneration {
		return "waiting for rollout to finish: observed daemonset generation less than desired generation", false
	}
	st := ds.Status
	switch {
	case st.DesiredNumberScheduled == 0:
		return "waiting for rollout to finish: no node runs the daemonset", false
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return fmt.Sprintf("waiting for rollout to finish: %d out of %d new pods have been updated", st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false
	case st.NumberAvailable < int32(float64(st.UpdatedNumberScheduled)*float64(threshold)/100):
		return fmt.Sprintf("waiting for rollout to finish: %d of %d (readyThreshold %d%%) updated pods are available", st.NumberAvailable, st.UpdatedNumberScheduled, threshold), false
	}
	return "", false
}
