package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// dueTimes remembers when each canary's next tick is due: the start of its
// previous tick plus the requeue that tick asked for, which for an analysis
// step is status.lastAnalysisTime plus the interval. It only feeds
// warbler_tick_lateness_seconds; losing it (a restart) loses one
// observation per canary, nothing else.
type dueTimes struct {
	m sync.Map // types.NamespacedName -> time.Time
}

// started returns how late a tick starting at now is, and false when no tick
// was due yet: a tick that a watch event brought forward is not late.
func (d *dueTimes) started(key types.NamespacedName, now time.Time) (time.Duration, bool) {
	v, ok := d.m.Load(key)
	if !ok {
		return 0, false
	}
	due := v.(time.Time)
	if now.Before(due) {
		return 0, false
	}
	d.m.Delete(key)
	return now.Sub(due), true
}

// finished records when the next tick is due after a tick that started at
// start ended with res and err. Errors back off in the queue; those retries
// are not due at a time anyone asked for.
func (d *dueTimes) finished(key types.NamespacedName, start time.Time, res ctrl.Result, err error) {
	if err != nil || res.RequeueAfter <= 0 {
		d.m.Delete(key)
		return
	}
	d.m.Store(key, start.Add(res.RequeueAfter))
}
