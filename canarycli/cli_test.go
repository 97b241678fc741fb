package canarycli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/canarycli"
	"github.com/warbler-dev/warbler/internal/golden"
)

// run runs the plugin in-process and returns its exit code and outputs.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := &canarycli.App{Stdout: &stdout, Stderr: &stderr, Stdin: strings.NewReader(stdin),
		Getenv: func(string) string { return "" }, PollInterval: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := app.Run(ctx, args)
	return code, stdout.String(), stderr.String()
}

// oneErrorLine asserts that stderr is a single line naming want.
func oneErrorLine(t *testing.T, stderr, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "kubectl-canary: ") || !strings.Contains(lines[0], want) {
		t.Errorf("stderr %q, want one line with %q", stderr, want)
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"get"}, "usage: kubectl canary get CANARY"},
		{[]string{"get", "a", "b"}, "usage: kubectl canary get CANARY"},
		{[]string{"get", "podinfo", "-o", "xml"}, `--output "xml": valid formats are json and yaml`},
		{[]string{"list", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"lint"}, "lint needs -f FILE"},
		{[]string{"promote", "podinfo", "--timeout", "soon"}, `invalid value "soon" for flag -timeout`},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := run(t, "", tc.args...)
			if code != canarycli.ExitUsage {
				t.Errorf("exit code %d, want %d", code, canarycli.ExitUsage)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want %q", stderr, tc.want)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"get", "--help"}, {"-h"}} {
		code, stdout, _ := run(t, "", args...)
		if code != canarycli.ExitOK || !strings.Contains(stdout, "kubectl canary") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
}

const validCanary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: kubernetes:replicas
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
  analysis:
    interval: 1m
    threshold: 2
    stepWeight: 10
    maxWeight: 30
    metrics:
    - name: request-success-rate
      thresholdRange:
        min: 99
    - name: request-duration
      thresholdRange:
        max: 500
    webhooks:
    - name: acceptance-test
      type: pre-rollout
      url: http://loadtester.test/
    - name: load-test
      url: http://loadtester.test/
    - name: notify
      type: post-rollout
      url: http://loadtester.test/
