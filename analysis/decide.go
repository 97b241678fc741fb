package analysis

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Decide computes the next step of a canary. It is deterministic: the same
// inputs give the same Decision.
//
// It first handles what every phase shares — deletion, suspension — and
// then dispatches once on the phase.
func Decide(spec Spec, st Status, obs Observations, now time.Time) Decision {
	d := &decider{spec: spec, obs: obs, now: now, in: st}
	d.out.Status = st
	d.out.Status.TrackedConfigs = maps.Clone(st.TrackedConfigs)
	d.out.Status.Checks = slices.Clone(st.Checks)
	d.out.Status.History = slices.Clone(st.History)
	d.decide()
	if d.out.Observe != nil {
		return Decision{Observe: d.out.Observe}
	}
	if cur := d.current(); cur != nil {
		d.track(cur)
	}
	if out := d.st(); out.Phase == PhaseProgressing && out.PendingGate == "" {
		// no confirm-traffic-increase gate holds the release (any more)
		out.WaitingSince = time.Time{}
	}
	if d.out.Status.Phase != st.Phase || d.out.Status.CanaryWeight != st.CanaryWeight ||
		d.out.Status.FailedChecks != st.FailedChecks || d.out.Status.Iterations != st.Iterations {
		d.out.Status.LastTransitionTime = now
	}
	return d.out
}

type decider struct {
	spec Spec
	obs  Observations
	now  time.Time
	in   Status // as handed in
	out  Decision
}

// st is the status being built.
func (d *decider) st() *Status { return &d.out.Status }

func (d *decider) decide() {
	switch {
	case d.obs.Deleting:
		d.terminate()
		return
	case d.spec.Suspend:
		d.event(SeverityInfo, "skipping canary run as object is suspended")
		d.requeue(d.spec.Interval)
		return
	}
	d.endHold()
	d.adoptRelease()
	if d.obs.Request != nil && d.request(*d.obs.Request) {
		return
	}
	if d.st().Paused {
		d.requeue(d.spec.Interval)
		return
	}
	d.baselineDrift()
	switch d.st().Phase {
	case PhaseNone, PhaseInitializing:
		d.initializing()
	case PhaseInitialized, PhaseSucceeded, PhaseFailed, PhaseTerminating, PhaseTerminated:
		d.idle()
	case PhaseWaiting:
		d.waiting()
	case PhaseProgressing, PhaseWaitingPromotion:
		d.progressing()
	case PhasePromoting:
		d.promoting()
	case PhaseFinalising:
		d.finalising()
	default:
		d.st().Message = fmt.Sprintf("unknown phase %q in status; resetting to Initializing", d.st().Phase)
		d.setPhase(PhaseInitializing)
	}
}

// key is "<canary>.<namespace>", used in most messages.
func (d *decider) key() string { return d.spec.Name + "." + d.spec.Namespace }

// target is "<target>.<namespace>", used where Flagger names the workload.
func (d *decider) target() string { return d.spec.TargetName + "." + d.spec.Namespace }

func (d *decider) event(sev Severity, format string, args ...any) {
	d.out.Events = append(d.out.Events, Event{Severity: sev, Message: fmt.Sprintf(format, args...)})
}

func (d *decider) log(format string, args ...any) {
	d.out.Events = append(d.out.Events, Event{Severity: SeverityInfo, Message: fmt.Sprintf(format, args...), LogOnly: true})
}

func (d *decider) alert(sev Severity, details bool, msg string) {
	d.out.Alerts = append(d.out.Alerts, Alert{Severity: sev, Message: msg, Details: details})
}

func (d *decider) requeue(after time.Duration) {
	if d.out.Requeue == 0 || after < d.out.Requeue {
		d.out.Requeue = max(after, time.Second)
	}
}

func (d *decider) setRoutes(primary, canary int, mirrored bool) {
	d.out.Routes = &Routes{Primary: primary, Canary: canary, Mirrored: mirrored}
}

