package analysis

import "fmt"

// request handles an imperative operation and reports whether it decided
// the tick. Every request is recorded in the status, accepted or not, so
// the requester learns what happened; a request already recorded (same
// operation and id) is not carried out twice.
func (d *decider) request(r Request) bool {
	st := d.st()
	if last := st.LastRequest; last != nil && last.ID != "" && last.ID == r.ID && last.Op == r.Op {
		return false
	}
	done, msg := d.carryOut(r)
	st.LastRequest = &RequestRecord{Op: r.Op, ID: r.ID, By: r.By, Time: d.now, Accepted: done, Message: msg}
	if done {
		d.recordRequest(*st.LastRequest)
		d.event(SeverityInfo, "%s", msg)
	} else {
		d.event(SeverityWarn, "Request %s rejected: %s", r.Op, msg)
	}
	d.requeue(d.spec.Interval)
	return done
}

// carryOut performs a request; it returns whether it was carried out and a
// sentence saying what happened or why not.
func (d *decider) carryOut(r Request) (bool, string) {
	st := d.st()
	p := st.Phase
	switch r.Op {
	case OpPause:
		st.Paused = true
		return true, fmt.Sprintf("Canary %s paused in phase %s", d.key(), quoted(p))
	case OpResume:
		if !st.Paused {
			return false, fmt.Sprintf("canary %s is not paused", d.key())
		}
		st.Paused = false
		return true, fmt.Sprintf("Canary %s resumed", d.key())
	case OpAbort:
		if p != PhaseProgressing && p != PhaseWaiting && p != PhaseWaitingPromotion {
			return false, fmt.Sprintf("canary %s is %s; only a Waiting, Progressing or WaitingPromotion canary can be aborted", d.key(), quoted(p))
		}
		d.event(SeverityWarn, "Rolling back %s: abort requested", d.key())
		d.rollback(ReasonAborted, "aborted on request "+describeRequest(r))
		return true, fmt.Sprintf("Canary %s aborted", d.key())
	case OpRetry:
		if p != PhaseFailed {
			return false, fmt.Sprintf("canary %s is %s; only a Failed canary can be retried", d.key(), quoted(p))
		}
		d.startRun("Retrying the analysis of %s")
		d.out.ScaleCanaryUp = true
		return true, fmt.Sprintf("Canary %s retried on revision %s", d.key(), d.obs.Revision)
	case OpPromote:
		return d.promoteRequest(false)
	case OpPromoteNow:
		return d.promoteRequest(true)
	}
	return false, fmt.Sprintf("unknown operation %q; valid: %s, %s, %s, %s, %s, %s", r.Op, OpPromote, OpPromoteNow, OpAbort, OpRetry, OpPause, OpResume)
}

// promoteRequest approves a waiting canary: Waiting starts the run,
// WaitingPromotion promotes. With now, a running canary is promoted at
// once, skipping the rest of its analysis.
func (d *decider) promoteRequest(now bool) (bool, string) {
	p := d.st().Phase
	switch {
	case p == PhaseWaitingPromotion || (now && p == PhaseProgressing):
		d.promote()
		return true, fmt.Sprintf("Canary %s promotion requested", d.key())
	case p == PhaseWaiting && !now:
		d.startRun("New revision detected! Scaling up %s")
		d.out.ScaleCanaryUp = true
		return true, fmt.Sprintf("Canary %s approved to start", d.key())
	case p == PhaseWaiting && now:
		d.st().LastAppliedSpec = d.obs.Revision
		d.promote()
		return true, fmt.Sprintf("Canary %s promotion requested", d.key())
	case p == PhaseProgressing:
		return false, fmt.Sprintf("canary %s is Progressing; promote --skip-analysis promotes it now", d.key())
	}
	return false, fmt.Sprintf("canary %s is %s; there is nothing to promote", d.key(), quoted(p))
}

// quoted names a phase in a sentence; the empty phase shows as "".
func quoted(p Phase) string {
	if p == PhaseNone {
		return `""`
	}
	return string(p)
}
