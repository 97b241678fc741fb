package controller

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/webhooks"
)

// eventReason is the reason of every event, as in Flagger.
const eventReason = "Synced"

// eventAction is the event's action: its message, cut to the 128 bytes the
// API allows. The events library folds events that share type, reason,
// action and object version into one series, keeping the first message;
// with a fixed action, the second message of a tick would be lost.
func eventAction(msg string) string { return cut(msg, 128) }

// emit records the decision's events: a Kubernetes event on the Canary, a
// JSON log line, and a call to the event webhooks.
func (t *tick) emit(events []analysis.Event) {
	for _, e := range events {
		if e.LogOnly {
			t.log.Info(e.Message)
			continue
		}
		t.event(e.Severity, e.Message)
	}
}

// event records one event. As in Flagger, warnings are logged at info level
// and errors at error level.
func (t *tick) event(sev analysis.Severity, msg string) {
	typ := corev1.EventTypeNormal
	switch sev {
	case analysis.SeverityError:
		typ = corev1.EventTypeWarning
		t.log.Error(msg)
	case analysis.SeverityWarn:
		typ = corev1.EventTypeWarning
		t.log.Info(msg)
	default:
		t.log.Info(msg)
	}
	if t.r.Recorder != nil {
		t.r.Recorder.Eventf(t.c, nil, typ, eventReason, eventAction(msg), "%s", msg)
	}
	t.r.eventsQ.send(t.c, t.r.Options.EventWebhook, typ, msg, t.now)
}

// eventWebhooks posts events to the canary's event hooks (or the global
// -event-webhook) from a queue, so a slow receiver never stalls a tick.
// When the queue is full, events are dropped and counted in the log.
type eventWebhooks struct {
	client *webhooks.Client
	log    *slog.Logger
	queue  chan eventCall

	mu      sync.Mutex
	dropped int
}

type eventCall struct {
	req  webhooks.Request
	name string
}

func newEventWebhooks(c *webhooks.Client, log *slog.Logger) *eventWebhooks {
	return &eventWebhooks{client: c, log: log, queue: make(chan eventCall, 1024)}
}

func (q *eventWebhooks) send(c *flaggerv1.Canary, global, typ, msg string, now time.Time) {
	var hooks []flaggerv1.CanaryWebhook
	if c.Spec.Analysis != nil {
		for _, h := range c.Spec.Analysis.Webhooks {
			if h.Type == flaggerv1.EventHook {
				hooks = append(hooks, h)
			}
		}
	}
	if len(hooks) == 0 && global != "" {
		hooks = []flaggerv1.CanaryWebhook{{Name: "event-webhook", URL: global}}
	}
	for _, h := range hooks {
		md := map[string]string{}
		for k, v := range h.Metadata {
			md[k] = v
		}
		md[webhooks.EventMessageKey], md[webhooks.EventTypeKey] = msg, typ
		md[webhooks.TimestampKey] = strconv.FormatInt(now.UnixMilli(), 10)
		req := webhooks.Request{URL: h.URL, InsecureSkipVerify: h.DisableTLS, Retries: h.Retries,
			Payload: webhooks.Payload{Name: c.Name, Namespace: c.Namespace, Phase: string(c.Status.Phase),
				Checksum: checksum(c.Status.LastAppliedSpec, derefMap(c.Status.TrackedConfigs)), Metadata: md}}
		if d, err := time.ParseDuration(h.Timeout); err == nil {
			req.Timeout = d
		}
		select {
		case q.queue <- eventCall{req: req, name: c.Key()}:
		default:
			q.mu.Lock()
			q.dropped++
			q.mu.Unlock()
		}
	}
}

func derefMap(m *map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return *m
}

// Start sends queued events until ctx ends; it is a manager Runnable.
func (q *eventWebhooks) Start(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case call := <-q.queue:
			if _, err := q.client.Call(ctx, call.req); err != nil {
				q.log.Info("error sending event to webhook: "+err.Error(), "canary", call.name)
			}
			q.mu.Lock()
			if q.dropped > 0 {
				q.log.Info("event webhook queue was full; events dropped", "dropped", q.dropped)
				q.dropped = 0
			}
			q.mu.Unlock()
		}
	}
}

// NeedLeaderElection: events are sent by the leader only.
func (q *eventWebhooks) NeedLeaderElection() bool { return true }
