package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

const (
	imageV1 = "ghcr.io/stefanprodan/podinfo:6.0.0"
	imageV2 = "ghcr.io/stefanprodan/podinfo:6.0.1"
)

func TestInitialization(t *testing.T) {
	ns := env.Namespace(t)
	logs := &logBuffer{}
	startController(t, logs, ns)
	create(t, deployment(ns, "podinfo", imageV1, 2),
		canary(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 2, Iterations: 2}))

	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	cond := c.Status.Condition(flaggerv1.PromotedType)
	if cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != "Initialized" || len(c.Status.Conditions) != 1 {
		t.Errorf("conditions = %+v, want the single Promoted=True with reason Initialized", c.Status.Conditions)
	}
	if c.Status.LastAppliedSpec == "" || c.Status.LastAppliedSpec != c.Status.LastPromotedSpec {
		t.Errorf("lastAppliedSpec %q, lastPromotedSpec %q: want both set and equal", c.Status.LastAppliedSpec, c.Status.LastPromotedSpec)
	}
	primary := getDeployment(t, ns, "podinfo-primary")
	if got := primary.Spec.Selector.MatchLabels["app"]; got != "podinfo-primary" {
		t.Errorf("primary selector app=%q, want podinfo-primary", got)
	}
	if got := primary.Spec.Template.Spec.Containers[0].Image; got != imageV1 {
		t.Errorf("primary image %q, want %q", got, imageV1)
	}
	if !metav1.IsControlledBy(primary, c) {
		t.Errorf("primary has no controller reference to the Canary: %+v", primary.OwnerReferences)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 0 {
			return fmt.Errorf("target has %d replicas, want 0", *d.Spec.Replicas)
		}
		return nil
	})
	for name, sel := range map[string]string{"podinfo": "podinfo-primary", "podinfo-primary": "podinfo-primary", "podinfo-canary": "podinfo"} {
		var svc corev1.Service
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
			t.Errorf("service %s: %v", name, err)
			continue
		}
		if svc.Spec.Selector["app"] != sel || svc.Spec.Ports[0].Port != 9898 || svc.Spec.Ports[0].Name != "http" {
			t.Errorf("service %s: selector %v ports %+v, want app=%s on http 9898", name, svc.Spec.Selector, svc.Spec.Ports, sel)
		}
		if svc.Annotations["kustomize.toolkit.fluxcd.io/reconcile"] != "" && !metav1.IsControlledBy(&svc, c) {
			t.Errorf("service %s: unexpected annotations %v", name, svc.Annotations)
		}
	}
	logs.waitLog(t, "podinfo."+ns, "Initialization done! podinfo."+ns, 10*time.Second)
}

// analysisWith returns an analysis that calls the hook server.
func promotionAnalysis(h *hookServer) *flaggerv1.CanaryAnalysis {
	return &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 3, StepWeight: 20, MaxWeight: 60,
		Webhooks: []flaggerv1.CanaryWebhook{h.hook("acceptance", flaggerv1.PreRolloutHook), h.hook("load", flaggerv1.RolloutHook), h.hook("notify", flaggerv1.PostRolloutHook)}}
}

func TestCanaryPromotion(t *testing.T) {
	cases := []struct {
		name     string
		provider string
		analysis func(*hookServer) *flaggerv1.CanaryAnalysis
		weights  []int
	}{
		{"stepWeight", "kubernetes:replicas", promotionAnalysis, []int{0, 20, 40, 60}},
		{"stepWeights", "kubernetes:replicas", func(h *hookServer) *flaggerv1.CanaryAnalysis {
			a := promotionAnalysis(h)
			a.StepWeight, a.MaxWeight, a.StepWeights = 0, 0, []int{10, 50}
			return a
		}, []int{0, 10, 50}},
		{"blue/green iterations", "kubernetes", func(h *hookServer) *flaggerv1.CanaryAnalysis {
			a := promotionAnalysis(h)
			a.StepWeight, a.MaxWeight, a.Iterations = 0, 0, 3
			return a
		}, []int{0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			logs := &logBuffer{}
			startController(t, logs, ns)
			hooks := newHookServer(t)
			create(t, deployment(ns, "podinfo", imageV1, 2), canary(ns, "podinfo", tc.provider, tc.analysis(hooks)))
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

			setImage(t, ns, "podinfo", imageV2)
			var weights []int
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhasePromoting, 90*time.Second, &weights)
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 60*time.Second, &weights)
			if got := compact(weights); len(got) < len(tc.weights) || !slices.Equal(got[:len(tc.weights)], tc.weights) {
				t.Errorf("weights seen %v, want %v then back to 0", got, tc.weights)
			}
			if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV2 {
				t.Errorf("primary image %q after promotion, want %q", img, imageV2)
			}
			testenv.Eventually(t, 10*time.Second, func() error {
				if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 0 {
					return fmt.Errorf("canary has %d replicas after promotion, want 0", *d.Spec.Replicas)
				}
				return nil
			})
			key := "podinfo." + ns
			logs.waitLog(t, key, "Promotion completed! Scaling down "+key, 10*time.Second)
			if testing.Verbose() {
				for _, l := range logs.Lines() {
					t.Log(l["level"], l["msg"], l["err"], l["error"])
				}
			}
			if hooks.count("acceptance") != 1 {
				t.Errorf("pre-rollout hook called %d times, want once", hooks.count("acceptance"))
			}
			testenv.Eventually(t, 10*time.Second, func() error {
				if hooks.count("notify") != 1 {
					return fmt.Errorf("post-rollout hook called %d times, want once", hooks.count("notify"))
				}
				return nil
			})
		})
	}
}

