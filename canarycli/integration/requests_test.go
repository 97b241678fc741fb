package integration_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// request runs a request command and checks that it was accepted.
func request(t *testing.T, ns string, args ...string) {
	t.Helper()
	args = append(args, "-n", ns, "--timeout", "30s")
	code, stdout, stderr := kubectlCanary(t, args...)
	want := fmt.Sprintf("canary podinfo.%s: %s accepted: ", ns, args[0])
	if args[0] == "promote" && strings.Contains(strings.Join(args, " "), "--skip-analysis") {
		want = fmt.Sprintf("canary podinfo.%s: promote-skip-analysis accepted: ", ns)
	}
	if code != 0 || !strings.HasPrefix(stdout, want) {
		t.Fatalf("kubectl canary %s: exit %d, stdout %q, stderr %q; want exit 0 and %q", strings.Join(args, " "), code, stdout, stderr, want)
	}
}

// unchanged fails when a request changed the Canary's spec or the target's
// pod template.
func unchanged(t *testing.T, ns, before string) {
	t.Helper()
	if after := specs(t, ns, "podinfo"); after != before {
		t.Errorf("the Canary spec or the pod template changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestPromoteWaitingPromotion(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, ns, newMetrics(map[string]float64{"request-success-rate": 99.9, "latency-p99": 80}), nil)
	g := newGates(t) // the confirm-promotion gate stays closed
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 5, StepWeight: 50, Metrics: checkedMetrics(),
		Webhooks: []flaggerv1.CanaryWebhook{g.hook("approval", flaggerv1.ConfirmPromotionHook)}}
	create(t, deployment(ns, "podinfo", imageV1, 2), canaryOf(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second)
	setImage(t, ns, "podinfo", imageV2)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseWaitingPromotion, 60*time.Second)
	before := specs(t, ns, "podinfo")
	// a gate that is not the loadtester's: a promote request releases it
	code, stdout, _ := kubectlCanary(t, "get", "podinfo", "-n", ns)
	if want := "Open it with:   kubectl canary promote podinfo -n " + ns + "\n"; code != 0 || !strings.Contains(stdout, want) ||
		!strings.Contains(stdout, "Gate:           approval (confirm-promotion) "+g.URL+"/approval\n") {
		t.Errorf("get: exit %d, want the gate and %q:\n%s", code, want, stdout)
	}

	request(t, ns, "promote", "podinfo")
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 60*time.Second)
	if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV2 {
		t.Errorf("primary runs %s after promote, want %s", img, imageV2)
	}
	unchanged(t, ns, before)
}

func TestPauseResumeAndAbort(t *testing.T) {
	ns := env.Namespace(t)
	progressingCanary(t, ns)
	before := specs(t, ns, "podinfo")

	request(t, ns, "pause", "podinfo")
	if c := getCanary(t, ns, "podinfo"); !c.Status.Paused {
		t.Errorf("status.paused is false after pause")
	}
	code, stdout, _ := kubectlCanary(t, "get", "podinfo", "-n", ns)
	if code != 0 || !strings.Contains(stdout, "॥ Progressing (paused)") {
		t.Errorf("get of a paused canary: exit %d:\n%s", code, stdout)
	}
	request(t, ns, "resume", "podinfo")
	if c := getCanary(t, ns, "podinfo"); c.Status.Paused {
		t.Errorf("status.paused is true after resume")
	}

	request(t, ns, "abort", "podinfo")
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 30*time.Second)
	if c.Status.CanaryWeight != 0 {
		t.Errorf("weight %d after abort, want 0", c.Status.CanaryWeight)
	}
	// the history names who paused, resumed and aborted the release, as
	// the API server knows the kubeconfig's user
	r := c.Status.LatestRelease()
	var ops []string
	for _, q := range r.Requests {
		if q.By == "" {
			t.Errorf("request %+v does not say who made it", q)
		}
		ops = append(ops, string(q.Operation))
	}
	if r.Outcome != flaggerv1.ReleaseFailed || r.Reason != flaggerv1.ReasonAborted || strings.Join(ops, ",") != "pause,resume,abort" {
		t.Errorf("release %+v: want Failed, Aborted, with the requests pause, resume and abort", *r)
	}
	code, stdout, _ = kubectlCanary(t, "history", "podinfo", "-n", ns)
	if want := "pause by " + r.Requests[0].By + ", resume by " + r.Requests[0].By + ", abort by " + r.Requests[0].By; code != 0 ||
		!strings.Contains(stdout, want) || !strings.Contains(stdout, "Aborted: aborted on request abort/") {
		t.Errorf("history: exit %d, want %q and the reason:\n%s", code, want, stdout)
	}
	if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV1 {
		t.Errorf("primary runs %s after abort, want %s", img, imageV1)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if r := *getDeployment(t, ns, "podinfo").Spec.Replicas; r != 0 {
			return fmt.Errorf("the aborted canary still has %d replicas", r)
		}
		return nil
	})
	unchanged(t, ns, before)
}

