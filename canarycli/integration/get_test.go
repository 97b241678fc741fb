package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli"
	"github.com/warbler-dev/warbler/internal/golden"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// progressingCanary starts a release of podinfo held at weight 50 (the
// confirm-traffic-increase gate allows one step), with both metric checks
// recorded.
func progressingCanary(t *testing.T, ns string) *flaggerv1.Canary {
	t.Helper()
	startController(t, ns, newMetrics(map[string]float64{"request-success-rate": 99.5, "latency-p99": 120}), nil)
	g := newGates(t)
	g.set("step", 1)
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 5, StepWeight: 50, Metrics: checkedMetrics(),
		Webhooks: []flaggerv1.CanaryWebhook{g.hook("step", flaggerv1.ConfirmTrafficIncreaseHook)}}
	create(t, deployment(ns, "podinfo", imageV1, 2), canaryOf(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second)
	setImage(t, ns, "podinfo", imageV2)
	return waitCanary(t, ns, "podinfo", 60*time.Second, "Progressing at weight 50 with two checks", func(c *flaggerv1.Canary) bool {
		metrics := map[string]bool{}
		for _, ch := range c.Status.Checks {
			metrics[ch.Metric] = true
		}
		return c.Status.Phase == flaggerv1.CanaryPhaseProgressing && c.Status.CanaryWeight == 50 && len(metrics) == 2
	})
}

// settled: every workload has exactly its desired pods, all running.
func settled(s *canarycli.Summary) error {
	for _, r := range s.Replicas {
		if r.Current != r.Desired || r.Ready != r.Desired || r.Available != r.Desired {
			return fmt.Errorf("%s: %+v", r.Name, r)
		}
	}
	var pods func(n canarycli.Node) error
	pods = func(n canarycli.Node) error {
		if n.Kind == "Pod" && n.Status != "Running" {
			return fmt.Errorf("pod %s is %s", n.Name, n.Status)
		}
		for _, c := range n.Children {
			if err := pods(c); err != nil {
				return err
			}
		}
		return nil
	}
	return pods(s.Tree)
}

var (
	podName   = regexp.MustCompile(`^(podinfo(?:-primary)?)-[a-z0-9]{5,12}-[a-z0-9]{5}$`)
	rsName    = regexp.MustCompile(`^(podinfo(?:-primary)?)-[a-z0-9]{5,12}$`)
	localPort = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// normalize replaces what changes from run to run: the namespace, the
// generated names of ReplicaSets and pods, the test servers' ports, and
// every time.
func normalize(s *canarycli.Summary, ns string) {
	s.Namespace = "NS"
	s.WaitingSince = nil
	if r := s.Release; r != nil {
		r.StartTime, r.Revision = metav1.Time{}, "REVISION"
	}
	if g := s.Gate; g != nil {
		g.WaitingSince = nil
		g.URL = localPort.ReplaceAllString(g.URL, "127.0.0.1:PORT")
		g.Note = strings.ReplaceAll(localPort.ReplaceAllString(g.Note, "127.0.0.1:PORT"), ns, "NS")
	}
	var walk func(n *canarycli.Node)
	walk = func(n *canarycli.Node) {
		n.Created = time.Time{}
		switch n.Kind {
		case "Pod":
			n.Name = podName.ReplaceAllString(n.Name, "$1-<hash>-<pod>")
		case "ReplicaSet":
			n.Name = rsName.ReplaceAllString(n.Name, "$1-<hash>")
		}
		for i := range n.Children {
			walk(&n.Children[i])
		}
	}
	walk(&s.Tree)
	s.Message = strings.ReplaceAll(s.Message, ns, "NS")
}

func TestGetProgressingCanary(t *testing.T) {
	ns := env.Namespace(t)
	progressingCanary(t, ns)

	var s canarycli.Summary
	testenv.Eventually(t, 60*time.Second, func() error {
		code, stdout, stderr := kubectlCanary(t, "get", "podinfo", "-n", ns, "-o", "json")
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, stderr)
		}
		s = canarycli.Summary{}
		if err := json.Unmarshal([]byte(stdout), &s); err != nil {
			return err
		}
		return settled(&s)
	})
	if s.SetWeight != 50 || s.ActualWeight == nil || *s.ActualWeight != 50 || s.Step != 1 || s.Steps != 2 {
		t.Errorf("weights: set %d actual %v step %d/%d, want 50, 50, 1/2", s.SetWeight, s.ActualWeight, s.Step, s.Steps)
	}
	normalize(&s, ns)
	var out bytes.Buffer
	canarycli.RenderSummary(&out, &s, time.Now())
	golden.Check(t, "get_progressing.golden", out.String())

	// the text output a user sees shows the same
	code, text, stderr := kubectlCanary(t, "get", "podinfo", "-n", ns)
	if code != 0 {
		t.Fatalf("get: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Status:         ◌ Progressing", "Strategy:       Canary (kubernetes:replicas)", "  SetWeight:    50",
		"  ActualWeight: 50", "FailedChecks:   0/5", imageV1 + " (stable)", imageV2 + " (canary)",
		"request-success-rate", "✔ Pass", "99.5 (min 99)", "120 (max 500)", "podinfo-warbler", "primary 50%, canary 50%"} {
		if !strings.Contains(text, want) {
			t.Errorf("get output lacks %q:\n%s", want, text)
		}
	}
}

