package analysis

import (
	"fmt"
	"maps"
	"strconv"
	"time"
)

// readinessPoll is how soon a canary waiting for pods looks again; watches
// on the workloads usually wake it earlier.
const readinessPoll = 5 * time.Second

// initializing: the primary is created by the controller before Decide; once
// it is ready the target is scaled to zero and the canary is Initialized.
//
// Flagger rolls back when the primary misses its deadline here, which scales
// down the target — the only workload serving at that point. Warbler keeps
// it running and waits, saying why.
func (d *decider) initializing() {
	if d.st().Phase == PhaseNone {
		d.setPhase(PhaseInitializing)
	}
	if !d.spec.SkipAnalysis && !d.obs.PrimaryReady.Ready {
		d.waitFor(d.obs.PrimaryReady)
		return
	}
	st := d.st()
	d.log("Scaling down %s %s", d.spec.TargetKind, d.target())
	d.out.ScaleTargetDown = true
	d.setPhase(PhaseInitialized)
	st.LastAppliedSpec, st.LastPromotedSpec = d.obs.Revision, d.obs.Revision
	st.TrackedConfigs = maps.Clone(d.obs.Configs)
	st.FailedChecks = 0
	d.clearHalt()
	d.event(SeverityInfo, "Initialization done! %s", d.key())
	d.alert(SeverityInfo, true, "New "+d.spec.TargetKind+" detected, initialization completed.")
	d.requeue(d.spec.Interval)
}

// waitFor records why a workload holds the canary back.
func (d *decider) waitFor(r Readiness) {
	d.st().Reason, d.st().Message = ReasonNotReady, r.Message
	if r.Deadline {
		d.event(SeverityWarn, "%s", r.Message)
	} else {
		d.log("%s", r.Message)
	}
	d.requeue(min(readinessPoll, d.spec.Interval))
}

// idle: Initialized, Succeeded or Failed, watching for a new revision.
func (d *decider) idle() {
	d.requeue(d.spec.Interval)
	if !d.revisionChanged() {
		if d.current() != nil {
			d.closeRelease(ReleaseSuperseded, ReasonSuperseded, "the target returned to revision "+d.obs.Revision+" before the release started")
		}
		return
	}
	if d.obs.TargetMatchesPrimary && !d.configsChanged() {
		// The recorded revision was computed another way (by Flagger, or
		// an older hash), but the target is what the primary runs: adopt
		// it without a release.
		d.log("Adopted revision %s of %s: the target matches the primary", d.obs.Revision, d.target())
		d.st().LastAppliedSpec, d.st().LastPromotedSpec = d.obs.Revision, d.obs.Revision
		return
	}
	d.openRelease(d.obs.Revision, false)
	d.confirmRollout()
}

// waiting: a new revision waits for its confirm-rollout gates. Rollback
// hooks are honoured here too (Flagger documents it but never does, #1432).
func (d *decider) waiting() {
	if !d.due() {
		return
	}
	d.clearHalt()
	if d.rollbackHook() {
		return
	}
	d.confirmRollout()
	if d.out.Observe == nil {
		d.step()
	}
}

// confirmRollout runs the confirm-rollout gates of a new revision, then
// scales the canary up and starts the run.
func (d *decider) confirmRollout() {
	if !d.spec.SkipAnalysis && !d.obs.PrimaryReady.Ready {
		d.waitFor(d.obs.PrimaryReady)
		return
	}
	res, ok := d.need(HookConfirmRollout, d.st().Phase, StopOnFailure)
	if !ok {
		return
	}
	if f, failed := firstFailure(res); failed {
		if d.st().Phase != PhaseWaiting {
			d.setPhase(PhaseWaiting)
			if !d.hook(f.Name).MuteAlert {
				d.alert(SeverityInfo, true, "Canary is waiting for approval.")
			}
		} else if d.gateTimedOut(f) {
			return
		}
		d.gateHalt(f, "Halt %s advancement waiting for approval %s", d.key(), f.Name)
		d.requeue(d.spec.Interval)
		return
	}
	for _, r := range res {
		d.event(SeverityInfo, "Confirm-rollout check %s passed", r.Name)
	}
	d.startRun("New revision detected! Scaling up %s")
	d.out.ScaleCanaryUp = true
	d.alert(SeverityInfo, true, "New revision detected, progressing canary analysis.")
}

