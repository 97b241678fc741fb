// Package e2e runs seed 003 end to end on the local stack, with the built
// controller and loadtester, real podinfo processes and a real Prometheus:
// podinfo 3.1.1 is promoted, podinfo 3.1.2 is rolled back after HTTP 500s
// and 1 s delays. It is the scenario `make demo` shows.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/demo"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

func TestSeed003(t *testing.T) {
	bins := testenv.Build(t, "./cmd/warbler", "./cmd/loadtester")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	res, err := demo.Run(ctx, demo.Config{
		Root: env.Root, Kubeconfig: env.Kubeconfig, Dir: t.TempDir(), Interval: "2s",
		Warbler: filepath.Join(bins, "warbler"), Loadtester: filepath.Join(bins, "loadtester"), Out: &out,
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scenario output:\n%s", out.String())
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	wantPhases := []flaggerv1.CanaryPhase{"Initialized", "Progressing", "Promoting", "Finalising", "Succeeded", "Progressing", "Failed"}
	if !isSubsequence(wantPhases, res.Phases) {
		t.Errorf("phases seen %v, want %v in this order", res.Phases, wantPhases)
	}
	// every step of 5 up to 100 was seen in the status
	for w := 5; w <= 100; w += 5 {
		if !slices.Contains(res.Weights, w) {
			t.Errorf("weight %d never seen; weights seen %v", w, res.Weights)
		}
	}
	if !slices.IsSorted(res.Weights) {
		t.Errorf("weights went down during the promotion: %v", res.Weights)
	}
	if res.PromotedImage != "stefanprodan/podinfo:3.1.1" {
		t.Errorf("primary image after the promotion %q, want stefanprodan/podinfo:3.1.1", res.PromotedImage)
	}
	if res.PrimaryAfterRollback != "stefanprodan/podinfo:3.1.1" || res.CanaryReplicasAfterRollback != 0 {
		t.Errorf("after the rollback the primary runs %q and the canary has %d replicas; want 3.1.1 and 0",
			res.PrimaryAfterRollback, res.CanaryReplicasAfterRollback)
	}
	if res.Failed.FailedChecks != 5 || res.Failed.CanaryWeight != 0 {
		t.Errorf("failed status: %d failed checks, weight %d; want 5 and 0", res.Failed.FailedChecks, res.Failed.CanaryWeight)
	}
	failing := 0
	for _, ch := range res.Failed.Checks {
		if ch.Failed && ch.Metric == "request-success-rate" && ch.Value != nil && *ch.Value < 99 {
			failing++
		}
	}
	if failing == 0 {
		t.Errorf("no failing success-rate check with its value in status.checks: %+v", res.Failed.Checks)
	}
	checkMessages(t, res.Messages)
}

// checkMessages asserts seed 003's log lines, read as JSON, in order.
func checkMessages(t *testing.T, msgs []string) {
	t.Helper()
	want := []string{
		"Initialization done! podinfo.prod",
		"New revision detected! Scaling up podinfo.prod",
		"Starting canary analysis for podinfo.prod",
		"Pre-rollout check acceptance-test passed",
	}
	for w := 5; w <= 100; w += 5 {
		want = append(want, fmt.Sprintf("Advance podinfo.prod canary weight %d", w))
	}
	want = append(want,
		"Copying podinfo.prod template spec to podinfo-primary.prod",
		"Routing all traffic to primary",
		"Promotion completed! Scaling down podinfo.prod",
		"New revision detected! Scaling up podinfo.prod",
		"Starting canary analysis for podinfo.prod",
		"Advance podinfo.prod canary weight 5",
		`re:^Halt podinfo\.prod advancement success rate \d+\.\d\d% < 99%$`,
		"Rolling back podinfo.prod failed checks threshold reached 5",
		"Canary failed! Scaling down podinfo.prod",
	)
	i := 0
	for _, m := range msgs {
		if i < len(want) && matches(want[i], m) {
			i++
		}
	}
	if i < len(want) {
		t.Errorf("log message %q (number %d of the expected sequence) not found in order; the controller logged:\n%q", want[i], i+1, msgs)
	}
	// the good release passes every check: the canary's first check
	// already has data (no "no values found" halt)
	for _, m := range msgs {
		if m == "Copying podinfo.prod template spec to podinfo-primary.prod" {
			break
		}
		if strings.HasPrefix(m, "Halt ") {
			t.Errorf("the release of 3.1.1 halted: %q", m)
		}
	}
	for _, m := range msgs {
		if regexp.MustCompile(`^Halt podinfo\.prod advancement success rate`).MatchString(m) && !matches(want[len(want)-3], m) {
			t.Errorf("halt message %q is not in Flagger's wording", m)
		}
	}
}

func matches(want, got string) bool {
	if re, ok := strings.CutPrefix(want, "re:"); ok {
		return regexp.MustCompile(re).MatchString(got)
	}
	return want == got
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence[T comparable](want, got []T) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
