package integration_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli"
)

// kubectl canary status waits for the current release to end, for CI: exit
// 0 when it succeeded, 1 when it failed, 2 when its --timeout passed. Each
// run starts right after the image changed, before the controller has seen
// the change, as in a pipeline.
func TestStatusExitCodes(t *testing.T) {
	ns := env.Namespace(t)
	m := newMetrics(map[string]float64{"request-success-rate": 99.9, "latency-p99": 80})
	startController(t, ns, m, nil)
	g := newGates(t)
	g.set("start", -1)
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50, Metrics: checkedMetrics(),
		Webhooks: []flaggerv1.CanaryWebhook{g.hook("start", flaggerv1.ConfirmRolloutHook)}}
	create(t, deployment(ns, "podinfo", imageV1, 1), canaryOf(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second)
	last := func(out string) string {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		return lines[len(lines)-1]
	}

	setImage(t, ns, "podinfo", imageV2)
	code, stdout, stderr := kubectlCanary(t, "status", "podinfo", "-n", ns, "--timeout", "90s")
	if l := last(stdout); code != canarycli.ExitOK || !strings.HasPrefix(l, "canary podinfo."+ns+": release 1 (") || !strings.HasSuffix(l, ") Succeeded: Promoted: Canary analysis completed successfully, promotion finished.") {
		t.Errorf("status of a release that succeeds: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	m.set("request-success-rate", 42)
	setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
	code, stdout, stderr = kubectlCanary(t, "status", "podinfo", "-n", ns, "--timeout", "90s")
	if l := last(stdout); code != canarycli.ExitFailed || stderr != "" || !strings.Contains(l, ": release 2 (") ||
		!strings.HasSuffix(l, ") Failed: MetricCheckFailed: Halt podinfo."+ns+" advancement success rate 42.00% < 99%") {
		t.Errorf("status of a release that fails: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	// the gate stays closed: the next release does not end in time
	g.set("start", 0)
	m.set("request-success-rate", 99.9)
	setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.3")
	code, stdout, stderr = kubectlCanary(t, "status", "podinfo", "-n", ns, "--timeout", "3s")
	if code != canarycli.ExitTimeout || !strings.Contains(stderr, "canary podinfo."+ns+": the release did not end within 3s") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("status that times out: exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
	}

	g.set("start", -1)
	code, stdout, stderr = kubectlCanary(t, "status", "podinfo", "-n", ns, "--timeout", "90s", "-o", "json")
	var res canarycli.StatusResult
	if err := json.Unmarshal([]byte(stdout), &res); code != 0 || err != nil || res.Phase != "Succeeded" || res.Release == nil ||
		res.Release.ID != 3 || res.Release.Outcome != flaggerv1.ReleaseSucceeded || res.Release.Requests != nil {
		t.Errorf("status -o json: exit %d, %v, stderr %q:\n%s", code, err, stderr, stdout)
	}
}
