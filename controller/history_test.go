package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/controllertest"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// Each way a release fails leaves its reason in the status and in the
// release's history entry; the other kinds are checked by the tests of
// their feature (deadlines, gate timeouts, rollback hooks, metrics).
func TestFailureReasonsInStatusAndHistory(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	hooks := newHookServer(t)
	hooks.set("smoke", http.StatusInternalServerError)
	hooks.set("load-test", http.StatusServiceUnavailable)
	hooks.set("hold", http.StatusForbidden)
	load := hooks.hook("load-test", flaggerv1.RolloutHook)
	load.Metadata = map[string]string{"type": "cmd", "cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary." + ns + ":9898/"}
	analyses := map[string]*flaggerv1.CanaryAnalysis{
		"smoke":    {Interval: "1s", Threshold: 1, StepWeight: 50, Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("smoke", flaggerv1.PreRolloutHook)}},
		"loadtest": {Interval: "1s", Threshold: 2, StepWeight: 50, Webhooks: []flaggerv1.CanaryWebhook{load}},
		"aborted":  {Interval: "1s", Threshold: 1, StepWeight: 50, Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("hold", flaggerv1.ConfirmTrafficIncreaseHook)}},
	}
	for name, a := range analyses {
		create(t, deployment(ns, name, imageV1, 1), canary(ns, name, "kubernetes:replicas", a))
	}
	for name := range analyses {
		waitPhase(t, ns, name, flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
		setImage(t, ns, name, imageV2)
	}

	smoke := waitPhase(t, ns, "smoke", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)
	checkEnded(t, smoke, flaggerv1.ReleaseFailed, flaggerv1.ReasonWebhookFailed, "pre-rollout check smoke failed")
	loaded := waitPhase(t, ns, "loadtest", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)
	if r := checkEnded(t, loaded, flaggerv1.ReleaseFailed, flaggerv1.ReasonLoadTestFailed, "external check load-test failed"); r.FailedChecks != 2 || r.HighestWeight != 50 {
		t.Errorf("load-test release %+v: want 2 failed checks at weight 50", *r)
	}

	// held at a confirm-traffic-increase gate: the status names it and
	// times the wait; then aborted by alice
	held := waitCanaryStatus(t, ns, "aborted", "held at gate hold", func(s flaggerv1.CanaryStatus) bool {
		return s.Reason == flaggerv1.ReasonAwaitingApproval && s.PendingGate == "hold" && s.WaitingSince != nil
	})
	if r := held.Status.LatestRelease(); r == nil || r.EndTime != nil || r.Outcome != "" {
		t.Errorf("while held, the release is %+v; want it open", r)
	}
	c := getCanary(t, ns, "aborted")
	patch := client.MergeFrom(c.DeepCopy())
	c.Annotations = map[string]string{flaggerv1.RequestAnnotation: "abort/20260101-1", flaggerv1.RequestedByAnnotation: "alice"}
	if err := env.Client.Patch(context.Background(), c, patch); err != nil {
		t.Fatal(err)
	}
	aborted := waitPhase(t, ns, "aborted", flaggerv1.CanaryPhaseFailed, 30*time.Second, nil)
	r := checkEnded(t, aborted, flaggerv1.ReleaseFailed, flaggerv1.ReasonAborted, "aborted on request abort/20260101-1 by alice")
	if len(r.Requests) != 1 || r.Requests[0].Operation != flaggerv1.RequestAbort || r.Requests[0].By != "alice" || !r.Requests[0].Accepted {
		t.Errorf("requests of the aborted release %+v: want the accepted abort by alice", r.Requests)
	}
	if aborted.Status.PendingGate != "" || aborted.Status.WaitingSince != nil {
		t.Errorf("after the abort: pendingGate %q waitingSince %v, want neither", aborted.Status.PendingGate, aborted.Status.WaitingSince)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if a := getCanary(t, ns, "aborted").Annotations; a[flaggerv1.RequestAnnotation] != "" || a[flaggerv1.RequestedByAnnotation] != "" {
			return fmt.Errorf("annotations %v: want the request and its requester removed", a)
		}
		return nil
	})
}

// waitCanaryStatus waits until ok holds for the canary's status.
func waitCanaryStatus(t *testing.T, ns, name, what string, ok func(flaggerv1.CanaryStatus) bool) *flaggerv1.Canary {
	t.Helper()
	var c *flaggerv1.Canary
	testenv.Eventually(t, 60*time.Second, func() error {
		c = getCanary(t, ns, name)
		if !ok(c.Status) {
			return fmt.Errorf("canary %s.%s: want %s; status %+v", name, ns, what, c.Status)
		}
		return nil
	})
	return c
}

