package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/internal/version"
)

// The helper processes of internal/stack, bound to a test's lifetime.
type (
	Process      = stack.Process
	Podinfo      = stack.Podinfo
	Prometheus   = stack.Prometheus
	ScrapeTarget = stack.ScrapeTarget
)

// The traffic providers whose CRDs TrafficCRDs installs.
const (
	GatewayAPI = stack.GatewayAPI
	Istio      = stack.Istio
	Emissary   = stack.Emissary
	SMI        = stack.SMI
	Knative    = stack.Knative
	KEDA       = stack.KEDA
	Contour    = stack.Contour
	Gloo       = stack.Gloo
	Traefik    = stack.Traefik
	Kuma       = stack.Kuma
	APISIX     = stack.APISIX
)

// StartProcess runs bin with args, logging to a file in the test's temp dir,
// and stops it when the test ends; the log tail is shown when it failed.
func StartProcess(t testing.TB, name, bin string, args ...string) *Process {
	t.Helper()
	p, err := stack.Start(name, t.TempDir()+"/"+name+".log", bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, p)
	return p
}

func stopWithTest(t testing.TB, p *Process) {
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			if out, err := os.ReadFile(p.Log); err == nil {
				if len(out) > 3000 {
					out = out[len(out)-3000:]
				}
				t.Logf("--- %s log (last 3000 bytes) ---\n%s", p.Name, out)
			}
		}
	})
}

// Build compiles the module's commands (paths relative to the module root,
// such as "./cmd/warbler") into a temporary folder of the test and returns
// the folder; each binary is named after its package folder.
func Build(t testing.TB, pkgs ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := BuildInto(dir, pkgs...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Binaries is Build once per test binary: the first call for a set of
// packages builds them into a folder that is removed when the tests end,
// later calls return that folder.
func (e *Env) Binaries(t testing.TB, pkgs ...string) string {
	t.Helper()
	e.buildMu.Lock()
	defer e.buildMu.Unlock()
	key := strings.Join(pkgs, " ")
	b, ok := e.builds[key]
	if !ok {
		if b.dir, b.err = os.MkdirTemp("", "warbler-bin-"); b.err == nil {
			b.err = BuildInto(b.dir, pkgs...)
		}
		if e.builds == nil {
			e.builds = map[string]build{}
		}
		e.builds[key] = b
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

// BuildInto builds the packages into dir, stamped with the checkout's
// version as `make build` stamps them.
func BuildInto(dir string, pkgs ...string) error {
	root, err := stack.Root()
	if err != nil {
		return err
	}
	stamp, err := version.Describe(root)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", append([]string{"build", "-ldflags", stamp.Ldflags, "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// StackBinary returns the path of a binary from the stack's cache.
func StackBinary(t testing.TB, name string) string {
	t.Helper()
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := stack.Binary(root, name)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// WaitHTTP waits until GET url answers 200.
func WaitHTTP(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := stack.WaitHTTP(ctx, url); err != nil {
		t.Fatalf("waiting for %s: %v", url, err)
	}
}

// StartPodinfo runs podinfo on a free port until the test ends.
func StartPodinfo(t testing.TB, name string, extra ...string) *Podinfo {
	t.Helper()
	root, _ := stack.Root()
	p, err := stack.StartPodinfo(context.Background(), root, t.TempDir(), name, extra...)
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, p.Process)
	return p
}

// StartPrometheus runs Prometheus scraping the targets until the test ends.
func StartPrometheus(t testing.TB, scrape time.Duration, targets ...ScrapeTarget) *Prometheus {
	t.Helper()
	root, _ := stack.Root()
	p, err := stack.StartPrometheus(context.Background(), root, t.TempDir(), scrape, targets...)
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, p.Process)
	return p
}

// PrometheusConfig renders a scrape configuration; see stack.PrometheusConfig.
func PrometheusConfig(scrape time.Duration, targets []ScrapeTarget) string {
	return stack.PrometheusConfig(scrape, targets)
}

// TrafficCRDs installs the published CRDs of traffic providers once per
// test binary.
func (e *Env) TrafficCRDs(t testing.TB, providers ...string) {
	t.Helper()
	for _, p := range providers {
		v, _ := crdOnce.LoadOrStore(p, &onceErr{})
		o := v.(*onceErr)
		o.once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			o.err = stack.InstallTrafficCRDs(ctx, e.Client, e.Root, p)
		})
		if o.err != nil {
			t.Fatal(o.err)
		}
	}
}

// crdOnce maps a provider to the *onceErr of its CRD installation.
var crdOnce sync.Map

type onceErr struct {
	once sync.Once
	err  error
}

// The metric backends of internal/stack.
type (
	InfluxDB = stack.InfluxDB
	Graphite = stack.Graphite
)

// StartInfluxDB runs influxd with Flux, and a database db, until the test
// ends.
func StartInfluxDB(t testing.TB, db string) *InfluxDB {
	t.Helper()
	root, _ := stack.Root()
	i, err := stack.StartInfluxDB(context.Background(), root, t.TempDir(), db)
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, i.Process)
	return i
}

// StartGraphite runs carbon-cache and graphite-web until the test ends.
func StartGraphite(t testing.TB) *Graphite {
	t.Helper()
	root, _ := stack.Root()
	g, err := stack.StartGraphite(context.Background(), root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopWithTest(t, g.Web)
	stopWithTest(t, g.Carbon)
	return g
}

// KeptnCRDs installs Keptn's KeptnMetric and Analysis CRDs once per test
// binary.
func (e *Env) KeptnCRDs(t testing.TB) {
	t.Helper()
	v, _ := crdOnce.LoadOrStore("keptn", &onceErr{})
	o := v.(*onceErr)
	o.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		o.err = stack.InstallKeptnCRDs(ctx, e.Client)
	})
	if o.err != nil {
		t.Fatal(o.err)
	}
}
