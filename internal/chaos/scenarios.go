package chaos

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/stack"
)

// ended are the phases a release ends in.
var ended = []flaggerv1.CanaryPhase{flaggerv1.CanaryPhaseSucceeded, flaggerv1.CanaryPhaseFailed}

// Run is one set of releases through a fault.
type Run struct {
	Fleet    *Fleet
	Names    []string
	Succeeds func(name string) bool
	// Timeout bounds the wait for the releases to end.
	Timeout time.Duration
}

// Durations are how long each release took, from its start to its end.
type Durations map[string]time.Duration

// Max is the longest of the durations of the names given (all when none).
func (d Durations) Max(names ...string) time.Duration {
	var m time.Duration
	for n, v := range d {
		if len(names) == 0 || slices.Contains(names, n) {
			m = max(m, v)
		}
	}
	return m
}

// release starts the releases (at the given offsets from now, if any),
// runs fault meanwhile, waits for every release to end and checks the
// outcomes into t. It returns how long each release took.
func (r Run) release(ctx context.Context, offsets map[string]time.Duration, fault func(ctx context.Context) error, t *Tally) (Durations, error) {
	before, err := r.revisions(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(r.Names)+1)
	for _, n := range r.Names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(offsets[n])
			if err := r.Fleet.Release(ctx, n); err != nil {
				errs <- err
			}
		}()
	}
	if fault != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fault(ctx); err != nil {
				errs <- fmt.Errorf("fault: %w", err)
			}
		}()
	}
	took, err := r.waitEnd(ctx, start, offsets, before)
	wg.Wait()
	close(errs)
	for e := range errs {
		return took, e
	}
	if err != nil {
		return took, err
	}
	outcomes, err := r.Fleet.Outcomes(ctx, r.Names...)
	if err != nil {
		return took, err
	}
	t.Add(outcomes, r.Succeeds)
	return took, nil
}

// revisions are the revisions the canaries last applied.
func (r Run) revisions(ctx context.Context) (map[string]string, error) {
	var list flaggerv1.CanaryList
	if err := retry(ctx, func() error { return r.Fleet.Client.List(ctx, &list, client.InNamespace(r.Fleet.Namespace)) }); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, c := range list.Items {
		out[c.Name] = c.Status.LastAppliedSpec
	}
	return out, nil
}

// waitEnd polls until every release ended (Succeeded or Failed on a
// revision other than the one applied before), noting when each did.
func (r Run) waitEnd(ctx context.Context, start time.Time, offsets map[string]time.Duration, before map[string]string) (Durations, error) {
	took := Durations{}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	err := stack.Poll(ctx, 250*time.Millisecond, func() error {
		var list flaggerv1.CanaryList
		if err := r.Fleet.Client.List(ctx, &list, client.InNamespace(r.Fleet.Namespace)); err != nil {
			return err
		}
		for _, c := range list.Items {
			if _, done := took[c.Name]; done || !slices.Contains(r.Names, c.Name) {
				continue
			}
			if slices.Contains(ended, c.Status.Phase) && c.Status.LastAppliedSpec != before[c.Name] {
				took[c.Name] = time.Since(start) - offsets[c.Name]
			}
		}
		if len(took) < len(r.Names) {
			return fmt.Errorf("%w: %d of %d releases ended", errTimeout, len(took), len(r.Names))
		}
		return nil
	})
	return took, err
}

// KillDuringReleases releases the names in waves of wave canaries, each
// started at a random point of one interval, and SIGKILLs the controller
// kills times per wave at random points of the window (about the length
// of a release), starting it again at once. Every release must end as it
// would have without the kills, and none may be promoted twice.
func KillDuringReleases(ctx context.Context, r Run, ctl *Controller, wave, kills int, interval, window time.Duration, rnd *rand.Rand) (Tally, Durations, error) {
	var t Tally
	all := Durations{}
	for i := 0; i < len(r.Names); i += wave {
		w := r
		w.Names = r.Names[i:min(i+wave, len(r.Names))]
		offsets := map[string]time.Duration{}
		for _, n := range w.Names {
			offsets[n] = time.Duration(rnd.Int64N(int64(interval)))
		}
		at := make([]time.Duration, kills)
		for k := range at {
			at[k] = time.Duration(rnd.Int64N(int64(window)))
		}
		sort.Slice(at, func(a, b int) bool { return at[a] < at[b] })
		fault := func(ctx context.Context) error {
			start := time.Now()
			for _, a := range at {
				time.Sleep(time.Until(start.Add(a)))
				ctl.Kill()
				if err := ctl.Start(ctx); err != nil {
					return err
				}
			}
			return nil
		}
		took, err := w.release(ctx, offsets, fault, &t)
		maps.Copy(all, took)
		if err != nil {
			return t, all, err
		}
	}
	return t, all, nil
}

// During releases every canary of r at once and runs fault after delay.
func During(ctx context.Context, r Run, delay time.Duration, fault func(ctx context.Context) error) (Tally, Durations, error) {
	var t Tally
	took, err := r.release(ctx, nil, func(ctx context.Context) error {
		time.Sleep(delay)
		return fault(ctx)
	}, &t)
	return t, took, err
}

// Takeover is one leader failover.
type Takeover struct {
	// Took is from the SIGKILL of the leader to the Lease held by the
	// standby.
	Took time.Duration
	// Release is how long the release took, from its start to its end.
	Release time.Duration
	Tally
}

// Failover releases canary name with two replicas electing a leader on
// the Lease ns/lease, SIGKILLs the leader once the analysis has begun,
// measures how long the standby takes to hold the Lease, and checks the
// release's outcome. The killed replica is started again as the new
// standby.
func Failover(ctx context.Context, r Run, replicas [2]*Controller, ns, lease string) (Takeover, error) {
	var out Takeover
	var leader *Controller
	before, err := r.revisions(ctx)
	if err != nil {
		return out, err
	}
	started := time.Now()
	if err := r.Fleet.Release(ctx, r.Names...); err != nil {
		return out, err
	}
	if err := r.Fleet.WaitPhase(ctx, r.Timeout, r.Names, flaggerv1.CanaryPhaseProgressing); err != nil {
		return out, err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := stack.Poll(wctx, 100*time.Millisecond, func() error {
		for _, c := range replicas {
			if c.Leading() {
				leader = c
				return nil
			}
		}
		return fmt.Errorf("%w: no replica leads", errTimeout)
	}); err != nil {
		return out, err
	}
	holder, err := leaseHolder(ctx, r.Fleet.Client, ns, lease)
	if err != nil {
		return out, err
	}
	killed := time.Now()
	leader.Kill()
	if err := stack.Poll(wctx, 50*time.Millisecond, func() error {
		h, err := leaseHolder(wctx, r.Fleet.Client, ns, lease)
		if err != nil {
			return err
		}
		if h == holder || h == "" {
			return fmt.Errorf("%w: Lease %s still held by %q", errTimeout, lease, h)
		}
		return nil
	}); err != nil {
		return out, err
	}
	out.Took = time.Since(killed)
	if err := leader.Start(ctx); err != nil {
		return out, err
	}
	took, err := r.waitEnd(ctx, started, nil, before)
	if err != nil {
		return out, err
	}
	out.Release = took.Max()
	outcomes, err := r.Fleet.Outcomes(ctx, r.Names...)
	if err != nil {
		return out, err
	}
	out.Add(outcomes, r.Succeeds)
	return out, nil
}

func leaseHolder(ctx context.Context, c client.Client, ns, name string) (string, error) {
	var l coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &l); err != nil {
		return "", err
	}
	return ptr.Deref(l.Spec.HolderIdentity, ""), nil
}