// setPhase moves to a phase. As Flagger's SetStatusPhase, it resets the
// weight and iterations outside the analysis phases; unlike Flagger it
// keeps the weight in WaitingPromotion, where traffic still goes to the
// canary.
func (d *decider) setPhase(p Phase) {
	st := d.st()
	switch p {
	case PhaseProgressing, PhaseWaiting, PhasePromoting, PhaseWaitingPromotion:
	default:
		st.CanaryWeight, st.Iterations = 0, 0
	}
	switch {
	case p != PhaseWaiting && p != PhaseWaitingPromotion:
		st.WaitingSince = time.Time{}
	case p != st.Phase || st.WaitingSince.IsZero():
		st.WaitingSince = d.now
	}
	st.Phase = p
}

// gateTimedOut rolls the canary back when the gate f has kept it waiting
// for longer than the gate's gateTimeout, and reports whether it did.
func (d *decider) gateTimedOut(f HookResult) bool {
	h := d.hook(f.Name)
	st := d.st()
	if st.WaitingSince.IsZero() {
		// waiting since before its status recorded when (an upgrade)
		st.WaitingSince = d.now
	}
	if h.GateTimeout <= 0 || d.now.Sub(st.WaitingSince) < h.GateTimeout {
		return false
	}
	d.event(SeverityWarn, "Rolling back %s gate %s not approved within its gateTimeout %s", d.key(), f.Name, h.GateTimeout)
	d.alert(SeverityError, true, "Gate "+f.Name+" not approved within "+h.GateTimeout.String())
	d.rollback(ReasonGateTimeout, fmt.Sprintf("gate %s not approved within its gateTimeout %s", f.Name, h.GateTimeout))
	return true
}

// need asks for hook results once; it reports whether they are available.
func (d *decider) need(t HookType, phase Phase, stop StopRule) ([]HookResult, bool) {
	if !d.hasHooks(t) {
		return nil, true
	}
	if res, ok := d.obs.Hooks[t]; ok {
		return res, true
	}
	d.out.Observe = &Need{Hooks: t, Phase: phase, StopOn: stop}
	return nil, false
}

func (d *decider) hasHooks(t HookType) bool {
	for _, h := range d.spec.Hooks {
		if h.Type == t {
			return true
		}
	}
	return false
}

func (d *decider) hook(name string) Hook {
	for _, h := range d.spec.Hooks {
		if h.Name == name {
			return h
		}
	}
	return Hook{Name: name}
}

// firstFailure returns the first failed hook result.
func firstFailure(res []HookResult) (HookResult, bool) {
	for _, r := range res {
		if !r.OK {
			return r, true
		}
	}
	return HookResult{}, false
}

// due reports whether an analysis step is due, and asks for a requeue at the
// due time otherwise. A step is due one interval after the previous one.
func (d *decider) due() bool {
	last := d.st().LastAnalysisTime
	if last.IsZero() {
		return true
	}
	if wait := last.Add(d.spec.Interval).Sub(d.now); wait > 0 {
		d.requeue(wait)
		return false
	}
	return true
}

// step records that an analysis step ran now.
func (d *decider) step() {
	d.st().LastAnalysisTime = d.now
	d.requeue(d.spec.Interval)
}

// revisionChanged: the target or its configs differ from the revision the
// status recorded. A template equal to the promoted one is not a change, so
// reverting a bad release by hand does not start another (as in Flagger).
func (d *decider) revisionChanged() bool {
	st := d.st()
	if d.obs.Revision != st.LastAppliedSpec && d.obs.Revision != st.LastPromotedSpec {
		return true
	}
	return d.configsChanged()
}

func (d *decider) configsChanged() bool {
	return !maps.Equal(d.obs.Configs, d.st().TrackedConfigs) && (len(d.obs.Configs) > 0 || len(d.st().TrackedConfigs) > 0)
}
