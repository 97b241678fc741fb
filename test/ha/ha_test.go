// Package ha tests the controller as several processes: shards that each
// release only their own canaries, a standby that takes over from a
// killed leader, releases that survive the controller being killed at
// random points, and a controller started before the CRDs exist.
package ha

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/chaos"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

// controller returns a cmd/warbler process for namespace ns, not started.
func controller(t *testing.T, ns, name string, extra ...string) *chaos.Controller {
	t.Helper()
	bin := filepath.Join(env.Binaries(t, "./cmd/warbler"), "warbler")
	c := &chaos.Controller{Bin: bin, Kubeconfig: env.Kubeconfig, Log: filepath.Join(t.TempDir(), name+".log"),
		Args: append([]string{"-namespace", ns, "-mesh-provider", "kubernetes", "-min-analysis-interval", "1s", "-log-level", "info"}, extra...)}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			lines := c.LogLines()
			t.Logf("--- %s log (last 40 lines) ---\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return c
}

func start(t *testing.T, cs ...*chaos.Controller) {
	t.Helper()
	for _, c := range cs {
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// fleet is a Fleet of canaries in ns whose rollout hook fails for the
// names bad selects.
func fleet(t *testing.T, ns string, bad func(string) bool) (*chaos.Fleet, *chaos.Hooks) {
	t.Helper()
	hooks, err := chaos.StartHooks(bad)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hooks.Close)
	f := &chaos.Fleet{Client: env.Client, Namespace: ns,
		Analysis: flaggerv1.CanaryAnalysis{Interval: "2s", Threshold: 2, Iterations: 3, Webhooks: hooks.Webhooks("5s")}}
	return f, hooks
}

// initialized creates the canaries and waits until they are Initialized.
func initialized(t *testing.T, f *chaos.Fleet, names ...string) {
	t.Helper()
	ctx := context.Background()
	if err := f.Create(ctx, names...); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitPhase(ctx, 2*time.Minute, names, flaggerv1.CanaryPhaseInitialized); err != nil {
		t.Fatal(err)
	}
}

func isBad(name string) bool { return strings.HasPrefix(name, "bad") }

func succeeds(name string) bool { return !isBad(name) }

// canaryLines are the messages a controller logged about a canary.
func canaryLines(c *chaos.Controller, key string) []string {
	var out []string
	for _, l := range c.LogLines() {
		var line struct{ Msg, Canary string }
		if json.Unmarshal([]byte(l), &line) == nil && line.Canary == key {
			out = append(out, line.Msg)
		}
	}
	return out
}

// Two shards on Flux's label convention: each releases only its own
// canaries, the unlabelled canary goes to the shard configured for it, and
// each shard elects its leader on a Lease of its own.
func TestShardsReleaseOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	elect := []string{"-enable-leader-election", "-leader-election-namespace", ns}
	shard1 := controller(t, ns, "shard1", append(elect, "-watch-label-selector", flaggerv1.ShardLabel+" in (shard1)")...)
	rest := controller(t, ns, "unsharded", append(elect, "-watch-label-selector", "!"+flaggerv1.ShardLabel)...)
	start(t, shard1, rest)

	f, _ := fleet(t, ns, nil)
	f.Setup = func(c *flaggerv1.Canary) {
		if strings.HasPrefix(c.Name, "one") {
			c.Labels = map[string]string{flaggerv1.ShardLabel: "shard1"}
		}
	}
	names := []string{"one-a", "one-b", "none-a", "none-b"}
	ctx := context.Background()
	initialized(t, f, names...)
	run := chaos.Run{Fleet: f, Names: names, Succeeds: succeeds, Timeout: 3 * time.Minute}
	tally, _, err := chaos.During(ctx, run, 0, func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if tally.AsExpected != len(names) {
		t.Errorf("%d of %d releases ended as expected: %v", tally.AsExpected, len(names), tally.Wrong)
	}
	for _, n := range names {
		key := n + "." + ns
		mine, theirs := shard1, rest
		if !strings.HasPrefix(n, "one") {
			mine, theirs = rest, shard1
		}
		if lines := canaryLines(mine, key); !contains(lines, "Promotion completed! Scaling down "+key) {
			t.Errorf("the shard of %s did not release it; its lines: %q", n, lines)
		}
		if lines := canaryLines(theirs, key); len(lines) > 0 {
			t.Errorf("the other shard handled %s: %q", n, lines)
		}
	}
	for _, lease := range []string{"warbler-leader-election-shard1", "warbler-leader-election-unsharded"} {
		if h, err := holder(ns, lease); err != nil || h == "" {
			t.Errorf("Lease %s: holder %q, %v", lease, h, err)
		}
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// Two replicas elect a leader; the leader is killed with SIGKILL in the
// middle of an analysis. The standby takes the Lease over and finishes the
// release: the same outcome, one promotion, the post-rollout hook called
// once.
func TestLeaderFailover(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	elect := []string{"-enable-leader-election", "-leader-election-namespace", ns}
	replicas := [2]*chaos.Controller{controller(t, ns, "replica-a", elect...), controller(t, ns, "replica-b", elect...)}
	start(t, replicas[0], replicas[1])
	f, hooks := fleet(t, ns, nil)
	// long enough that the kill lands in the analysis, not after it
	f.Analysis.Interval, f.Analysis.Iterations = "3s", 6
	names := []string{"podinfo"}
	ctx := context.Background()
	initialized(t, f, names...)
	run := chaos.Run{Fleet: f, Names: names, Succeeds: succeeds, Timeout: 3 * time.Minute}
	res, err := chaos.Failover(ctx, run, replicas, ns, "warbler-leader-election")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the standby held the Lease %s after the leader was killed", res.Took.Round(time.Millisecond))
	if res.AsExpected != 1 || res.PromotedTwice != 0 {
		t.Errorf("release after the failover: %+v", res.Tally)
	}
	if err := hooks.PostRolloutOnce(names); err != nil {
		t.Error(err)
	}
	if n := hooks.Calls("/rollout", "podinfo", ""); n < 6 {
		t.Errorf("rollout hook called %d times, want at least one per iteration (6)", n)
	}
}

// The controller killed with SIGKILL at random points of six releases,
// three good and three bad, started again at once each time: every
// release ends as it would have, none is promoted twice. `make chaos` runs
// the same over 50 releases.
func TestKillAtRandomPoints(t *testing.T) {
	t.Parallel()
	ns := env.Namespace(t)
	ctl := controller(t, ns, "warbler")
	start(t, ctl)
	f, hooks := fleet(t, ns, isBad)
	names := append(chaos.Names("good", 3), chaos.Names("bad", 3)...)
	ctx := context.Background()
	initialized(t, f, names...)
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill points seeded with %d", seed)
	run := chaos.Run{Fleet: f, Names: names, Succeeds: succeeds, Timeout: 5 * time.Minute}
	tally, _, err := chaos.KillDuringReleases(ctx, run, ctl, len(names), 2, 2*time.Second, 16*time.Second, rand.New(rand.NewPCG(seed, 17)))
	if err != nil {
		t.Fatal(err)
	}
	if tally.AsExpected != len(names) || tally.PromotedTwice != 0 {
		t.Errorf("%d of %d releases ended as expected, %d promoted twice: %v", tally.AsExpected, len(names), tally.PromotedTwice, tally.Wrong)
	}
	if err := hooks.PostRolloutOnce(names); err != nil {
		t.Error(err)
	}
}

func holder(ns, lease string) (string, error) {
	var l coordinationv1.Lease
	err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: lease}, &l)
	return ptr.Deref(l.Spec.HolderIdentity, ""), err
}
