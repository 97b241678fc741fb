package ha

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/chaos"
	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// privateAPIServer starts an API server and etcd of the test's own (the
// stack's binaries, through envtest): CRDs are cluster-wide, so the shared
// stack, where every test binary installed them, cannot show a cluster
// without them.
func privateAPIServer(t *testing.T) (kubeconfig string, c client.Client) {
	t.Helper()
	out, err := exec.Command(filepath.Join(env.Root, "hack", "stack.sh"), "envtest").Output()
	if err != nil {
		t.Fatalf("hack/stack.sh envtest: %v", err)
	}
	m := regexp.MustCompile(`KUBEBUILDER_ASSETS=(\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("hack/stack.sh envtest printed %q", out)
	}
	te := &envtest.Environment{BinaryAssetsDirectory: string(m[1]), ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("starting a private API server: %v", err)
	}
	t.Cleanup(func() { _ = te.Stop() })
	user, err := te.AddUser(envtest.User{Name: "warbler", Groups: []string{"system:masters"}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err = client.New(cfg, client.Options{Scheme: testenv.Scheme()}); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, c
}

func waitLog(t *testing.T, c *chaos.Controller, what string) {
	t.Helper()
	testenv.Eventually(t, 2*time.Minute, func() error {
		for _, l := range c.LogLines() {
			if strings.Contains(l, what) {
				return nil
			}
		}
		if !c.Running() {
			t.Fatalf("the controller exited instead of logging %q", what)
		}
		return fmt.Errorf("no log line with %q", what)
	})
}

// Started before the flagger.app CRDs exist, the controller says what it
// waits for and keeps running; once they are applied it connects and
// reconciles canaries.
func TestWaitsForTheCRDs(t *testing.T) {
	t.Parallel()
	kubeconfig, c := privateAPIServer(t)
	ctl := &chaos.Controller{Bin: filepath.Join(env.Binaries(t, "./cmd/warbler"), "warbler"), Kubeconfig: kubeconfig,
		Log: filepath.Join(t.TempDir(), "warbler.log"), Args: []string{"-mesh-provider", "kubernetes", "-log-level", "info"}}
	t.Cleanup(func() {
		ctl.Stop()
		if t.Failed() {
			t.Logf("controller log:\n%s", strings.Join(ctl.LogLines(), "\n"))
		}
	})
	start(t, ctl)
	waitLog(t, ctl, "Waiting for the flagger.app CRDs (install them with: kubectl apply -f charts/warbler/crds)")
	for _, l := range ctl.LogLines() {
		if strings.Contains(l, "Connected to Kubernetes API") {
			t.Fatalf("connected without the CRDs: %s", l)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := stack.InstallCRDs(ctx, c, filepath.Join(env.Root, "charts", "warbler", "crds")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, ctl, "Connected to Kubernetes API")
	waitLog(t, ctl, "Starting workers")
	cn := testenv.Canary("default", "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "10s", Threshold: 2, Iterations: 2})
	if err := c.Create(ctx, cn); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(cn), cn); err != nil {
			return err
		}
		if want := "deployment podinfo.default not found (spec.targetRef)"; cn.Status.Message != want {
			return fmt.Errorf("status.message %q, want %q", cn.Status.Message, want)
		}
		return nil
	})
}
