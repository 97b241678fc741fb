package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

func TestGatesHoldTheCanary(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	hooks := newHookServer(t)
	hooks.set("start", http.StatusForbidden)
	hooks.set("promote", http.StatusForbidden)
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 3, StepWeight: 50,
		Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("start", flaggerv1.ConfirmRolloutHook), hooks.hook("promote", flaggerv1.ConfirmPromotionHook)}}
	create(t, deployment(ns, "podinfo", imageV1, 1), canary(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	setImage(t, ns, "podinfo", imageV2)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseWaiting, 30*time.Second, nil)
	// held: several intervals later it still waits and the canary is not scaled up
	time.Sleep(3 * time.Second)
	if c := getCanary(t, ns, "podinfo"); c.Status.Phase != flaggerv1.CanaryPhaseWaiting {
		t.Fatalf("phase %s while confirm-rollout fails, want Waiting", c.Status.Phase)
	}
	if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 0 {
		t.Errorf("canary scaled to %d while waiting for confirm-rollout", *d.Spec.Replicas)
	}
	hooks.set("start", http.StatusOK)
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseWaitingPromotion, 30*time.Second, nil)
	if c.Status.CanaryWeight != 100 {
		t.Errorf("weight %d in WaitingPromotion, want 100 (the traffic still on the canary)", c.Status.CanaryWeight)
	}
	time.Sleep(3 * time.Second)
	if c := getCanary(t, ns, "podinfo"); c.Status.Phase != flaggerv1.CanaryPhaseWaitingPromotion {
		t.Fatalf("phase %s while confirm-promotion fails, want WaitingPromotion", c.Status.Phase)
	}
	hooks.set("promote", http.StatusOK)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 30*time.Second, nil)
}

func TestRollbackHookAbortsAlsoWhileWaiting(t *testing.T) {
	ns := env.Namespace(t)
	logs := &logBuffer{}
	startController(t, logs, ns)
	hooks := newHookServer(t)
	hooks.set("start", http.StatusForbidden)
	hooks.set("abort", http.StatusForbidden) // not signalling
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 3, StepWeight: 10,
		Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("start", flaggerv1.ConfirmRolloutHook), hooks.hook("abort", flaggerv1.RollbackHook)}}
	create(t, deployment(ns, "podinfo", imageV1, 1), canary(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	setImage(t, ns, "podinfo", imageV2)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseWaiting, 30*time.Second, nil)
	hooks.set("abort", http.StatusOK)
	rejected := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 30*time.Second, nil)
	logs.waitLog(t, "podinfo."+ns, "Rolling back podinfo."+ns+" manual webhook invoked", 5*time.Second)
	checkEnded(t, rejected, flaggerv1.ReleaseFailed, flaggerv1.ReasonRejected, "rollback webhook abort signalled a rollback")
	// the aborted revision stays Failed; it does not wait for its gate again
	hooks.set("abort", http.StatusForbidden)
	time.Sleep(3 * time.Second)
	if c := getCanary(t, ns, "podinfo"); c.Status.Phase != flaggerv1.CanaryPhaseFailed {
		t.Fatalf("phase %s after the abort of a waiting revision, want Failed", c.Status.Phase)
	}

	// and during the analysis
	hooks.set("abort", http.StatusForbidden)
	hooks.set("start", http.StatusOK)
	setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseProgressing, 30*time.Second, nil)
	testenv.Eventually(t, 30*time.Second, func() error {
		if w := getCanary(t, ns, "podinfo").Status.CanaryWeight; w < 10 {
			return fmt.Errorf("weight %d, want the analysis under way", w)
		}
		return nil
	})
	hooks.set("abort", http.StatusOK)
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 30*time.Second, nil)
	if c.Status.CanaryWeight != 0 {
		t.Errorf("weight %d after rollback, want 0", c.Status.CanaryWeight)
	}
}

