package canarycli

import (
	"math"
	"time"

	"github.com/warbler-dev/warbler/analysis"
	"github.com/warbler-dev/warbler/analysis/judge"
)

// SimRun is a simulated release of a new revision, tick by tick, as the
// analysis package decides it.
type SimRun struct {
	// Outcome is the phase the release ends in (Succeeded or Failed), or
	// "" when it does not end within maxSimTicks.
	Outcome string `json:"outcome"`
	// Duration from the tick that sees the new revision to the last one.
	Duration Duration  `json:"duration"`
	Ticks    []SimTick `json:"ticks"`
	// Note says why a run cannot happen (nothing can fail a check).
	Note string `json:"note,omitempty"`
}

// SimTick is one simulated tick.
type SimTick struct {
	Tick         int      `json:"tick"`
	At           Duration `json:"at"`
	Phase        string   `json:"phase"`
	Weight       int      `json:"weight"`
	Iterations   int      `json:"iterations"`
	FailedChecks int      `json:"failedChecks"`
	// Baseline is the baseline's share of traffic (analysis.baseline).
	Baseline int      `json:"baseline,omitempty"`
	Events   []string `json:"events,omitempty"`
}

// Duration prints as Go durations in JSON and YAML ("1m30s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// maxSimTicks bounds a simulation (a suspended canary never ends).
const maxSimTicks = 500