func TestListHistoryAndWatch(t *testing.T) {
	ns := env.Namespace(t)
	progressingCanary(t, ns)

	code, stdout, stderr := kubectlCanary(t, "list", "-n", ns)
	if code != 0 || !regexp.MustCompile(`podinfo\s+◌ Progressing\s+50\s+0/5\s+Deployment/podinfo`).MatchString(stdout) {
		t.Errorf("list: exit %d stderr %q:\n%s", code, stderr, stdout)
	}
	code, stdout, _ = kubectlCanary(t, "list", "-A", "-o", "yaml")
	if code != 0 || !strings.Contains(stdout, "namespace: "+ns+"\n  phase: Progressing\n") {
		t.Errorf("list -A -o yaml: exit %d:\n%s", code, stdout)
	}

	// history: the releases, then one release's checks
	code, stdout, _ = kubectlCanary(t, "history", "podinfo", "-n", ns)
	if code != 0 || !regexp.MustCompile(`(?m)^RELEASE\s+REVISION\s+IMAGES\s+STARTED\s+DURATION\s+OUTCOME\s+WEIGHT\s+FAILED\s+REQUESTS\s+REASON\n1\s+\w+\s+`+
		regexp.QuoteMeta(imageV2)+`\s+\S+ ago\s+\S+\s+◌ Running\s+50\s+0\s+-\s+AwaitingApproval: Halt podinfo`).MatchString(stdout) {
		t.Errorf("history: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = kubectlCanary(t, "history", "podinfo", "-n", ns, "--release", "1", "--metric", "latency-p99")
	if code != 0 || !strings.Contains(stdout, "Release:        #1, running for ") || !strings.Contains(stdout, "Images:         "+imageV2) ||
		!regexp.MustCompile(`latency-p99\s+120\s+max 500\s+✔ Pass\s+no`).MatchString(stdout) || strings.Contains(stdout, "request-success-rate") {
		t.Errorf("history --release 1 --metric: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = kubectlCanary(t, "history", "podinfo", "-n", ns, "--release", "1", "-o", "json")
	var detail canarycli.ReleaseDetail
	if err := json.Unmarshal([]byte(stdout), &detail); code != 0 || err != nil || detail.Release.ID != 1 || len(detail.Checks) < 2 || detail.Checks[0].Value == nil || detail.Checks[0].ReleaseID != 1 {
		t.Errorf("history --release 1 -o json: exit %d, %v:\n%s", code, err, stdout)
	}
	code, _, stderr = kubectlCanary(t, "history", "podinfo", "-n", ns, "--release", "7")
	if code != 1 || !strings.Contains(stderr, "has no release 7 in its history (it keeps releases 1 to 1)") {
		t.Errorf("history --release 7: exit %d, stderr %q", code, stderr)
	}

	// --watch draws until interrupted, then exits 0
	for _, args := range [][]string{{"get", "podinfo", "--watch"}, {"list", "-w"}} {
		var out, errOut bytes.Buffer
		app := &canarycli.App{Stdout: &out, Stderr: &errOut, PollInterval: 200 * time.Millisecond,
			Getenv: func(k string) string {
				if k == "KUBECONFIG" {
					return env.Kubeconfig
				}
				return ""
			}}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		begin := time.Now()
		if code := app.Run(ctx, append(args, "-n", ns)); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errOut.String())
		}
		cancel()
		if d := time.Since(begin); d > 10*time.Second {
			t.Errorf("%v ran %v after its context ended", args, d)
		}
		want := regexp.MustCompile(`Name:           podinfo[\s\S]*SetWeight:    50`)
		if args[0] == "list" {
			want = regexp.MustCompile(`NAME\s+STATUS[\s\S]*podinfo\s+◌ Progressing\s+50\s`)
		}
		if !want.MatchString(out.String()) {
			t.Errorf("%v printed:\n%s", args, out.String())
		}
	}
}