// compact drops consecutive repeats.
func compact(ws []int) []int {
	var out []int
	for _, w := range ws {
		if len(out) == 0 || out[len(out)-1] != w {
			out = append(out, w)
		}
	}
	return out
}

func TestSkipAnalysis(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	hooks := newHookServer(t)
	c := canary(ns, "podinfo", "kubernetes", promotionAnalysis(hooks))
	c.Spec.SkipAnalysis = true
	create(t, deployment(ns, "podinfo", imageV1, 1), c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	setImage(t, ns, "podinfo", imageV2)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 60*time.Second, nil)
	if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV2 {
		t.Errorf("primary image %q, want %q", img, imageV2)
	}
	if hooks.count("acceptance") != 0 || hooks.count("load") != 0 {
		t.Errorf("analysis hooks called with skipAnalysis: pre-rollout %d, rollout %d", hooks.count("acceptance"), hooks.count("load"))
	}
}

func TestRollbackOnFailedChecks(t *testing.T) {
	ns := env.Namespace(t)
	logs := &logBuffer{}
	startController(t, logs, ns)
	hooks := newHookServer(t)
	a := promotionAnalysis(hooks)
	a.Threshold = 2
	create(t, deployment(ns, "podinfo", imageV1, 2), canary(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	hooks.set("load", http.StatusInternalServerError)
	setImage(t, ns, "podinfo", imageV2)
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 90*time.Second, nil)
	if c.Status.FailedChecks != 2 || c.Status.CanaryWeight != 0 {
		t.Errorf("failedChecks %d weight %d, want 2 and 0", c.Status.FailedChecks, c.Status.CanaryWeight)
	}
	r := checkEnded(t, c, flaggerv1.ReleaseFailed, flaggerv1.ReasonWebhookFailed, "external check load failed")
	if r.FailedChecks != 2 || r.HighestWeight != 20 || r.Images[0] != imageV2 || len(c.Status.History) != 1 {
		t.Errorf("history %+v: want one release of %s that reached weight 20 with 2 failed checks", c.Status.History, imageV2)
	}
	if cond := c.Status.Condition(flaggerv1.PromotedType); cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "Failed" {
		t.Errorf("condition %+v, want Promoted=False reason Failed", cond)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 0 {
			return fmt.Errorf("canary has %d replicas, want 0", *d.Spec.Replicas)
		}
		if p := getDeployment(t, ns, "podinfo-primary"); *p.Spec.Replicas != 2 || p.Spec.Template.Spec.Containers[0].Image != imageV1 {
			return fmt.Errorf("primary %d replicas of %s, want 2 of %s", *p.Spec.Replicas, p.Spec.Template.Spec.Containers[0].Image, imageV1)
		}
		return nil
	})
	key := "podinfo." + ns
	msgs := logs.messages(key)
	rolling := slices.Index(msgs, "Rolling back "+key+" failed checks threshold reached 2")
	failed := slices.Index(msgs, "Canary failed! Scaling down "+key)
	if rolling < 0 || failed < rolling {
		t.Errorf("log messages lack the rollback lines in order:\n%v", msgs)
	}
}

// A new revision whose pods never become ready (here: no node matches their
// selector, so they stay Pending) is rolled back once the canary's
// progressDeadlineSeconds has passed, instead of waiting forever.
func TestUnschedulableCanaryRollsBackAtItsDeadline(t *testing.T) {
	ns := env.Namespace(t)
	logs := &logBuffer{}
	startController(t, logs, ns)
	c := canary(ns, "podinfo", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 5, StepWeight: 50})
	c.Spec.ProgressDeadlineSeconds = ptr.To[int32](5)
	create(t, deployment(ns, "podinfo", imageV1, 1), c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	d := getDeployment(t, ns, "podinfo")
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = imageV2
	d.Spec.Template.Spec.NodeSelector = map[string]string{"warbler.dev/no-such-node": "true"}
	if err := env.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
	failed := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 90*time.Second, nil)
	if failed.Status.CanaryWeight != 0 {
		t.Errorf("weight %d after the rollback, want 0", failed.Status.CanaryWeight)
	}
	checkEnded(t, failed, flaggerv1.ReleaseFailed, flaggerv1.ReasonProgressDeadlineExceeded, "canary deployment podinfo."+ns+" not ready")
	testenv.Eventually(t, 10*time.Second, func() error {
		if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 0 {
			return fmt.Errorf("canary has %d replicas, want 0", *d.Spec.Replicas)
		}
		if p := getDeployment(t, ns, "podinfo-primary"); p.Spec.Template.Spec.Containers[0].Image != imageV1 {
			return fmt.Errorf("primary runs %s, want %s", p.Spec.Template.Spec.Containers[0].Image, imageV1)
		}
		return nil
	})
	key := "podinfo." + ns
	msgs := logs.messages(key)
	rolling := slices.IndexFunc(msgs, func(m string) bool {
		return strings.HasPrefix(m, "Rolling back "+key+" progress deadline exceeded canary deployment "+key+" not ready: waiting for rollout to finish")
	})
	if rolling < 0 || slices.Index(msgs, "Canary failed! Scaling down "+key) < rolling {
		t.Errorf("log messages lack the deadline rollback in order:\n%q", msgs)
	}
}