// simulate drives analysis.Decide for a new revision on a pretend cluster
// where workloads are ready by the next tick, gates pass, rollback hooks do
// not signal, and the checks all pass or (failing) all fail. Ticks come
// when the decision asks for its next one.
func simulate(spec analysis.Spec, failing bool) SimRun {
	s := &simCluster{spec: spec, failing: failing, routes: analysis.Routes{Primary: 100}}
	st := analysis.Status{Phase: analysis.PhaseInitialized, LastAppliedSpec: "rev1", LastPromotedSpec: "rev1"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	var run SimRun
	for tick := 1; tick <= maxSimTicks; tick++ {
		d := s.decide(st, now)
		st = d.Status
		run.Ticks = append(run.Ticks, SimTick{Tick: tick, At: Duration(now.Sub(start)), Phase: string(st.Phase), Weight: st.CanaryWeight,
			Iterations: st.Iterations, FailedChecks: st.FailedChecks, Baseline: s.routes.Baseline, Events: eventTexts(d.Events)})
		if st.Phase == analysis.PhaseSucceeded || st.Phase == analysis.PhaseFailed {
			run.Outcome, run.Duration = string(st.Phase), Duration(now.Sub(start))
			return run
		}
		next := d.Requeue
		if next <= 0 {
			next = spec.Interval
		}
		now = now.Add(next)
	}
	return run
}

func eventTexts(events []analysis.Event) []string {
	var out []string
	for _, e := range events {
		if !e.LogOnly {
			out = append(out, e.Message)
		}
	}
	return out
}

// simCluster answers what Decide asks and applies what it decides.
type simCluster struct {
	spec       analysis.Spec
	failing    bool
	routes     analysis.Routes
	canaryUp   bool
	baselineUp bool
	// trafficSince is when the canary (and the baseline) began to get
	// traffic: judged metrics have one sample per interval since then.
	trafficSince time.Time
	now          time.Time
}

func (s *simCluster) decide(st analysis.Status, now time.Time) analysis.Decision {
	s.now = now
	obs := analysis.Observations{Revision: "rev2", PrimaryReady: analysis.Readiness{Ready: true},
		CanaryReady: analysis.Readiness{Ready: s.canaryUp, Message: "canary not ready: scaled to zero"},
		Routes:      s.routes, Hooks: map[analysis.HookType][]analysis.HookResult{},
		BaselineRunning: s.baselineUp, BaselineReady: analysis.Readiness{Ready: s.baselineUp, Message: "baseline not ready: not started"}}
	for range 20 {
		d := analysis.Decide(s.spec, st, obs, now)
		if d.Observe == nil {
			s.apply(d)
			return d
		}
		s.observe(d.Observe, &obs)
	}
	return analysis.Decision{Status: st, Requeue: s.spec.Interval}
}

func (s *simCluster) apply(d analysis.Decision) {
	if d.ScaleCanaryUp {
		s.canaryUp = true
	}
	if d.ScaleCanaryDown || d.ScaleTargetDown {
		s.canaryUp = false
	}
	if d.StartBaseline {
		s.baselineUp = true
	}
	if d.StopBaseline {
		s.baselineUp = false
	}
	if d.Routes != nil {
		if d.Routes.Canary > 0 && s.routes.Canary == 0 {
			s.trafficSince = s.now
		}
		s.routes = *d.Routes
	}
}

func (s *simCluster) observe(n *analysis.Need, obs *analysis.Observations) {
	if n.Metrics {
		obs.Metrics = []analysis.MetricResult{}
		for _, m := range s.spec.Metrics {
			obs.Metrics = append(obs.Metrics, s.metric(m, n.Window))
		}
		return
	}
	res := []analysis.HookResult{}
	for _, h := range s.spec.Hooks {
		if h.Type != n.Hooks {
			continue
		}
		r := analysis.HookResult{Name: h.Name, OK: s.hookPasses(h.Type)}
		if !r.OK {
			r.Err = "simulated failure"
		}
		res = append(res, r)
		if (n.StopOn == analysis.StopOnFailure && !r.OK) || (n.StopOn == analysis.StopOnSuccess && r.OK) {
			break
		}
	}
	obs.Hooks[n.Hooks] = res
}

// hookPasses: gates pass, rollback hooks do not signal, and pre-rollout
// and rollout hooks fail in a failing run.
func (s *simCluster) hookPasses(t analysis.HookType) bool {
	switch t {
	case analysis.HookRollback:
		return false
	case analysis.HookPreRollout, analysis.HookRollout:
		return !s.failing
	}
	return true
}

// metric is a value inside the range, or outside it in a failing run (a
// provider error for an unbounded metric); a relative check's other side
// makes the ratio or difference that value; a judged metric has the
// samples of its window, the canary's twice the baseline's in a failing
// run.
func (s *simCluster) metric(m analysis.Metric, w analysis.Window) analysis.MetricResult {
	if m.Judge != nil {
		return analysis.MetricResult{Name: m.Name, Outcome: analysis.QueryOK, Samples: s.samples(m, w)}
	}
	r := s.value(m)
	if m.Compare != nil && r.Outcome == analysis.QueryOK {
		other := analysis.MetricResult{Outcome: analysis.QueryOK}
		if m.Compare.As == analysis.RelationRatio {
			other.Value = 100
			r.Value *= 100
		}
		r.Against = &other
	}
	return r
}

// samples are one per interval of traffic within the window, spread by
// ±5% around 100, or around 200 for a failing canary.
func (s *simCluster) samples(m analysis.Metric, w analysis.Window) *analysis.Samples {
	out := &analysis.Samples{}
	start := w.Start
	if s.trafficSince.After(start) {
		start = s.trafficSince
	}
	canary := 100.0
	if s.failing && m.Judge.Direction == judge.Decrease {
		canary = 50
	} else if s.failing {
		canary = 200
	}
	for i := 0; !s.trafficSince.IsZero() && !start.Add(time.Duration(i+1)*m.Step).After(w.End); i++ {
		f := math.Mod(float64(i)*0.6180339887498949, 1) - 0.5
		g := math.Mod(float64(i)*0.6180339887498949+0.37, 1) - 0.5
		out.Canary = append(out.Canary, canary*(1+f/10))
		out.Baseline = append(out.Baseline, 100*(1+g/10))
	}
	return out
}

func (s *simCluster) value(m analysis.Metric) analysis.MetricResult {
	r := analysis.MetricResult{Name: m.Name, Outcome: analysis.QueryOK, Value: 1}
	switch {
	case !s.failing && m.Min != nil:
		r.Value = *m.Min
	case !s.failing && m.Max != nil:
		r.Value = *m.Max
	case s.failing && m.Min != nil:
		r.Value = *m.Min - 1
	case s.failing && m.Max != nil:
		r.Value = *m.Max + 1
	case s.failing:
		r.Outcome, r.Err = analysis.QueryProviderError, "simulated failure"
	}
	return r
}

// canFail reports whether anything in the spec can fail a check; dry-run
// metrics cannot.
func canFail(spec analysis.Spec) bool {
	for _, m := range spec.Metrics {
		if !m.DryRun {
			return true
		}
	}
	for _, h := range spec.Hooks {
		if h.Type == analysis.HookPreRollout || h.Type == analysis.HookRollout {
			return true
		}
	}
	return false
}
