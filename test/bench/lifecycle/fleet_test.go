package lifecycle

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// fleet watches the benchmark's Canaries and Deployments through informers
// (a watch, not a LIST of the whole fleet every few seconds, which at 2,000
// canaries cost the API server more than the controller did). It records
// when each canary reached the phase being waited for, and how long the
// Deployments took to roll out: from a spec change to all pods Ready.
type fleet struct {
	mu      sync.Mutex
	target  flaggerv1.CanaryPhase
	since   time.Time
	reached map[string]time.Time // canary → when it reached target
	phases  map[string]map[flaggerv1.CanaryPhase]bool

	notReady map[string]time.Time     // deployment → waiting for pods since
	rollouts []time.Duration          // completed waits since the last expect
	waited   map[string]time.Duration // canary → its deployments' waits
}

// watchFleet starts the informers of the namespaces until ctx ends.
func watchFleet(ctx context.Context, namespaces ...string) (*fleet, error) {
	nsCfg := map[string]cache.Config{}
	for _, ns := range namespaces {
		nsCfg[ns] = cache.Config{}
	}
	c, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme, DefaultNamespaces: nsCfg})
	if err != nil {
		return nil, err
	}
	f := &fleet{reached: map[string]time.Time{}, phases: map[string]map[flaggerv1.CanaryPhase]bool{}, notReady: map[string]time.Time{}, waited: map[string]time.Duration{}}
	canaries, err := c.GetInformer(ctx, &flaggerv1.Canary{})
	if err != nil {
		return nil, err
	}
	if _, err := canaries.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { f.canary(o.(*flaggerv1.Canary)) },
		UpdateFunc: func(_, o any) { f.canary(o.(*flaggerv1.Canary)) },
	}); err != nil {
		return nil, err
	}
	deps, err := c.GetInformer(ctx, &appsv1.Deployment{})
	if err != nil {
		return nil, err
	}
	if _, err := deps.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { f.deployment(o.(*appsv1.Deployment)) },
		UpdateFunc: func(_, o any) { f.deployment(o.(*appsv1.Deployment)) },
	}); err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the benchmark's informers did not sync")
	}
	return f, nil
}

// expect starts waiting for phase: reached and the rollout figures restart.
func (f *fleet) expect(phase flaggerv1.CanaryPhase) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target, f.since = phase, time.Now()
	f.reached = map[string]time.Time{}
	f.phases = map[string]map[flaggerv1.CanaryPhase]bool{}
	f.rollouts, f.waited = nil, map[string]time.Duration{}
}

func (f *fleet) canary(c *flaggerv1.Canary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.reached[c.Name]; !ok && c.Status.Phase == f.target && f.target != "" {
		f.reached[c.Name] = time.Now()
	}
	if f.phases[c.Name] == nil {
		f.phases[c.Name] = map[flaggerv1.CanaryPhase]bool{}
	}
	f.phases[c.Name][c.Status.Phase] = true
}

// missedPhases counts the canaries among names that, since the last
// expect, were never seen in one of the phases. A watch delivers every
// status write, so a phase not seen is a transition not written; unless the
// informer had to list again (its watch expired: client-go's reflector
// logs it), which drops what happened in between.
func (f *fleet) missedPhases(names []string, want []flaggerv1.CanaryPhase) (int, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, example := 0, ""
	for _, name := range names {
		seen := f.phases[name]
		for _, p := range want {
			if !seen[p] {
				n++
				if example == "" {
					example = fmt.Sprintf("%s never %s", name, p)
				}
				break
			}
		}
	}
	return n, example
}

func (f *fleet) deployment(d *appsv1.Deployment) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	done := s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want
	f.mu.Lock()
	defer f.mu.Unlock()
	since, waiting := f.notReady[d.Name]
	switch {
	case want == 0:
		// scaling down is nothing anyone waits for
		delete(f.notReady, d.Name)
	case !done && !waiting:
		f.notReady[d.Name] = time.Now()
	case done && waiting:
		delete(f.notReady, d.Name)
		if since.Before(f.since) {
			since = f.since
		}
		w := time.Since(since)
		f.rollouts = append(f.rollouts, w)
		f.waited[strings.TrimSuffix(d.Name, flaggerv1.PrimarySuffix)] += w
	}
}

// waitAll waits until n canaries reached the phase expected.
func (f *fleet) waitAll(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		f.mu.Lock()
		got, phase := len(f.reached), f.target
		f.mu.Unlock()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d canaries %s after %s", got, n, phase, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// phaseTimes is how long each canary took to reach the phase, from start.
func (f *fleet) phaseTimes(start time.Time) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Duration, 0, len(f.reached))
	for _, at := range f.reached {
		out = append(out, at.Sub(start))
	}
	return out
}

// rolloutWaits returns each rollout's wait for Ready pods, and each
// canary's total.
func (f *fleet) rolloutWaits() (each, perCanary []time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	each = append(each, f.rollouts...)
	for _, w := range f.waited {
		perCanary = append(perCanary, w)
	}
	return each, perCanary
}

// durations summarises a distribution as "p50 / p99 / max".
func durations(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	r := func(d time.Duration) string { return d.Round(100 * time.Millisecond).String() }
	return r(at(0.5)) + " / " + r(at(0.99)) + " / " + r(s[len(s)-1])
}