// startRun resets the counters for a run of the current revision, in the
// release opened for it (or a new one).
func (d *decider) startRun(msg string) {
	st := d.st()
	d.openRelease(d.obs.Revision, false)
	d.event(SeverityInfo, msg, d.target())
	d.setPhase(PhaseProgressing)
	st.CanaryWeight, st.Iterations, st.FailedChecks = 0, 0, 0
	st.PreRolloutPassed = false
	d.clearHalt()
	st.LastAppliedSpec = d.obs.Revision
	st.TrackedConfigs = maps.Clone(d.obs.Configs)
	st.RunStart = d.now
	d.out.StartBaseline = d.spec.Baseline
	d.step()
}

// progressing: Progressing or WaitingPromotion, one analysis step per
// interval.
func (d *decider) progressing() {
	st := d.st()
	if d.obs.Revision != st.LastAppliedSpec || d.configsChanged() {
		d.setRoutes(100, 0, false)
		d.openRelease(d.obs.Revision, true)
		d.startRun("New revision detected! Restarting analysis for %s")
		return
	}
	if !d.due() {
		return
	}
	d.clearHalt()
	if !d.obs.CanaryReady.Ready {
		if d.obs.CanaryReady.Deadline {
			// Flagger sends no alert here (#1816).
			d.event(SeverityWarn, "Rolling back %s progress deadline exceeded %s", d.key(), d.obs.CanaryReady.Message)
			d.alert(SeverityError, true, "Canary did not become ready within its progress deadline: "+d.obs.CanaryReady.Message)
			d.rollback(ReasonProgressDeadlineExceeded, d.obs.CanaryReady.Message)
			return
		}
		d.waitFor(d.obs.CanaryReady)
		return
	}
	if d.spec.SkipAnalysis {
		d.stopBaseline()
		d.promoteWithoutAnalysis()
		return
	}
	if d.rollbackHook() {
		return
	}
	if st.FailedChecks >= d.spec.Threshold {
		d.rollback(ReasonThresholdReached, fmt.Sprintf("failed checks threshold reached %d", st.FailedChecks))
		return
	}
	if !d.baselineReady() {
		return
	}
	if !d.analyse() {
		return
	}
	d.step()
	switch d.spec.Strategy {
	case StrategyBlueGreen:
		d.blueGreen()
	case StrategyABTesting:
		d.abTesting()
	default:
		d.canary()
	}
}

// analyse runs the checks of a tick and reports whether the release may
// advance. The first tick of a run announces it and runs the pre-rollout
// hooks instead of the metrics, as in Flagger; later ticks run the rollout
// hooks, then the metrics.
func (d *decider) analyse() bool {
	st := d.st()
	if !st.PreRolloutPassed && st.CanaryWeight == 0 && st.Iterations == 0 && !d.obs.Routes.Mirrored {
		d.event(SeverityInfo, "Starting canary analysis for %s", d.target())
		res, ok := d.need(HookPreRollout, PhaseProgressing, StopOnFailure)
		if !ok {
			return false
		}
		if f, failed := firstFailure(res); failed {
			// Flagger sends no alert for a failing pre-rollout check (#1663).
			d.alert(SeverityWarn, true, "Pre-rollout check "+f.Name+" failed: "+f.Err)
			d.failCheck(d.hookReason(f), SeverityWarn, "Halt %s advancement pre-rollout check %s failed %s", d.key(), f.Name, f.Err)
			return false
		}
		for _, r := range res {
			d.event(SeverityInfo, "Pre-rollout check %s passed", r.Name)
		}
		st.PreRolloutPassed = true
		return true
	}
	res, ok := d.need(HookRollout, PhaseProgressing, StopOnFailure)
	if !ok {
		return false
	}
	if f, failed := firstFailure(res); failed {
		d.failCheck(d.hookReason(f), SeverityWarn, "Halt %s advancement external check %s failed %s", d.key(), f.Name, f.Err)
		return false
	}
	return d.checkMetrics()
}