func TestRetryFailedCanary(t *testing.T) {
	ns := env.Namespace(t)
	m := newMetrics(map[string]float64{"request-success-rate": 42, "latency-p99": 80})
	startController(t, ns, m, nil)
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50, Metrics: checkedMetrics()}
	create(t, deployment(ns, "podinfo", imageV1, 2), canaryOf(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second)
	setImage(t, ns, "podinfo", imageV2)
	failed := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second)
	before := specs(t, ns, "podinfo")
	// list says why it failed
	code, stdout, _ := kubectlCanary(t, "list", "-n", ns)
	if want := "MetricCheckFailed: Halt podinfo." + ns + " advancement success rate 42.00% < 99%"; code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("list: exit %d, want %q in MESSAGE:\n%s", code, want, stdout)
	}

	m.set("request-success-rate", 99.9)
	request(t, ns, "retry", "podinfo")
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 60*time.Second)
	if c.Status.LastAppliedSpec != failed.Status.LastAppliedSpec {
		t.Errorf("retry ran revision %s, want the failed one %s", c.Status.LastAppliedSpec, failed.Status.LastAppliedSpec)
	}
	if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV2 {
		t.Errorf("primary runs %s after the retried release, want %s", img, imageV2)
	}
	unchanged(t, ns, before)

	// a request the controller refuses fails the command
	var stderr string
	code, stdout, stderr = kubectlCanary(t, "retry", "podinfo", "-n", ns, "--timeout", "30s")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "retry refused: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("retry of a Succeeded canary: exit %d, stdout %q, stderr %q; want exit 1 and one line saying it was refused", code, stdout, stderr)
	}
}

func TestRequestWithoutControllerTimesOut(t *testing.T) {
	ns := env.Namespace(t)
	create(t, deployment(ns, "podinfo", imageV1, 1),
		canaryOf(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 2}))
	before := specs(t, ns, "podinfo")
	code, _, stderr := kubectlCanary(t, "abort", "podinfo", "-n", ns, "--timeout", "1s")
	if code != 1 || !strings.Contains(stderr, "was not handled within 1s: is the Warbler controller running") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	c := getCanary(t, ns, "podinfo")
	if v := c.Annotations[flaggerv1.RequestAnnotation]; !strings.HasPrefix(v, "abort/") {
		t.Errorf("annotation %s = %q, want abort/<id>", flaggerv1.RequestAnnotation, v)
	}
	unchanged(t, ns, before)

	code, stdout, _ := kubectlCanary(t, "pause", "podinfo", "-n", ns, "--wait=false")
	if code != 0 || !strings.Contains(stdout, "pause requested (warbler.dev/request=pause/") {
		t.Errorf("--wait=false: exit %d, stdout %q", code, stdout)
	}
}