`

func TestLintValidAndInvalid(t *testing.T) {
	code, stdout, stderr := run(t, validCanary, "lint", "-f", "-")
	if code != canarycli.ExitOK || stdout != "-: Canary podinfo (document 1, line 1): valid\n" || stderr != "" {
		t.Errorf("valid canary: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	bad := strings.Replace(validCanary, "stepWeight: 10", "stepWeight: 10\n    iterations: 4", 1)
	bad = strings.Replace(bad, "provider: kubernetes:replicas", "provider: linkerd2", 1)
	bad = strings.Replace(bad, "url: http://loadtester.test/\n    - name: notify", "url: loadtester.test\n    - name: notify", 1)
	bad += "---\napiVersion: flagger.app/v1beta1\nkind: AlertProvider\nmetadata:\n  name: slack\nspec:\n  type: teams\n"
	code, stdout, stderr = run(t, bad, "lint", "-f", "-")
	if code != canarycli.ExitFailed {
		t.Errorf("invalid canary: exit %d, want 1", code)
	}
	for _, want := range []string{
		"-: Canary podinfo (document 1, line 1): invalid",
		"error: spec.analysis: set exactly one of analysis.iterations (blue/green, A/B), analysis.stepWeight or analysis.stepWeights",
		"error: spec.analysis.webhooks[1].url: webhook url must be an absolute http or https URL",
		"-: AlertProvider slack (document 2, line 37): invalid",
		"error: spec.type: should be one of [slack msteams discord rocket gchat webhook]",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	oneErrorLine(t, stderr, "2 of 2 flagger.app objects invalid")
}

func TestLintChecksWhatTheSchemaCannot(t *testing.T) {
	cases := map[string]string{
		"provider: kubernetes:replicas":                "error: spec.provider: unknown provider \"linkerd2\"",
		"stepWeight: 10\n    maxWeight: 30":            "error: spec.analysis.stepWeights: must increase step by step, but 20 follows 40",
		"name: request-duration\n      thresholdRange": "error: spec.analysis.metrics[1]: metric \"latency\" has no templateRef and no query",
	}
	replace := map[string]string{
		"provider: kubernetes:replicas":                "provider: linkerd2",
		"stepWeight: 10\n    maxWeight: 30":            "stepWeights: [10, 40, 20]",
		"name: request-duration\n      thresholdRange": "name: latency\n      thresholdRange",
	}
	for old, want := range cases {
		code, stdout, _ := run(t, strings.Replace(validCanary, old, replace[old], 1), "lint", "-f", "-")
		if code != canarycli.ExitFailed || !strings.Contains(stdout, want) {
			t.Errorf("exit %d, stdout %q, want exit 1 and %q", code, stdout, want)
		}
	}
	// the kubernetes provider turns weights into iterations: a warning
	code, stdout, _ := run(t, strings.Replace(validCanary, "kubernetes:replicas", "kubernetes", 1), "lint", "-f", "-")
	if code != canarycli.ExitOK || !strings.Contains(stdout, "warning: spec.analysis: Setting canaryAnalysis.iterations: 10") {
		t.Errorf("exit %d, stdout %q, want a warning about iterations", code, stdout)
	}
}

func TestMalformedInputIsOneLineAndExitOne(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("apiVersion: flagger.app/v1beta1\nkind: Canary\nspec:\n  a: b\n c: d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"lint", "simulate"} {
		code, _, stderr := run(t, "", cmd, "-f", broken)
		if code != canarycli.ExitFailed {
			t.Errorf("%s: exit %d, want 1", cmd, code)
		}
		oneErrorLine(t, stderr, broken+": document 1 (line 1): line 4: did not find expected key")

		code, _, stderr = run(t, "", cmd, "-f", filepath.Join(dir, "missing.yaml"))
		if code != canarycli.ExitFailed {
			t.Errorf("%s missing file: exit %d, want 1", cmd, code)
		}
		oneErrorLine(t, stderr, "missing.yaml: no such file or directory")
	}
	code, _, stderr := run(t, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", "simulate", "-f", "-")
	if code != canarycli.ExitFailed {
		t.Errorf("simulate without a Canary: exit %d, want 1", code)
	}
	oneErrorLine(t, stderr, "-: no Canary found")
}

func TestSimulateGolden(t *testing.T) {
	code, stdout, stderr := run(t, validCanary, "simulate", "-f", "-")
	if code != canarycli.ExitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	golden.Check(t, "simulate_canary.golden", stdout)
}

// The simulated times are those of the analysis package's own scripts
// (analysis/testdata): a canary at weights 10, 20, 30 promotes six
// intervals after its new revision is seen, and with a threshold of 2 a
// failing rollout hook rolls it back three intervals after.
func TestSimulateTimesMatchTheAnalysis(t *testing.T) {
	cases := []struct {
		name, replace, with string
		promote, rollback   string
	}{
		{"canary with pre-rollout hooks", "", "", "Minimum time to promote: 6m0s (7 ticks", "Minimum time to roll back: 2m0s (3 ticks"},
		{"canary without pre-rollout hooks", "    - name: acceptance-test\n      type: pre-rollout\n      url: http://loadtester.test/\n", "",
			"Minimum time to promote: 6m0s (7 ticks", "Minimum time to roll back: 3m0s (4 ticks"},
		{"kubernetes blue/green runs 10 iterations", "kubernetes:replicas", "kubernetes",
			"Minimum time to promote: 14m0s (15 ticks", "Minimum time to roll back: 2m0s (3 ticks"},
		{"interval below the minimum is raised", "interval: 1m", "interval: 2s",
			"Minimum time to promote: 1m0s (7 ticks", "Minimum time to roll back: 20s (3 ticks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := validCanary
			if tc.replace != "" {
				in = strings.Replace(in, tc.replace, tc.with, 1)
			}
			code, stdout, stderr := run(t, in, "simulate", "-f", "-")
			if code != canarycli.ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range []string{tc.promote, tc.rollback} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestLintJSON(t *testing.T) {
	bad := validCanary + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"
	bad = strings.Replace(bad, "provider: kubernetes:replicas", "provider: linkerd2", 1)
	code, stdout, stderr := run(t, bad, "lint", "-f", "-", "-o", "json")
	var res []canarycli.LintResult
	if err := json.Unmarshal([]byte(stdout), &res); code != canarycli.ExitFailed || err != nil || len(res) != 2 {
		t.Fatalf("exit %d, %v, stderr %q:\n%s", code, err, stderr, stdout)
	}
	if r := res[0]; r.Kind != "Canary" || r.Valid || len(r.Problems) != 1 || r.Problems[0].Field != "spec.provider" || !res[1].Skipped {
		t.Errorf("results %+v: want the Canary invalid for spec.provider, the ConfigMap skipped", res)
	}
	oneErrorLine(t, stderr, "1 of 1 flagger.app objects invalid")
}

func TestSimulateJSON(t *testing.T) {
	code, stdout, stderr := run(t, validCanary, "simulate", "-f", "-", "-o", "json")
	if code != canarycli.ExitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"schedule": [`, `"outcome": "Succeeded"`, `"duration": "6m0s"`, `"outcome": "Failed"`, `"duration": "2m0s"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("JSON lacks %s:\n%s", want, stdout)
		}
	}
}

// closedKubeconfig writes a kubeconfig whose API server port is closed.
func closedKubeconfig(t *testing.T) (path, server string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server = "https://" + ln.Addr().String()
	ln.Close()
	path = filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster: {server: %q, insecure-skip-tls-verify: true}
contexts:
- name: gone
  context: {cluster: gone, user: gone, namespace: prod}
current-context: gone
users:
- name: gone
  user: {token: not-a-token}
`, server)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, server
}

