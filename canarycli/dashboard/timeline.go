package dashboard

import (
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// weightPoint is the canary weight from a moment on.
type weightPoint struct {
	Time   time.Time
	Weight int
}

// The status holds only the current weight. Its past comes from two
// places: the events the controller wrote with Flagger's wording (kept by
// the API server for an hour), and the weights this dashboard saw while it
// watched.
var (
	advanceCanary  = regexp.MustCompile(`^Advance \S+ canary weight (\d+)$`)
	advancePrimary = regexp.MustCompile(`^Advance \S+ primary weight (\d+)$`)
	// messages after which the canary gets no traffic
	weightZero = regexp.MustCompile(`^(Starting canary analysis for |Routing all traffic to primary|Canary failed! Scaling down |Promotion completed! )`)
)

// eventWeight is the weight an event reports, if any.
func eventWeight(msg string) (int, bool) {
	if m := advanceCanary.FindStringSubmatch(msg); m != nil {
		w, err := strconv.Atoi(m[1])
		return w, err == nil
	}
	if m := advancePrimary.FindStringSubmatch(msg); m != nil {
		w, err := strconv.Atoi(m[1])
		return 100 - w, err == nil
	}
	return 0, weightZero.MatchString(msg)
}

// weightLog keeps the weights this process saw, per canary.
type weightLog struct {
	mu   sync.Mutex
	seen map[string][]weightPoint
}

// maxObserved bounds the weights kept per canary.
const maxObserved = 256

func newWeightLog() *weightLog { return &weightLog{seen: map[string][]weightPoint{}} }

// observe records the canary's weight when it differs from the last one
// seen.
func (l *weightLog) observe(c *flaggerv1.Canary, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := c.Key()
	pts := l.seen[key]
	if n := len(pts); n > 0 && pts[n-1].Weight == c.Status.CanaryWeight {
		return
	}
	pts = append(pts, weightPoint{Time: now, Weight: c.Status.CanaryWeight})
	if len(pts) > maxObserved {
		pts = pts[len(pts)-maxObserved:]
	}
	l.seen[key] = pts
}

func (l *weightLog) points(key string) []weightPoint {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen[key])
}

// weightTimeline merges the weights of the events and the observed ones
// in time order, dropping points that repeat the weight before them.
func weightTimeline(events []corev1.Event, observed []weightPoint) []weightPoint {
	pts := slices.Clone(observed)
	for _, e := range events {
		if w, ok := eventWeight(e.Message); ok {
			pts = append(pts, weightPoint{Time: eventTime(e), Weight: w})
		}
	}
	slices.SortStableFunc(pts, func(a, b weightPoint) int { return a.Time.Compare(b.Time) })
	var out []weightPoint
	for _, p := range pts {
		if n := len(out); n > 0 && out[n-1].Weight == p.Weight {
			continue
		}
		out = append(out, p)
	}
	return out
}

// eventTime is when an event last happened. Events written through the
// events.k8s.io API carry eventTime and a series; core ones lastTimestamp.
func eventTime(e corev1.Event) time.Time {
	t := e.LastTimestamp.Time
	for _, c := range []time.Time{e.EventTime.Time, e.FirstTimestamp.Time, e.CreationTimestamp.Time} {
		if t.IsZero() {
			t = c
		}
	}
	if e.Series != nil && e.Series.LastObservedTime.After(t) {
		t = e.Series.LastObservedTime.Time
	}
	return t
}

// sortEvents orders events newest first.
func sortEvents(events []corev1.Event) {
	slices.SortStableFunc(events, func(a, b corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
}