// A gate with a gateTimeout does not hold a release forever: once the
// canary has waited that long, it is rolled back.
func TestGateTimeoutRollsBack(t *testing.T) {
	ns := env.Namespace(t)
	logs := &logBuffer{}
	startController(t, logs, ns)
	hooks := newHookServer(t)
	hooks.set("promote", http.StatusForbidden)
	promote := hooks.hook("promote", flaggerv1.ConfirmPromotionHook)
	promote.GateTimeout = "4s"
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 3, StepWeight: 50, Webhooks: []flaggerv1.CanaryWebhook{promote}}
	create(t, deployment(ns, "podinfo", imageV1, 1), canary(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	setImage(t, ns, "podinfo", imageV2)
	waiting := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseWaitingPromotion, 30*time.Second, nil)
	if waiting.Status.WaitingSince == nil {
		t.Fatalf("status.waitingSince unset in WaitingPromotion")
	}
	failed := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 30*time.Second, nil)
	if waited := failed.Status.LastTransitionTime.Sub(waiting.Status.WaitingSince.Time); waited < 3*time.Second {
		// lastTransitionTime keeps whole seconds, so 3s stands for 4s
		t.Errorf("rolled back %v after it began to wait, want the 4s gateTimeout", waited)
	}
	if failed.Status.WaitingSince != nil || failed.Status.CanaryWeight != 0 {
		t.Errorf("after the timeout: waitingSince %v, weight %d; want none and 0", failed.Status.WaitingSince, failed.Status.CanaryWeight)
	}
	if waiting.Status.Reason != flaggerv1.ReasonAwaitingApproval || waiting.Status.PendingGate != "promote" {
		t.Errorf("while held: reason %q pending gate %q, want AwaitingApproval and promote", waiting.Status.Reason, waiting.Status.PendingGate)
	}
	checkEnded(t, failed, flaggerv1.ReleaseFailed, flaggerv1.ReasonGateTimeout, "gate promote not approved within its gateTimeout 4s")
	if p := getDeployment(t, ns, "podinfo-primary"); p.Spec.Template.Spec.Containers[0].Image != imageV1 {
		t.Errorf("primary runs %s after the gate timed out, want %s", p.Spec.Template.Spec.Containers[0].Image, imageV1)
	}
	logs.waitLog(t, "podinfo."+ns, "Rolling back podinfo."+ns+" gate promote not approved within its gateTimeout 4s", 5*time.Second)
}

func TestConfigMapChangeStartsACanary(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo-config"}, Data: map[string]string{"color": "blue"}}
	d := deployment(ns, "podinfo", imageV1, 1)
	d.Spec.Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "podinfo-config"}}}}
	create(t, cm, d, canary(ns, "podinfo", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 2, StepWeight: 50}))
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	if c.Status.TrackedConfigs == nil || (*c.Status.TrackedConfigs)["configmap/podinfo-config"] == "" {
		t.Fatalf("trackedConfigs = %v, want configmap/podinfo-config", c.Status.TrackedConfigs)
	}
	primary := getDeployment(t, ns, "podinfo-primary")
	if ref := primary.Spec.Template.Spec.Containers[0].EnvFrom[0].ConfigMapRef.Name; ref != "podinfo-config-primary" {
		t.Errorf("primary uses configmap %q, want podinfo-config-primary", ref)
	}
	var copyCM corev1.ConfigMap
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-config-primary"}, &copyCM); err != nil || copyCM.Data["color"] != "blue" {
		t.Fatalf("primary copy of the configmap: %v %v", err, copyCM.Data)
	}

	patch := client.MergeFrom(cm.DeepCopy())
	cm.Data["color"] = "green"
	if err := env.Client.Patch(context.Background(), cm, patch); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 60*time.Second, nil)
	testenv.Eventually(t, 10*time.Second, func() error {
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-config-primary"}, &copyCM); err != nil {
			return err
		}
		if copyCM.Data["color"] != "green" {
			return fmt.Errorf("primary configmap copy has color=%s after promotion, want green", copyCM.Data["color"])
		}
		return nil
	})
}

func TestRevertToPromotedSpecStartsNothing(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	hooks := newHookServer(t)
	hooks.set("load", http.StatusInternalServerError)
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50, Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("load", flaggerv1.RolloutHook)}}
	create(t, deployment(ns, "podinfo", imageV1, 1), canary(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	setImage(t, ns, "podinfo", imageV2)
	failed := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)

	setImage(t, ns, "podinfo", imageV1) // back to what the primary runs
	time.Sleep(4 * time.Second)
	c := getCanary(t, ns, "podinfo")
	if c.Status.Phase != flaggerv1.CanaryPhaseFailed || c.Status.LastTransitionTime != failed.Status.LastTransitionTime {
		t.Errorf("after reverting to the promoted spec: phase %s (transition %v), want Failed unchanged since %v",
			c.Status.Phase, c.Status.LastTransitionTime, failed.Status.LastTransitionTime)
	}
	if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 0 {
		t.Errorf("canary scaled to %d after a revert", *d.Spec.Replicas)
	}
}