func TestNoClusterIsOneLineAndExitOne(t *testing.T) {
	path, server := closedKubeconfig(t)
	for _, args := range [][]string{
		{"get", "podinfo"}, {"list", "-A"}, {"history", "podinfo"}, {"promote", "podinfo"}, {"approve", "podinfo"},
	} {
		code, stdout, stderr := run(t, "", append(args, "--kubeconfig", path)...)
		if code != canarycli.ExitFailed || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
		oneErrorLine(t, stderr, "cannot reach the Kubernetes API at "+server)
	}
	code, _, stderr := run(t, "", "get", "podinfo", "--kubeconfig", filepath.Join(t.TempDir(), "missing"))
	if code != canarycli.ExitFailed {
		t.Errorf("missing kubeconfig: exit %d", code)
	}
	oneErrorLine(t, stderr, "no usable kubeconfig")
}

// Every command's --help shows its flags as the docs do: two dashes for
// long names, shorthands beside them, -o/--output for the commands that
// print data, and the cluster flags only for commands that read the cluster.
func TestHelpOfEveryCommand(t *testing.T) {
	code, top, _ := run(t, "", "--help")
	if code != canarycli.ExitOK {
		t.Fatalf("--help: exit %d", code)
	}
	var cmds []string
	for _, l := range strings.Split(top, "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "      ") && len(f) > 0 {
			cmds = append(cmds, f[0])
		}
	}
	if len(cmds) < 14 {
		t.Fatalf("--help lists %d commands: %v", len(cmds), cmds)
	}
	// every command prints data but completion, which prints a script, and
	// dashboard, which serves pages
	prints := map[string]bool{}
	for _, c := range cmds {
		prints[c] = c != "completion" && c != "dashboard"
	}
	offline := map[string]bool{"lint": true, "simulate": true, "completion": true}
	singleDash := regexp.MustCompile(`(?m)^\s+-[a-z][a-z-]+\b`)
	for _, name := range cmds {
		code, out, stderr := run(t, "", name, "--help")
		if code != canarycli.ExitOK {
			t.Errorf("%s --help: exit %d: %s", name, code, stderr)
			continue
		}
		if m := singleDash.FindString(out); m != "" {
			t.Errorf("%s --help shows a long flag with one dash: %q\n%s", name, m, out)
		}
		if got := strings.Contains(out, "-o, --output format"); got != prints[name] {
			t.Errorf("%s --help lists -o/--output: %t, want %t\n%s", name, got, prints[name], out)
		}
		if got := strings.Contains(out, "--kubeconfig"); got == offline[name] {
			t.Errorf("%s --help lists the cluster flags: %t, want %t\n%s", name, got, !offline[name], out)
		}
		if !strings.Contains(out, "--no-color") {
			t.Errorf("%s --help lacks the global --no-color", name)
		}
	}
	_, out, _ := run(t, "", "get", "--help")
	for _, want := range []string{"-w, --watch ", "-n, --namespace string ", "--request-timeout duration ", "(default 30s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("get --help lacks %q:\n%s", want, out)
		}
	}
}