// Ten releases in a row: the history keeps the last -release-history-limit
// of them, oldest first, numbered without gaps, each with its image.
func TestHistoryKeepsTheLastReleases(t *testing.T) {
	ns := env.Namespace(t)
	controllertest.Start(t, env, controllertest.Config{Namespaces: []string{ns}, HistoryLimit: 4})
	c := canary(ns, "podinfo", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 100})
	c.Spec.SkipAnalysis = true
	create(t, deployment(ns, "podinfo", imageV1, 1), c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	image := func(i int) string { return fmt.Sprintf("ghcr.io/stefanprodan/podinfo:6.1.%d", i) }
	for i := 1; i <= 10; i++ {
		setImage(t, ns, "podinfo", image(i))
		waitCanaryStatus(t, ns, "podinfo", fmt.Sprintf("release %d succeeded", i), func(s flaggerv1.CanaryStatus) bool {
			r := s.LatestRelease()
			return s.Phase == flaggerv1.CanaryPhaseSucceeded && r != nil && r.ID == i && r.EndTime != nil
		})
	}
	h := getCanary(t, ns, "podinfo").Status.History
	var ids []int
	for i, r := range h {
		ids = append(ids, r.ID)
		want := image(r.ID)
		if !slices.Equal(r.Images, []string{want}) || r.Outcome != flaggerv1.ReleaseSucceeded || r.Reason != flaggerv1.ReasonAnalysisSkipped {
			t.Errorf("release %d: images %v outcome %s reason %s; want [%s] Succeeded AnalysisSkipped", r.ID, r.Images, r.Outcome, r.Reason, want)
		}
		if i > 0 && r.StartTime.Before(h[i-1].EndTime) {
			t.Errorf("release %d started at %v, before release %d ended at %v", r.ID, r.StartTime, h[i-1].ID, h[i-1].EndTime)
		}
	}
	if !slices.Equal(ids, []int{7, 8, 9, 10}) {
		t.Errorf("history keeps releases %v, want the last four: [7 8 9 10]", ids)
	}
}

// A status that Flagger wrote (no history, none of Warbler's fields) is
// adopted: no release starts for it, Flagger's fields stay as its
// consumers read them, and the history starts with the next release.
func TestFlaggerStatusIsAdopted(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	create(t, deployment(ns, "podinfo", imageV1, 1), canary(ns, "podinfo", "kubernetes:replicas",
		&flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50}))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

	// what Flagger 1.44 leaves after a promotion: its own revision hash, its
	// fields only
	flagger := flaggerv1.CanaryStatus{Phase: flaggerv1.CanaryPhaseSucceeded, LastAppliedSpec: "758df7c9fc", LastPromotedSpec: "758df7c9fc",
		TrackedConfigs: &map[string]string{}, LastTransitionTime: metav1.Now(),
		Conditions: []flaggerv1.CanaryCondition{{Type: flaggerv1.PromotedType, Status: metav1.ConditionTrue, Reason: "Succeeded",
			Message: "Canary analysis completed successfully, promotion finished.", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
	testenv.Eventually(t, 30*time.Second, func() error {
		c := getCanary(t, ns, "podinfo")
		c.Status = flagger
		return env.Client.Status().Update(context.Background(), c)
	})
	adopted := waitCanaryStatus(t, ns, "podinfo", "the revision adopted", func(s flaggerv1.CanaryStatus) bool {
		return s.LastAppliedSpec != "758df7c9fc" && s.LastAppliedSpec == s.LastPromotedSpec
	})
	st := adopted.Status
	if st.Phase != flaggerv1.CanaryPhaseSucceeded || len(st.History) != 0 || st.Reason != "" {
		t.Errorf("after adoption: phase %s history %+v reason %q; want Succeeded, no release, no reason", st.Phase, st.History, st.Reason)
	}
	if cond := st.Condition(flaggerv1.PromotedType); len(st.Conditions) != 1 || cond == nil || cond.Status != metav1.ConditionTrue || cond.Reason != "Succeeded" {
		t.Errorf("conditions %+v: want Flagger's single Promoted=True, reason Succeeded", st.Conditions)
	}

	setImage(t, ns, "podinfo", imageV2)
	done := waitCanaryStatus(t, ns, "podinfo", "the first release ended", func(s flaggerv1.CanaryStatus) bool {
		r := s.LatestRelease()
		return s.Phase == flaggerv1.CanaryPhaseSucceeded && r != nil && r.EndTime != nil
	})
	checkEnded(t, done, flaggerv1.ReleaseSucceeded, flaggerv1.ReasonPromoted, "promotion finished")
	if h := done.Status.History; len(h) != 1 || h[0].ID != 1 || h[0].Images[0] != imageV2 || h[0].HighestWeight != 100 {
		t.Errorf("history %+v: want release 1 of %s, up to weight 100", h, imageV2)
	}
}