// A canary with a bad reference is told why, and does not hold up others.
func TestBadReferencesAreReportedAndOthersProgress(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	// a webhook that hangs for its whole timeout
	slow := newHookServer(t)
	slowHook := flaggerv1.CanaryWebhook{Name: "slow", Type: flaggerv1.RolloutHook, URL: slow.URL + "/slow", Timeout: "20s"}
	release := make(chan struct{})
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes

	noSelector := deployment(ns, "nolabels", imageV1, 1)
	noSelector.Spec.Selector.MatchLabels = map[string]string{"tier": "web"}
	noSelector.Spec.Template.Labels = map[string]string{"tier": "web"}
	good := deployment(ns, "good", imageV1, 1)
	noTemplate := canary(ns, "notemplate", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 2, StepWeight: 50,
		Metrics: []flaggerv1.CanaryMetric{{Name: "errors", TemplateRef: &flaggerv1.CrossNamespaceObjectReference{Name: "absent"}}}})
	create(t, noSelector, good, deployment(ns, "hanging", imageV1, 1), deployment(ns, "notemplate", imageV1, 1), noTemplate,
		canary(ns, "missing", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 1}),
		canary(ns, "nolabels", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 1}),
		canary(ns, "hanging", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 5, StepWeight: 50, Webhooks: []flaggerv1.CanaryWebhook{slowHook}}),
		canary(ns, "good", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50}))

	waitMessage(t, ns, "missing", "deployment missing."+ns+" not found (spec.targetRef)")
	// deleting it does not hang on its finalizer: there is nothing to revert
	missing := getCanary(t, ns, "missing")
	patch := client.MergeFrom(missing.DeepCopy())
	missing.Spec.RevertOnDeletion = true
	if err := env.Client.Patch(context.Background(), missing, patch); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if c := getCanary(t, ns, "missing"); len(c.Finalizers) == 0 {
			return fmt.Errorf("no finalizer yet on %s", c.Name)
		}
		return nil
	})
	if err := env.Client.Delete(context.Background(), missing); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		var c flaggerv1.Canary
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(missing), &c); err == nil {
			return fmt.Errorf("canary %s still there with finalizers %v", c.Name, c.Finalizers)
		}
		return nil
	})
	waitMessage(t, ns, "nolabels", "deployment nolabels."+ns+" spec.selector.matchLabels must contain one of [app name app.kubernetes.io/name]")
	waitEvent(t, ns, "missing", "deployment missing."+ns+" not found")

	waitPhase(t, ns, "notemplate", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	setImage(t, ns, "notemplate", imageV2)
	waitMessage(t, ns, "notemplate", "metric template absent."+ns+" not found")
	waitEvent(t, ns, "notemplate", "Metric query failed for errors: invalid query: metric template absent."+ns+" not found")

	waitPhase(t, ns, "hanging", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	waitPhase(t, ns, "good", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	setImage(t, ns, "hanging", imageV2)
	waitPhase(t, ns, "hanging", flaggerv1.CanaryPhaseProgressing, 30*time.Second, nil)
	setImage(t, ns, "good", imageV2)
	// the good canary finishes while the other one's hook hangs
	start := time.Now()
	waitPhase(t, ns, "good", flaggerv1.CanaryPhaseSucceeded, 60*time.Second, nil)
	if c := getCanary(t, ns, "hanging"); c.Status.Phase != flaggerv1.CanaryPhaseProgressing {
		t.Errorf("hanging canary is %s, want still Progressing", c.Status.Phase)
	}
	t.Logf("the good canary was promoted %s after its image changed, while another canary's hook hung", time.Since(start).Round(time.Second))
}

func waitMessage(t *testing.T, ns, name, want string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		if c := getCanary(t, ns, name); !strings.Contains(c.Status.Message, want) {
			return fmt.Errorf("canary %s status.message %q, want it to contain %q", name, c.Status.Message, want)
		}
		return nil
	})
}

// waitEvent waits for an event on the Canary whose note contains text.
func waitEvent(t *testing.T, ns, name, text string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, func() error {
		evs, err := env.Kube.EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var notes []string
		for _, e := range evs.Items {
			if e.Regarding.Name == name && e.Regarding.Kind == "Canary" {
				if strings.Contains(e.Note, text) && e.Reason == "Synced" {
					return nil
				}
				notes = append(notes, e.Note)
			}
		}
		return fmt.Errorf("no event on canary %s with %q; events: %q", name, text, notes)
	})
}
