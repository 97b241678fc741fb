package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// canaryView is the page of one canary and its release. The page shows
// its sections in this order: summary, actions, timeline (weight and
// checks), webhooks, events. A release-history section is one more field
// here, one more builder call in canaryView, and one more template.
type canaryView struct {
	listRow
	Key          string
	WaitingSince string
	LastRequest  *flaggerv1.RequestRecord
	LastTime     string

	Actions      []actionButton
	ActionsError string

	WeightPlot *plot
	CheckPlots []*plot

	Webhooks    []webhookRow
	Events      []eventRow
	EventsError string
}

// actionButton is an operation the user may run, with the question the
// confirmation asks.
type actionButton struct {
	Action  Action
	URL     string
	Confirm string
}

// webhookRow is a webhook of the spec and the last thing the events said
// about it.
type webhookRow struct {
	Name, Type, URL, Timeout, GateTimeout string
	Last, LastTime                        string
	LastWarning                           bool
}

// eventRow is one event of the canary.
type eventRow struct {
	Time, Age, Type, Message string
	Count                    int32
}

// maxEvents bounds the events shown.
const maxEvents = 100

func (s *Server) canaryPage(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	v, err := s.canaryView(r.Context(), ns, name)
	if err != nil {
		s.errorPage(w, apiStatus(err), err)
		return
	}
	s.page(w, http.StatusOK, "canary", v.Key, canaryURL(ns, name)+"/live", v)
}

// canary reads a Canary with the user's credentials, within the
// dashboard's namespace when it has one.
func (s *Server) canary(ctx context.Context, ns, name string) (*flaggerv1.Canary, error) {
	if s.o.Namespace != "" && ns != s.o.Namespace {
		return nil, apierrors.NewNotFound(flaggerv1.GroupVersion.WithResource("canaries").GroupResource(), name)
	}
	var c flaggerv1.Canary
	if err := s.o.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
		return nil, fmt.Errorf("canary %s.%s: %w", name, ns, err)
	}
	return &c, nil
}

func (s *Server) canaryView(ctx context.Context, ns, name string) (*canaryView, error) {
	c, err := s.canary(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	s.weights.observe(c, now)
	v := &canaryView{listRow: row(c, now), Key: c.Key(), LastRequest: c.Status.LastRequest}
	if w := c.Status.WaitingSince; w != nil {
		v.WaitingSince = age(now, w.Time)
	}
	if v.LastRequest != nil {
		v.LastTime = age(now, v.LastRequest.Time.Time)
	}
	acts, err := s.allowedActions(ctx, c)
	if err != nil {
		v.ActionsError = err.Error()
	}
	for _, a := range acts {
		v.Actions = append(v.Actions, actionButton{Action: a, URL: canaryURL(ns, name) + "/actions/" + string(a), Confirm: confirmText(c, a)})
	}
	events, err := s.events(ctx, c)
	if err != nil {
		v.EventsError = err.Error()
	}
	v.timeline(c, events, s.weights.points(c.Key()), now)
	v.Webhooks = webhookRows(c, events, now)
	for i, e := range events {
		if i == maxEvents {
			break
		}
		v.Events = append(v.Events, eventRow{Time: eventTime(e).UTC().Format(time.RFC3339), Age: age(now, eventTime(e)),
			Type: e.Type, Message: e.Message, Count: max(e.Count, 1)})
	}
	return v, nil
}

// events lists the canary's events, newest first.
func (s *Server) events(ctx context.Context, c *flaggerv1.Canary) ([]corev1.Event, error) {
	var l corev1.EventList
	if err := s.o.Client.List(ctx, &l, client.InNamespace(c.Namespace), eventsOf(c.Name)); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("not allowed to list the events of namespace %s: %w", c.Namespace, err)
		}
		return nil, fmt.Errorf("listing the events of canary %s: %w", c.Key(), err)
	}
	sortEvents(l.Items)
	return l.Items, nil
}

// eventsOf selects the events about the Canary name.
func eventsOf(name string) client.MatchingFields {
	return client.MatchingFields{"involvedObject.kind": "Canary", "involvedObject.name": name}
}

// timeline lays out the plots over one time axis: from the oldest check,
// weight or event shown, to now.
func (v *canaryView) timeline(c *flaggerv1.Canary, events []corev1.Event, observed []weightPoint, now time.Time) {
	weights := weightTimeline(events, observed)
	from := now
	for _, w := range weights {
		from = minTime(from, w.Time)
	}
	byMetric := map[string][]flaggerv1.CheckResult{}
	var metrics []string
	for _, ch := range c.Status.Checks {
		from = minTime(from, ch.Time.Time)
		if _, ok := byMetric[ch.Metric]; !ok {
			metrics = append(metrics, ch.Metric)
		}
		byMetric[ch.Metric] = append(byMetric[ch.Metric], ch)
	}
	v.WeightPlot = weightPlot(weights, from, now)
	for _, m := range metrics {
		v.CheckPlots = append(v.CheckPlots, checkPlot(m, byMetric[m], from, now))
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// webhookRows are the spec's webhooks with the latest event that names
// each one ("external check NAME failed", "waiting for approval NAME",
// "gate NAME not approved", "Post-rollout hook NAME failed").
func webhookRows(c *flaggerv1.Canary, events []corev1.Event, now time.Time) []webhookRow {
	if c.Spec.Analysis == nil {
		return nil
	}
	var out []webhookRow
	for _, h := range c.Spec.Analysis.Webhooks {
		r := webhookRow{Name: h.Name, Type: string(h.Type), URL: h.URL, Timeout: h.Timeout, GateTimeout: h.GateTimeout}
		if r.Type == "" {
			r.Type = string(flaggerv1.RolloutHook)
		}
		if i := slices.IndexFunc(events, func(e corev1.Event) bool { return namesHook(e.Message, h.Name) }); i >= 0 {
			r.Last, r.LastTime, r.LastWarning = events[i].Message, age(now, eventTime(events[i])), events[i].Type == corev1.EventTypeWarning
		} else if h.Type == flaggerv1.PreRolloutHook && c.Status.PreRolloutPassed {
			r.Last = "passed in this run (status.preRolloutPassed)"
		}
		out = append(out, r)
	}
	return out
}

func namesHook(msg, name string) bool {
	for _, word := range []string{"check ", "hook ", "gate "} {
		if strings.Contains(msg, word+name+" ") {
			return true
		}
	}
	return strings.HasSuffix(msg, "approval "+name)
}

// confirmText is the question asked before an operation runs.
func confirmText(c *flaggerv1.Canary, a Action) string {
	key := c.Key()
	switch a {
	case Promote:
		return fmt.Sprintf("Promote %s? A release waiting for approval goes on; one waiting for promotion is promoted to the primary.", key)
	case Abort:
		return fmt.Sprintf("Abort the release of %s? Traffic goes back to the primary and the release ends as Failed.", key)
	case Pause:
		return fmt.Sprintf("Pause %s where it is, until resumed?", key)
	case Resume:
		return fmt.Sprintf("Resume %s?", key)
	case Approve:
		return fmt.Sprintf("Open the loadtester gates of %s's confirm-* webhooks?", key)
	case Reject:
		return fmt.Sprintf("Close the gates of %s and signal its rollback webhooks?", key)
	}
	return string(a) + " " + key + "?"
}