// failCheck counts a failed check and records it as the halt. Unlike
// Flagger, which rolls back one tick later, the release is rolled back on
// the tick the threshold is reached, for the reason of that check.
func (d *decider) failCheck(r Reason, sev Severity, format string, args ...any) {
	d.halt(r, sev, format, args...)
	d.st().FailedChecks++
	d.step()
	if d.st().FailedChecks >= d.spec.Threshold {
		d.rollback(r, d.st().Message)
	}
}

// hookReason classifies a failed pre-rollout or rollout hook.
func (d *decider) hookReason(f HookResult) Reason {
	if d.hook(f.Name).LoadTest {
		return ReasonLoadTestFailed
	}
	return ReasonWebhookFailed
}

// rollbackHook runs the rollback hooks; a passing one aborts the release.
func (d *decider) rollbackHook() bool {
	res, ok := d.need(HookRollback, d.st().Phase, StopOnSuccess)
	if !ok {
		return true
	}
	for _, r := range res {
		if r.OK {
			d.event(SeverityWarn, "Rolling back %s manual webhook invoked", d.key())
			d.alert(SeverityWarn, true, "Rolling back manual webhook invoked")
			d.rollback(ReasonRejected, fmt.Sprintf("rollback webhook %s signalled a rollback", r.Name))
			return true
		}
		d.log("Rollback hook %s not signaling a rollback", r.Name)
	}
	return false
}

// rollback routes all traffic back to the primary and scales the canary to
// zero, ending the release as failed for reason r. The primary is never
// touched.
func (d *decider) rollback(r Reason, msg string) {
	st := d.st()
	d.closeRelease(ReleaseFailed, r, msg)
	if st.Phase == PhaseWaiting {
		// the revision never started: record it, or the next tick would
		// take it for new and wait for its gates again
		st.LastAppliedSpec = d.obs.Revision
		st.TrackedConfigs = maps.Clone(d.obs.Configs)
	}
	if st.FailedChecks >= d.spec.Threshold {
		d.event(SeverityWarn, "Rolling back %s failed checks threshold reached %d", d.key(), st.FailedChecks)
		d.alert(SeverityError, true, "Failed checks threshold reached "+strconv.Itoa(st.FailedChecks))
	}
	d.setRoutes(100, 0, false)
	d.out.ScaleCanaryDown = true
	d.stopBaseline()
	d.setPhase(PhaseFailed)
	st.PreRolloutPassed = false
	d.event(SeverityWarn, "Canary failed! Scaling down %s", d.key())
	d.out.PostHooks = true
	d.out.Outcome = OutcomeFailed
	d.requeue(d.spec.Interval)
}

// promoteWithoutAnalysis: skipAnalysis promotes as soon as the canary is
// ready, without waiting for the primary's rollout.
func (d *decider) promoteWithoutAnalysis() {
	d.setRoutes(100, 0, false)
	d.event(SeverityInfo, "Copying %s template spec to %s-primary.%s", d.target(), d.spec.TargetName, d.spec.Namespace)
	d.out.Promote = true
	d.out.ScaleCanaryDown = true
	d.succeed(ReasonAnalysisSkipped, "Canary analysis was skipped, promotion finished.")
	d.out.Outcome = OutcomeSkipped
	d.event(SeverityInfo, "Promotion completed! Canary analysis was skipped for %s", d.target())
	d.alert(SeverityInfo, true, "Canary analysis was skipped, promotion finished.")
}

func (d *decider) succeed(r Reason, msg string) {
	st := d.st()
	d.closeRelease(ReleaseSucceeded, r, msg)
	d.setPhase(PhaseSucceeded)
	st.LastPromotedSpec = st.LastAppliedSpec
	st.PreRolloutPassed = false
	d.out.PostHooks = true
	d.step()
}

