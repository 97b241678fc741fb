package analysis

// canary advances the weight by one step per passing tick up to maxWeight,
// then asks the confirm-promotion gates and promotes.
func (d *decider) canary() {
	st := d.st()
	w := st.CanaryWeight
	if d.spec.Mirror && d.spec.Traffic.Mirror && w == 0 && !d.obs.Routes.Mirrored {
		// The first step only mirrors traffic; the next shifts it.
		d.log("Running mirror step %d/%d/%t", 100, 0, true)
		d.setRoutes(100, 0, true)
		return
	}
	if w >= d.spec.MaxWeight {
		if d.confirmPromotion() {
			d.promote()
		}
		return
	}
	// Flagger also calls these gates on the tick that leads to promotion;
	// Warbler only when traffic would actually increase.
	res, ok := d.need(HookConfirmTrafficIncrease, PhaseProgressing, StopOnFailure)
	if !ok {
		return
	}
	if f, failed := firstFailure(res); failed {
		d.gateHalt(f, "Halt %s advancement waiting for traffic increase approval %s", d.key(), f.Name)
		if !d.hook(f.Name).MuteAlert {
			d.alert(SeverityInfo, true, "Canary traffic increase is waiting for approval.")
		}
		return
	}
	for _, r := range res {
		d.event(SeverityInfo, "Confirm-traffic-increase check %s passed", r.Name)
	}
	next := NextWeight(d.spec, w)
	st.CanaryWeight = next
	d.shift(next)
	d.event(SeverityInfo, "Advance %s canary weight %d", d.key(), next)
}

// NextWeight is the canary weight after w: w plus stepWeight, or the next
// rung of the stepWeights ladder, never above maxWeight. (Flagger can
// overshoot maxWeight by up to one step; Warbler caps it.)
func NextWeight(s Spec, w int) int {
	next := w + s.StepWeight
	if s.StepWeight <= 0 && len(s.StepWeights) > 0 {
		next = s.MaxWeight
		for _, rung := range s.StepWeights {
			if rung > w {
				next = rung
				break
			}
		}
	}
	return min(max(next, w), s.MaxWeight, 100)
}

// Schedule lists the canary weights of a run with every check passing, from
// the first step to maxWeight.
func Schedule(s Spec) []int {
	var out []int
	for w := 0; w < s.MaxWeight; {
		next := NextWeight(s, w)
		if next <= w {
			break
		}
		out = append(out, next)
		w = next
	}
	return out
}

// blueGreen counts iterations with traffic on the primary; after the last
// one and the confirm-promotion gates, all traffic moves to the canary for
// one more analysis tick, then the primary is promoted.
func (d *decider) blueGreen() {
	st := d.st()
	n := d.spec.Iterations
	switch {
	case st.Iterations < n:
		if st.Iterations == 0 && d.spec.Mirror && d.spec.Traffic.Mirror && !d.obs.Routes.Mirrored {
			d.event(SeverityInfo, "Start traffic mirroring")
			d.setRoutes(100, 0, true)
		}
		st.Iterations++
		d.event(SeverityInfo, "Advance %s canary iteration %d/%d", d.key(), st.Iterations, n)
	case st.Iterations == n:
		if !d.confirmPromotion() {
			return
		}
		if d.spec.Traffic.Weighted {
			if d.obs.Routes.Mirrored {
				d.event(SeverityInfo, "Stop traffic mirroring and route all traffic to canary")
			} else {
				d.event(SeverityInfo, "Routing all traffic to canary")
			}
			d.setRoutes(0, 100, false)
			st.CanaryWeight = 100
		}
		st.Iterations = n + 1
		if st.Phase == PhaseWaitingPromotion {
			d.setPhase(PhaseProgressing)
		}
	default:
		d.promote()
	}
}

// abTesting routes requests that match analysis.match to the canary and
// counts iterations; after the last one it promotes.
func (d *decider) abTesting() {
	st := d.st()
	n := d.spec.Iterations
	if st.Iterations < n {
		d.setRoutes(0, 100, false)
		st.Iterations++
		d.event(SeverityInfo, "Advance %s canary iteration %d/%d", d.key(), st.Iterations, n)
		return
	}
	if d.confirmPromotion() {
		d.promote()
	}
}
