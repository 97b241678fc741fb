// Command chaos runs releases through faults on a private local stack and
// prints a table: for each fault, how many releases ended as they would
// have without it, whether any was promoted twice, and how long the
// slowest took. It exits 1 when a release ended wrongly; it never judges
// the times.
//
//	make chaos          # or: go run ./test/chaos [-only NAME] [-seed N]
//
// The faults: SIGKILL of the controller at random points of 50 releases;
// leader failover (SIGKILL of the leader of two replicas mid-analysis),
// measured over 10 runs; an API server restart mid-analysis; etcd stalled
// for 30 s (SIGSTOP/SIGCONT); Prometheus down for one interval; a webhook
// receiver that never answers; a loadtester restart while a gate is open.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/chaos"
	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/internal/testenv"
)

func main() {
	only := flag.String("only", "", "run only the faults whose name contains this")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the random kill points")
	keep := flag.Bool("keep", false, "keep the working folder (logs of the stack and the controllers)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, *only, *seed, *keep)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// h is the harness: the private stack, the binaries, a client.
type h struct {
	root, dir, stackDir, kubeconfig string
	warbler, loadtester             string
	client                          client.Client
	rnd                             *rand.Rand
}

const interval = 2 * time.Second

func run(ctx context.Context, only string, seed uint64, keep bool) (bool, error) {
	root, err := stack.Root()
	if err != nil {
		return false, err
	}
	dir, err := os.MkdirTemp("", "warbler-chaos-")
	if err != nil {
		return false, err
	}
	if !keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Println("working folder:", dir)
	}
	x := &h{root: root, dir: dir, stackDir: filepath.Join(dir, "stack"), rnd: rand.New(rand.NewPCG(seed, 1))}
	fmt.Printf("==> building; starting a private stack (faults would disturb a shared one); seed %d\n", seed)
	if err := x.build(); err != nil {
		return false, err
	}
	if x.kubeconfig, err = stack.Up(root, x.stackDir, os.Getpid()); err != nil {
		return false, err
	}
	defer stack.Down(root, x.stackDir)
	if err := x.connect(ctx); err != nil {
		return false, err
	}
	var rows []row
	for _, f := range faults {
		if only != "" && !strings.Contains(f.name, only) {
			continue
		}
		fmt.Printf("==> %s\n", f.name)
		start := time.Now()
		r := f.run(ctx, x)
		r.fault, r.took = f.name, time.Since(start)
		rows = append(rows, r)
		fmt.Printf("    %s\n", r.summary())
	}
	printTable(rows, seed)
	for _, r := range rows {
		if !r.ok() {
			return false, nil
		}
	}
	return true, nil
}

func (x *h) build() error {
	bins := filepath.Join(x.dir, "bin")
	x.warbler, x.loadtester = filepath.Join(bins, "warbler"), filepath.Join(bins, "loadtester")
	return testenv.BuildInto(bins, "./cmd/warbler", "./cmd/loadtester")
}

func (x *h) connect(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", x.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(flaggerv1.AddToScheme(s))
	if x.client, err = client.New(cfg, client.Options{Scheme: s}); err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return stack.InstallCRDs(ictx, x.client, filepath.Join(x.root, "charts", "warbler", "crds"))
}

// namespace creates a namespace for one fault.
func (x *h) namespace(ctx context.Context, name string) (string, error) {
	ns := fmt.Sprintf("chaos-%s-%04x", name, x.rnd.IntN(1<<16))
	if err := x.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return "", err
	}
	return ns, nil
}

// controller returns a started controller for ns.
func (x *h) controller(ctx context.Context, ns, name string, extra ...string) (*chaos.Controller, error) {
	c := &chaos.Controller{Bin: x.warbler, Kubeconfig: x.kubeconfig, Log: filepath.Join(x.dir, ns+"-"+name+".log"),
		Args: append([]string{"-namespace", ns, "-mesh-provider", "kubernetes", "-min-analysis-interval", "1s", "-log-level", "info"}, extra...)}
	return c, c.Start(ctx)
}

// setup is a namespace, a controller, a webhook receiver and a fleet of
// good and bad canaries, Initialized.
type setup struct {
	ns    string
	ctl   *chaos.Controller
	hooks *chaos.Hooks
	fleet *chaos.Fleet
	names []string
}

func (x *h) setup(ctx context.Context, name string, good, bad int, mutate func(*setup)) (*setup, error) {
	ns, err := x.namespace(ctx, name)
	if err != nil {
		return nil, err
	}
	s := &setup{ns: ns, names: append(chaos.Names("good", good), chaos.Names("bad", bad)...)}
	if s.hooks, err = chaos.StartHooks(isBad); err != nil {
		return nil, err
	}
	s.fleet = &chaos.Fleet{Client: x.client, Namespace: ns,
		Analysis: flaggerv1.CanaryAnalysis{Interval: interval.String(), Threshold: 2, Iterations: 3, Webhooks: s.hooks.Webhooks("5s")}}
	if mutate != nil {
		mutate(s)
	}
	if s.ctl, err = x.controller(ctx, ns, "warbler"); err != nil {
		return nil, err
	}
	if err := s.fleet.Create(ctx, s.names...); err != nil {
		return nil, err
	}
	return s, s.fleet.WaitPhase(ctx, 5*time.Minute, s.names, flaggerv1.CanaryPhaseInitialized)
}

func (s *setup) close() {
	s.ctl.Stop()
	s.hooks.Close()
}

func (s *setup) run() chaos.Run {
	return chaos.Run{Fleet: s.fleet, Names: s.names, Succeeds: succeeds, Timeout: 10 * time.Minute}
}

func isBad(name string) bool    { return strings.HasPrefix(name, "bad") }
func succeeds(name string) bool { return !isBad(name) }

// row is one line of the table.
type row struct {
	fault     string
	tally     chaos.Tally
	postTwice int
	slowest   time.Duration
	note      string
	err       error
	took      time.Duration
}

func (r row) ok() bool {
	return r.err == nil && r.tally.Releases > 0 && r.tally.AsExpected == r.tally.Releases && r.tally.PromotedTwice == 0 && r.postTwice == 0
}

func (r row) summary() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	s := fmt.Sprintf("%d/%d releases as expected, %d promoted twice; %s", r.tally.AsExpected, r.tally.Releases, r.tally.PromotedTwice, r.note)
	if len(r.tally.Wrong) > 0 {
		s += "; wrong: " + strings.Join(r.tally.Wrong, "; ")
	}
	return s
}

func printTable(rows []row, seed uint64) {
	fmt.Printf("\nchaos: interval %s, iterations 3, threshold 2, provider kubernetes; seed %d\n", interval, seed)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "FAULT\tRELEASES\tAS EXPECTED\tPROMOTED TWICE\tPOST-ROLLOUT TWICE\tSLOWEST RELEASE\tNOTES\t")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\terror: %v\t\n", r.fault, r.err)
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t\n", r.fault, r.tally.Releases, r.tally.AsExpected, r.tally.PromotedTwice,
			r.postTwice, r.slowest.Round(100*time.Millisecond), r.note)
	}
	w.Flush()
}

// postTwice counts canaries whose post-rollout hook ran more than once.
func postTwice(hooks *chaos.Hooks, names []string) int {
	n := 0
	for _, name := range names {
		if hooks.Calls("/post-rollout", name, "") > 1 {
			n++
		}
	}
	return n
}

func percentile(d []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
