// Package analysis makes every decision of a canary release, and nothing
// else. It is a pure function in the manner of etcd's raft: the controller
// hands it the canary's spec, its status, what it observed in the cluster and
// the time, and gets back a Decision — the next status, the actions to carry
// out in order, and the events, alerts and log lines to emit.
//
//	spec, err := analysis.Validate(canary, limits)
//	obs := gatherCheap()
//	for {
//		d := analysis.Decide(spec, status, obs, now)
//		if d.Observe == nil {
//			apply(d)          // routes, scaling, promotion; then the status; then notifications
//			break
//		}
//		obs = gather(d.Observe) // run the hooks or metric queries it asked for, and ask again
//	}
//
// The package reads no clock, does no I/O, and imports neither client-go nor
// net/http: a test of the release algorithm needs no cluster. Lazy
// observations (Decision.Observe) keep hooks and queries where Flagger calls
// them: a pre-rollout hook runs only on the first analysis tick, metrics only
// once the rollout hooks passed, confirm-promotion only at the top of the
// schedule.
//
// Decide also writes why a release halted or how it ended (Status.Reason and
// Message) and keeps the history of releases (Status.History), so that every
// reader of the status — the controller's events, kubectl canary, its
// dashboard — tells the same story, and a restarted controller loses none of
// it.
//
// The behaviour is Flagger's (see docs/lifecycle.md), with deliberate fixes
// that are documented where they are made: the rollback happens on the tick
// the threshold is reached, rollback hooks are honoured while Waiting, a
// failing confirm-traffic-increase does not re-run pre-rollout hooks, the
// weight never exceeds maxWeight, and an alert goes out when the canary
// misses its progress deadline.
package analysis
