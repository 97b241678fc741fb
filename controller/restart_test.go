package controller_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// buildController builds cmd/warbler once per test.
func buildController(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.Build(t, "./cmd/warbler"), "warbler")
}

// startBinary runs the built controller against one namespace; its log
// goes to logPath (appended).
func startBinary(t *testing.T, bin, ns, logPath string) *exec.Cmd {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-kubeconfig", env.Kubeconfig, "-namespace", ns, "-mesh-provider", "kubernetes:replicas",
		"-min-analysis-interval", "1s", "-bind-address", "127.0.0.1", "-port", strconv.Itoa(port), "-log-level", "info")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
	testenv.WaitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/healthz", port), 30*time.Second)
	return cmd
}

// The controller killed with SIGKILL in the middle of an analysis and
// started again finishes the release from the Canary's status: same
// outcome, one promotion, no stuck phase.
func TestKilledMidAnalysisResumes(t *testing.T) {
	bin := buildController(t)
	ns := env.Namespace(t)
	logPath := filepath.Join(t.TempDir(), "warbler.log")
	first := startBinary(t, bin, ns, logPath)

	a := &flaggerv1.CanaryAnalysis{Interval: "2s", Threshold: 2, StepWeight: 10, MaxWeight: 50}
	create(t, deployment(ns, "podinfo", imageV1, 2), canary(ns, "podinfo", "", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	setImage(t, ns, "podinfo", imageV2)
	testenv.Eventually(t, 60*time.Second, func() error {
		if w := getCanary(t, ns, "podinfo").Status.CanaryWeight; w < 20 {
			return fmt.Errorf("weight %d, waiting for 20", w)
		}
		return nil
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killedAt := getCanary(t, ns, "podinfo").Status
	before := killedAt.LatestRelease()
	if before == nil || before.EndTime != nil {
		t.Fatalf("history at the kill %+v: want the release open", killedAt.History)
	}

	startBinary(t, bin, ns, logPath)
	var weights []int
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 90*time.Second, &weights)
	if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV2 {
		t.Errorf("primary image %q, want %q", img, imageV2)
	}
	for _, w := range compact(weights) {
		if w != 0 && w < killedAt.CanaryWeight {
			t.Errorf("weights after the restart %v went below %d, the weight at the kill", compact(weights), killedAt.CanaryWeight)
		}
	}
	if c.Status.FailedChecks != 0 {
		t.Errorf("failed checks %d after a restart, want 0", c.Status.FailedChecks)
	}
	// the release that the first process began is the one the second ended
	if h := c.Status.History; len(h) != 1 || h[0].ID != before.ID || !h[0].StartTime.Equal(&before.StartTime) ||
		h[0].Outcome != flaggerv1.ReleaseSucceeded || h[0].Reason != flaggerv1.ReasonPromoted || h[0].HighestWeight != 50 || h[0].Images[0] != imageV2 {
		t.Errorf("history after the restart %+v: want release %d started at %v, Succeeded (Promoted) at weight 50 with %s", h, before.ID, before.StartTime, imageV2)
	}
	logs, _ := os.ReadFile(logPath)
	copying := strings.Count(string(logs), `"msg":"Copying podinfo.`+ns+` template spec to podinfo-primary.`+ns+`"`)
	if copying != 1 {
		t.Errorf("promotion logged %d times across both processes, want 1", copying)
	}
	var rs appsv1.ReplicaSetList
	if err := env.Client.List(context.Background(), &rs, client.InNamespace(ns), client.MatchingLabels{"app": "podinfo-primary"}); err != nil {
		t.Fatal(err)
	}
	if len(rs.Items) != 2 {
		t.Errorf("primary has %d ReplicaSets, want 2 (one per revision, no double rollout)", len(rs.Items))
	}
}
