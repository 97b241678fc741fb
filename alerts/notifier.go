// Package alerts sends a canary's alerts to chat and webhook receivers:
// the AlertProviders named by spec.analysis.alerts (slack, msteams,
// discord, rocket, gchat, and Warbler's generic webhook), or the global
// notifier of the -slack-url / -msteams-url flags.
//
// Send never blocks a tick: it copies the alert into a bounded queue that
// worker goroutines drain. Every call has a timeout, identical alerts are
// suppressed for a while, each provider has a token bucket, and whatever
// is dropped is counted and logged.
package alerts

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Notifier delivers alerts. It implements the controller's Notifier and
// runs as a controller-runtime manager Runnable (Start).
type Notifier struct {
	cache, api client.Reader
	flags      Flags
	global     *destination
	cluster    string
	log        *slog.Logger
	queue      chan job
	limit      *limiter
	http       *transports
	now        func() time.Time

	sent, failed, queueFull, repeats, throttled atomic.Int64

	dropMu      sync.Mutex
	lastDropLog time.Time
}

// job is one Send: a copy of the canary as the tick left it.
type job struct {
	canary *flaggerv1.Canary
	alerts []analysis.Alert
	spec   analysis.Spec
	at     time.Time
}

// New returns a notifier. c reads AlertProviders (the manager's cached
// client is fine); apiReader reads their Secrets around the cache.
// clusterName is the controller's -cluster-name, shown in every alert.
func New(c client.Reader, apiReader client.Reader, f Flags, clusterName string, log *slog.Logger) *Notifier {
	f = f.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	return &Notifier{cache: c, api: apiReader, flags: f, global: global(f), cluster: clusterName, log: log,
		queue: make(chan job, f.QueueSize), limit: newLimiter(f.RepeatInterval), http: newTransports(), now: time.Now}
}

// Send queues the alerts of a tick and returns at once. When the queue is
// full the alerts are dropped, counted and logged.
func (n *Notifier) Send(_ context.Context, c *flaggerv1.Canary, alerts []analysis.Alert, spec analysis.Spec) {
	if len(alerts) == 0 {
		return
	}
	j := job{canary: c.DeepCopy(), alerts: slices.Clone(alerts), spec: spec, at: n.now()}
	select {
	case n.queue <- j:
	default:
		n.queueFull.Add(int64(len(alerts)))
		n.logDrop(c.Key())
	}
}

// Start runs the workers until ctx ends. Alerts sent before Start wait in
// the queue.
func (n *Notifier) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range n.flags.Workers {
		wg.Go(func() { n.work(ctx) })
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection: only the leader reconciles, so only it alerts.
func (n *Notifier) NeedLeaderElection() bool { return true }

// Stats counts what happened to alerts, per receiver call.
type Stats struct {
	// Sent and Failed count calls that got a 2xx answer, and the others.
	Sent, Failed int64
	// QueueFull counts alerts dropped because the queue was full.
	QueueFull int64
	// Repeated counts identical alerts suppressed within the repeat
	// interval; Throttled those over a provider's rate.
	Repeated, Throttled int64
}

// Stats returns the counters so far.
func (n *Notifier) Stats() Stats {
	return Stats{Sent: n.sent.Load(), Failed: n.failed.Load(), QueueFull: n.queueFull.Load(),
		Repeated: n.repeats.Load(), Throttled: n.throttled.Load()}
}

func (n *Notifier) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-n.queue:
			n.handle(ctx, j)
		}
	}
}

// handle resolves the receivers of a job and calls each that accepts each
// alert's severity.
func (n *Notifier) handle(ctx context.Context, j job) {
	log := n.log.With("canary", j.canary.Key())
	dests, errs := n.destinations(ctx, j.canary)
	for _, err := range errs {
		log.Error("error sending alert: " + err.Error())
	}
	for _, a := range j.alerts {
		m := newMessage(j.canary, a, j.spec, n.cluster, j.at)
		for _, d := range dests {
			if d.accepts(m.Severity) && n.admit(d, m, j.canary.Status.LastAppliedSpec, log) {
				n.deliver(ctx, d, m, log)
			}
		}
	}
}

// admit applies the limiter and counts what it holds back.
func (n *Notifier) admit(d destination, m Message, revision string, log *slog.Logger) bool {
	key := d.name + "\x00" + m.Key() + "\x00" + revision + "\x00" + m.Text
	switch n.limit.allow(d.name, key, n.now()) {
	case repeated:
		n.repeats.Add(1)
		log.Debug("alert suppressed: sent to " + d.name + " less than " + n.flags.RepeatInterval.String() + " ago: " + m.Text)
		return false
	case throttled:
		n.throttled.Add(1)
		log.Warn("alert dropped: provider " + d.name + " is over its rate of one alert per second: " + m.Text)
		return false
	}
	return true
}

func (n *Notifier) deliver(ctx context.Context, d destination, m Message, log *slog.Logger) {
	body := payloadFor(d.typ, m, d.channel, d.user)
	if err := n.post(ctx, d, body); err != nil {
		n.failed.Add(1)
		log.Error("error sending alert to " + d.typ + " provider " + d.name + ": " + err.Error())
		return
	}
	n.sent.Add(1)
}

// logDrop logs dropped alerts at most every ten seconds, with the total.
func (n *Notifier) logDrop(canary string) {
	n.dropMu.Lock()
	defer n.dropMu.Unlock()
	if now := n.now(); now.Sub(n.lastDropLog) >= 10*time.Second {
		n.lastDropLog = now
		n.log.Warn("alert queue is full; alerts dropped", "canary", canary, "dropped", n.queueFull.Load())
	}
}