// The completion protocol answers candidates and a directive; the scripts
// are tested in the real shells in cmd/kubectl-canary.
func TestCompleteProtocol(t *testing.T) {
	cases := []struct {
		words []string
		want  string
	}{
		{[]string{"hi"}, "history\n:4\n"},
		{[]string{"-n", "prod", "pro"}, "promote\n:4\n"},
		{[]string{"history", "--re"}, "--release\n--request-timeout\n:4\n"},
		{[]string{"status", "-o", "y"}, "yaml\n:4\n"},
		{[]string{"lint", "-f", ""}, ":0\n"},
		{[]string{"frobnicate", ""}, ":4\n"},
	}
	for _, tc := range cases {
		code, out, stderr := run(t, "", append([]string{"__complete"}, tc.words...)...)
		if code != 0 || out != tc.want {
			t.Errorf("__complete %q: exit %d, %q (stderr %q), want %q", tc.words, code, out, stderr, tc.want)
		}
	}
	code, out, _ := run(t, "", "completion", "tcsh")
	if code != canarycli.ExitUsage || out != "" {
		t.Errorf("completion tcsh: exit %d, stdout %q", code, out)
	}
}

// judgedCanary runs a baseline, relative checks, the judge and a dry run.
const judgedCanary = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
  namespace: test
spec:
  provider: gatewayapi:v1
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service:
    port: 9898
    gatewayRefs: [{name: public, namespace: gateway}]
  analysis:
    interval: 1m
    threshold: 2
    stepWeight: 10
    maxWeight: 30
    baseline: {enabled: true}
    judge: {passScore: 95, marginalScore: 75}
    metrics:
    - name: request-duration
      interval: 1m
      compare: {against: Baseline}
      thresholdRange: {max: 1.2}
    - name: latency
      templateRef: {name: latency}
      interval: 30s
      judge: {direction: Increase}
    - name: cpu
      templateRef: {name: cpu}
      thresholdRange: {max: 80}
      dryRun: true
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata:
  name: latency
  namespace: test
spec:
  provider: {type: prometheus, address: http://prometheus:9090}
  query: sum(rate(http_request_duration_seconds_sum{pod=~"{{ target }}-.*"}[{{ interval }}]))
`

func TestLintBaselineRelativeAndJudge(t *testing.T) {
	code, stdout, _ := run(t, judgedCanary, "lint", "-f", "-")
	if code != canarycli.ExitOK || strings.Count(stdout, ": valid") != 2 {
		t.Fatalf("exit %d, stdout %q, want both documents valid", code, stdout)
	}
	cases := []struct{ from, to, want string }{
		{"provider: gatewayapi:v1", "provider: nginx", "error: spec.analysis.baseline: provider nginx cannot split traffic three ways (primary, canary and baseline); the baseline works with"},
		{"baseline: {enabled: true}", "baseline: {enabled: false}", "error: spec.analysis: metrics[].judge and metrics[].compare.against: Baseline need analysis.baseline.enabled"},
		{"maxWeight: 30", "maxWeight: 60", "with analysis.baseline, maxWeight (or the last of stepWeights) must be set to 50 or less"},
		{"type: prometheus, address", "type: loadtest, address", "error: spec.analysis.metrics[1].judge: metric template latency uses provider loadtest, which reads the canary's own results; it cannot query the baseline"},
		{"    - name: cpu\n", "    - name: judge\n", `error: spec.analysis.metrics[2].name: "judge" names the judgement in status.checks`},
	}
	for _, tc := range cases {
		code, stdout, _ := run(t, strings.Replace(judgedCanary, tc.from, tc.to, 1), "lint", "-f", "-")
		if code != canarycli.ExitFailed || !strings.Contains(stdout, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, want exit 1 and %q", tc.to, code, stdout, tc.want)
		}
	}
	// nginx's builtin queries read the same for the canary and the primary
	nginx := strings.Replace(validCanary, "provider: kubernetes:replicas", "provider: nginx", 1)
	nginx = strings.Replace(nginx, "      thresholdRange:\n        max: 500", "      compare: {against: Primary}\n      thresholdRange:\n        max: 1.5", 1)
	code, stdout, _ = run(t, nginx, "lint", "-f", "-")
	want := `error: spec.analysis.metrics[1].compare: provider "nginx"'s builtin request-duration query cannot tell the primary's traffic from the canary's`
	if code != canarycli.ExitFailed || !strings.Contains(stdout, want) {
		t.Errorf("nginx compare: exit %d, stdout %q, want %q", code, stdout, want)
	}
}

func TestSimulateBaselineGolden(t *testing.T) {
	code, stdout, stderr := run(t, judgedCanary, "simulate", "-f", "-")
	if code != canarycli.ExitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	golden.Check(t, "simulate_baseline.golden", stdout)
}
