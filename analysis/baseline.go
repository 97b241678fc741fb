package analysis

// The baseline (analysis.baseline) runs the primary's version beside the
// canary, started with it, at its size and with its share of traffic, so
// that the canary is compared with an equal, not with the long-running
// primary (Kayenta's advice). It lives for one run: created when the run
// starts, given the canary's weight out of the primary's share while the
// canary gets traffic, and removed once traffic has left it, at promotion
// or rollback.

// shift routes weight w to the canary and, with a baseline, as much to the
// baseline, both out of the primary's share.
func (d *decider) shift(w int) {
	if d.spec.Baseline && w > 0 {
		d.out.Routes = &Routes{Primary: 100 - 2*w, Canary: w, Baseline: w}
		return
	}
	d.setRoutes(100-w, w, false)
}

// stopBaseline removes the baseline once the decision's routes have taken
// its traffic away.
func (d *decider) stopBaseline() {
	if d.spec.Baseline || d.obs.BaselineRunning {
		d.out.StopBaseline = true
	}
}

// baselineRuns tells the phases in which the baseline runs.
func baselineRuns(p Phase) bool { return p == PhaseProgressing || p == PhaseWaitingPromotion }

// baselineDrift brings the baseline in line with the spec and the phase,
// whatever happened in between (the baseline deleted by hand, enabled or
// disabled during a run): started when a run needs it and it is missing,
// its traffic returned to the primary and removed when it runs without
// being needed.
func (d *decider) baselineDrift() {
	want := d.spec.Baseline && baselineRuns(d.st().Phase)
	switch {
	case want && !d.obs.BaselineRunning:
		d.log("Starting baseline %s-baseline.%s", d.spec.TargetName, d.spec.Namespace)
		d.out.StartBaseline = true
	case !want && (d.obs.BaselineRunning || d.obs.Routes.Baseline > 0):
		if r := d.obs.Routes; r.Baseline > 0 {
			d.setRoutes(r.Primary+r.Baseline, r.Canary, r.Mirrored)
		}
		d.log("Removing baseline %s-baseline.%s", d.spec.TargetName, d.spec.Namespace)
		d.out.StopBaseline = true
	}
}

// baselineReady holds the run until the baseline is ready, as the canary:
// traffic never goes to pods that cannot serve it, so a share it has
// meanwhile returns to the primary. It reports whether the run may go on;
// a baseline past its progress deadline rolls it back.
func (d *decider) baselineReady() bool {
	r := d.obs.BaselineReady
	if !d.spec.Baseline || r.Ready {
		return true
	}
	if rt := d.obs.Routes; rt.Baseline > 0 {
		d.setRoutes(rt.Primary+rt.Baseline, rt.Canary, false)
	}
	if r.Deadline {
		d.event(SeverityWarn, "Rolling back %s progress deadline exceeded %s", d.key(), r.Message)
		d.alert(SeverityError, true, "Baseline did not become ready within its progress deadline: "+r.Message)
		d.rollback(ReasonProgressDeadlineExceeded, "baseline: "+r.Message)
		return false
	}
	d.waitFor(r)
	return false
}