// confirmPromotion runs the confirm-promotion gates and reports whether
// they passed; a failing gate parks the canary in WaitingPromotion, where
// the analysis keeps running.
func (d *decider) confirmPromotion() bool {
	res, ok := d.need(HookConfirmPromotion, PhaseProgressing, StopOnFailure)
	if !ok {
		return false
	}
	if f, failed := firstFailure(res); failed {
		if d.st().Phase != PhaseWaitingPromotion {
			d.setPhase(PhaseWaitingPromotion)
			if !d.hook(f.Name).MuteAlert {
				d.alert(SeverityInfo, true, "Canary promotion is waiting for approval.")
			}
		} else if d.gateTimedOut(f) {
			return false
		}
		d.gateHalt(f, "Halt %s advancement waiting for promotion approval %s", d.key(), f.Name)
		return false
	}
	for _, r := range res {
		d.event(SeverityInfo, "Confirm-promotion check %s passed", r.Name)
	}
	return true
}

// promote copies the canary's template to the primary. The baseline's
// share of traffic returns to the primary, and the baseline goes.
func (d *decider) promote() {
	if r := d.obs.Routes; r.Baseline > 0 || d.spec.Baseline {
		d.setRoutes(100-d.st().CanaryWeight, d.st().CanaryWeight, false)
		d.stopBaseline()
	}
	d.event(SeverityInfo, "Copying %s template spec to %s-primary.%s", d.target(), d.spec.TargetName, d.spec.Namespace)
	d.out.Promote = true
	d.setPhase(PhasePromoting)
	d.clearHalt()
}

// promoting: the primary rolls out the new template; once it is ready,
// traffic returns to it, at once or by stepWeightPromotion per tick.
func (d *decider) promoting() {
	if !d.due() {
		return
	}
	if !d.obs.PrimaryReady.Ready {
		if d.obs.PrimaryReady.Deadline {
			d.failedPromotion()
			return
		}
		d.waitFor(d.obs.PrimaryReady)
		return
	}
	st := d.st()
	d.clearHalt()
	d.step()
	switch {
	case !d.spec.Traffic.Weighted:
		d.setPhase(PhaseFinalising)
	case d.spec.StepWeightPromotion == 0 || d.spec.Strategy != StrategyCanary:
		d.event(SeverityInfo, "Routing all traffic to primary")
		d.setRoutes(100, 0, false)
		d.setPhase(PhaseFinalising)
	default:
		canary := max(st.CanaryWeight-d.spec.StepWeightPromotion, 0)
		d.event(SeverityInfo, "Advance %s primary weight %d", d.key(), 100-canary)
		d.setRoutes(100-canary, canary, false)
		st.CanaryWeight = canary
		if canary == 0 {
			d.setPhase(PhaseFinalising)
		}
	}
}

// failedPromotion: the primary missed its deadline while taking the new
// template. Traffic goes to the canary, which still runs the new version
// and is the one known to be healthy (Flagger PR #1931).
func (d *decider) failedPromotion() {
	d.event(SeverityWarn, "Promotion of %s failed, primary not ready: %s", d.target(), d.obs.PrimaryReady.Message)
	d.alert(SeverityError, true, "Promotion failed, primary not ready: "+d.obs.PrimaryReady.Message)
	d.closeRelease(ReleaseFailed, ReasonPromotionFailed, d.obs.PrimaryReady.Message)
	d.setRoutes(0, 100, false)
	d.setPhase(PhaseFailed)
	d.st().CanaryWeight = 100
	d.out.PostHooks = true
	d.out.Outcome = OutcomeFailed
	d.step()
}

// finalising: traffic is back on the primary; scale the canary down.
func (d *decider) finalising() {
	if !d.due() {
		return
	}
	d.out.ScaleCanaryDown = true
	if d.requested(OpPromoteNow) {
		d.succeed(ReasonAnalysisSkipped, "Promoted on request, skipping the rest of the analysis.")
	} else {
		d.succeed(ReasonPromoted, "Canary analysis completed successfully, promotion finished.")
	}
	d.out.Outcome = OutcomeCompleted
	d.event(SeverityInfo, "Promotion completed! Scaling down %s", d.target())
	d.alert(SeverityInfo, true, "Canary analysis completed successfully, promotion finished.")
}

// terminate: the Canary is being deleted with revertOnDeletion.
func (d *decider) terminate() {
	if d.st().Phase != PhaseTerminating {
		d.event(SeverityInfo, "Terminating canary %s", d.key())
	}
	d.setPhase(PhaseTerminating)
	d.out.Finalize = true
}
