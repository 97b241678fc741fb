package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// Deleting a Canary with revertOnDeletion scales the target back up and
// waits for it before the apex service selects it again. Waiting is not an
// error: the controller's JSON log (its own lines and controller-runtime's)
// says so at info level and has no error line.
func TestRevertOnDeletionWaitsWithoutErrors(t *testing.T) {
	ns := env.Namespace(t)
	logs := &logBuffer{}
	startController(t, logs, ns)
	c := canary(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 1})
	c.Spec.RevertOnDeletion = true
	create(t, deployment(ns, "podinfo", imageV1, 2), c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	if err := env.Client.Delete(context.Background(), getCanary(t, ns, "podinfo")); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 90*time.Second, func() error {
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, &flaggerv1.Canary{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("canary still there: %v", err)
	})
	var svc corev1.Service
	env.Get(t, ns, "podinfo", &svc)
	if svc.Spec.Selector["app"] != "podinfo" {
		t.Errorf("apex service selects %v after the revert, want app=podinfo", svc.Spec.Selector)
	}
	if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 2 {
		t.Errorf("target has %d replicas after the revert, want the primary's 2", *d.Spec.Replicas)
	}

	key := "podinfo." + ns
	waited := false
	for _, l := range logs.Lines() {
		msg, _ := l["msg"].(string)
		if l["level"] == "error" {
			t.Errorf("error-level log line during the deletion: %v\nlog:\n%s", l, logs.String())
		}
		if strings.HasPrefix(msg, "Waiting for podinfo."+ns+" to be ready before reverting traffic") && l["level"] == "info" && l["canary"] == key {
			waited = true
			if r, _ := l["reason"].(string); !strings.Contains(r, "waiting for rollout to finish") {
				t.Errorf("the waiting line gives no reason: %v", l)
			}
		}
	}
	if !waited {
		t.Errorf("no info line saying the deletion waits for the target; log:\n%s", logs.String())
	}
	logs.waitLog(t, key, "Terminated canary "+key, 10*time.Second)
}
