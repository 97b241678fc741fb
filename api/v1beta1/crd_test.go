package v1beta1_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

// readObject reads one YAML object from testdata and moves it into ns.
func readObject(t *testing.T, path, ns string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	u.SetNamespace(ns)
	return u
}

func create(t *testing.T, u *unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return env.Client.Create(ctx, u)
}

func TestSeed003CanaryIsAcceptedWithDefaults(t *testing.T) {
	ns := env.Namespace(t)
	if err := create(t, readObject(t, "testdata/valid/seed003-podinfo.yaml", ns)); err != nil {
		t.Fatalf("seed 003 Canary rejected: %v", err)
	}
	var c flaggerv1.Canary
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo"}, &c); err != nil {
		t.Fatal(err)
	}
	a := c.Spec.Analysis
	checks := []struct {
		field     string
		got, want any
	}{
		{"spec.progressDeadlineSeconds", deref(c.Spec.ProgressDeadlineSeconds), int32(600)},
		{"spec.service.portName", c.Spec.Service.PortName, "http"},
		{"spec.service.port", c.Spec.Service.Port, int32(9898)},
		{"spec.analysis.interval", a.Interval, "10s"},
		{"spec.analysis.stepWeight", a.StepWeight, 5},
		{"spec.analysis.maxWeight", a.MaxWeight, 100},
		{"spec.analysis.threshold", a.Threshold, 5},
		{"spec.analysis.primaryReadyThreshold", deref(a.PrimaryReadyThreshold), 100},
		{"spec.analysis.canaryReadyThreshold", deref(a.CanaryReadyThreshold), 100},
		{"spec.analysis.metrics[0].thresholdRange.min", deref(a.Metrics[0].ThresholdRange.Min), 99.0},
		{"spec.analysis.metrics[1].thresholdRange.max", deref(a.Metrics[1].ThresholdRange.Max), 500.0},
		{"spec.analysis.webhooks[0].type", a.Webhooks[0].Type, flaggerv1.PreRolloutHook},
		{"spec.analysis.webhooks[0].metadata.type", a.Webhooks[0].Metadata["type"], "bash"},
		{"spec.analysis.webhooks[1].metadata.cmd", a.Webhooks[1].Metadata["cmd"], "hey -z 2m -q 10 -c 2 http://podinfo-canary.prod:9898/"},
		{"metadata.annotations[fluxcd.io/ignore]", c.Annotations["fluxcd.io/ignore"], "false"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
		}
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestValidExamplesAreAccepted(t *testing.T) {
	ns := env.Namespace(t)
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) < 8 {
		t.Fatalf("expected at least 8 valid examples, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			u := readObject(t, f, ns)
			if err := create(t, u); err != nil {
				t.Fatalf("rejected: %v", err)
			}
			back := &unstructured.Unstructured{}
			back.SetGroupVersionKind(u.GroupVersionKind())
			if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), back); err != nil {
				t.Fatal(err)
			}
			if back.GetUID() == "" {
				t.Fatal("object read back without a UID")
			}
		})
	}
}

func TestDefaultsOnListItems(t *testing.T) {
	ns := env.Namespace(t)
	u := readObject(t, "testdata/valid/session-affinity.yaml", ns)
	if err := create(t, u); err != nil {
		t.Fatal(err)
	}
	var c flaggerv1.Canary
	if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(u), &c); err != nil {
		t.Fatal(err)
	}
	if got := c.Spec.Analysis.SessionAffinity.MaxAge; got != 86400 {
		t.Errorf("sessionAffinity.maxAge = %d, want the default 86400", got)
	}
	// Flagger sends nothing to an alert without severity; Warbler's schema
	// defaults it to info.
	if got := c.Spec.Analysis.Alerts[1].Severity; got != flaggerv1.SeverityInfo {
		t.Errorf("alerts[1].severity = %q, want %q", got, flaggerv1.SeverityInfo)
	}
	if g := c.Spec.Service.GatewayRefs[0]; deref(g.Group) != "gateway.networking.k8s.io" || deref(g.Kind) != "Gateway" {
		t.Errorf("gatewayRefs[0] group/kind = %v/%v, want gateway.networking.k8s.io/Gateway", deref(g.Group), deref(g.Kind))
	}
}

// Each file in testdata/invalid starts with "# expect: <text>"; the API
// server must reject the object with a message containing that text.
func TestInvalidObjectsAreRejectedNamingTheField(t *testing.T) {
	ns := env.Namespace(t)
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 12 {
		t.Fatalf("expected at least 12 invalid examples, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := expectation(t, f)
			err := create(t, readObject(t, f, ns))
			if err == nil {
				t.Fatalf("accepted, want rejection mentioning %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("rejected with %q, want a message mentioning %q", err, want)
			}
		})
	}
}

func expectation(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
			return rest
		}
	}
	t.Fatalf("%s has no '# expect:' line", path)
	return ""
}

func TestKubectlGetCanariesShowsStatusAndWeight(t *testing.T) {
	ns := env.Namespace(t)
	u := readObject(t, "testdata/valid/seed003-podinfo.yaml", ns)
	if err := create(t, u); err != nil {
		t.Fatal(err)
	}
	var c flaggerv1.Canary
	ctx := context.Background()
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), &c); err != nil {
		t.Fatal(err)
	}
	c.Status.Phase = flaggerv1.CanaryPhaseProgressing
	c.Status.CanaryWeight = 35
	c.Status.FailedChecks = 2
	if err := env.Client.Status().Update(ctx, &c); err != nil {
		t.Fatalf("writing status: %v", err)
	}
	kubectl := testenv.StackBinary(t, "kubectl")
	out := run(t, kubectl, "--kubeconfig", env.Kubeconfig, "get", "canaries", "-A")
	header, row := lineWith(out, "NAMESPACE"), lineWith(out, ns)
	for _, col := range []string{"NAMESPACE", "NAME", "STATUS", "WEIGHT", "LASTTRANSITIONTIME"} {
		if !strings.Contains(header, col) {
			t.Errorf("header %q lacks column %s", header, col)
		}
	}
	if f := strings.Fields(row); len(f) < 4 || f[1] != "podinfo" || f[2] != "Progressing" || f[3] != "35" {
		t.Errorf("row = %q, want podinfo Progressing 35", row)
	}
	wide := run(t, kubectl, "--kubeconfig", env.Kubeconfig, "get", "canaries", "-n", ns, "-o", "wide")
	for _, col := range []string{"SUSPENDED", "FAILEDCHECKS", "INTERVAL", "MIRROR", "STEPWEIGHT", "STEPWEIGHTS", "MAXWEIGHT"} {
		if !strings.Contains(lineWith(wide, "NAME"), col) {
			t.Errorf("-o wide lacks column %s:\n%s", col, wide)
		}
	}
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
