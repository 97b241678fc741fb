package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// canaryView is the page of one canary and its release. The page shows
// its sections in this order: summary, actions, timeline (weight and
// checks of the latest release), release history, webhooks, events.
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
	// Release is the release the timeline shows ("" before the first).
	Release string

	History []historyRow

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

// historyRow is one release of status.history.
type historyRow struct {
	ID                         int
	Revision, Images           string
	Started, Duration, Outcome string
	Reason, Message            string
	HighestWeight              int
	FailedChecks               int
	Requests                   string
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
	s.page(w, http.StatusOK, pageData{Title: v.Key, Live: canaryURL(ns, name) + "/live"}, v.write)
}

// write writes the page's sections in order.
func (v *canaryView) write(h *hw) {
	v.writeSummary(h)
	v.writeActions(h)
	v.writeTimeline(h)
	v.writeHistory(h)
	v.writeWebhooks(h)
	v.writeEvents(h)
}

func (v *canaryView) writeSummary(h *hw) {
	h.open("section", "class", "summary", "id", "summary", "data-phase", v.Phase, "data-weight", strconv.Itoa(v.Weight))
	h.open("h1")
	h.text(v.Name + " ")
	h.el("small", v.Namespace)
	h.raw("</h1><dl>")
	h.raw(`<dt>Status</dt><dd id="phase">`)
	h.phase(&v.listRow)
	if v.Since != "" {
		h.text(" ")
		h.el("small", "for "+v.Since)
	}
	h.raw(`</dd><dt>Weight</dt><dd id="weight">`)
	h.weightBar(v.Weight)
	h.raw("</dd><dt>Failed checks</dt>")
	h.el("dd", fmt.Sprintf("%d/%d", v.FailedChecks, v.Threshold))
	h.raw("<dt>Target</dt>")
	h.el("dd", v.Target)
	h.raw("<dt>Gates</dt><dd>")
	h.gates(v.Gates)
	if v.WaitingSince != "" {
		h.el("small", "waiting for "+v.WaitingSince)
	}
	h.raw("</dd>")
	if v.Message != "" {
		h.raw("<dt>Message</dt>")
		h.el("dd", v.Message, "class", "message")
	}
	if r := v.LastRequest; r != nil {
		outcome := "refused"
		if r.Accepted {
			outcome = "accepted"
		}
		h.raw("<dt>Last request</dt><dd>")
		h.text(fmt.Sprintf("%s %s: %s ", r.Operation, outcome, r.Message))
		h.el("small", v.LastTime+" ago")
		h.raw("</dd>")
	}
	h.raw("</dl></section>\n")
}

func (v *canaryView) writeActions(h *hw) {
	h.raw(`<section class="actions" id="actions">`)
	for _, a := range v.Actions {
		h.el("button", string(a.Action), "type", "button", "class", "action "+string(a.Action), "data-action", string(a.Action),
			"data-url", a.URL, "data-confirm", a.Confirm)
	}
	if len(v.Actions) == 0 {
		h.el("p", "Read-only: your credentials allow none of promote, abort, pause, resume, approve or reject on this canary.", "class", "note")
	}
	if v.ActionsError != "" {
		h.el("p", v.ActionsError, "class", "error")
	}
	h.raw("</section>\n")
}

func (v *canaryView) writeTimeline(h *hw) {
	h.raw(`<section class="timeline" id="timeline">`)
	h.el("h2", "Release timeline"+v.Release)
	h.plot(v.WeightPlot)
	for _, p := range v.CheckPlots {
		h.plot(p)
	}
	if len(v.CheckPlots) == 0 {
		h.el("p", "No metric checks recorded in status.checks.", "class", "empty")
	}
	h.raw("</section>\n")
}

func (v *canaryView) writeHistory(h *hw) {
	h.raw(`<section class="history" id="history"><h2>Release history</h2>`)
	if len(v.History) == 0 {
		h.el("p", "No release recorded in status.history yet.", "class", "empty")
		h.raw("</section>\n")
		return
	}
	h.raw("<table><thead><tr><th>#</th><th>Revision</th><th>Images</th><th>Started</th><th>Took</th><th>Outcome</th>" +
		"<th>Reason</th><th>Highest weight</th><th>Failed checks</th><th>Requests</th></tr></thead><tbody>")
	for _, r := range v.History {
		h.open("tr", "class", "release "+r.Outcome, "data-id", strconv.Itoa(r.ID))
		h.el("td", strconv.Itoa(r.ID))
		h.el("td", r.Revision, "class", "revision")
		h.el("td", r.Images)
		h.el("td", r.Started)
		h.el("td", r.Duration)
		h.el("td", r.Outcome, "class", "outcome")
		h.open("td", "class", "message")
		h.text(r.Reason)
		if r.Message != "" {
			h.text(" ")
			h.el("small", r.Message)
		}
		h.close("td")
		h.el("td", strconv.Itoa(r.HighestWeight))
		h.el("td", strconv.Itoa(r.FailedChecks))
		h.el("td", r.Requests)
		h.raw("</tr>")
	}
	h.raw("</tbody></table></section>\n")
}

// historyRows lists the releases of status.history, newest first.
func historyRows(c *flaggerv1.Canary, now time.Time) []historyRow {
	var out []historyRow
	for i := len(c.Status.History) - 1; i >= 0; i-- {
		r := c.Status.History[i]
		row := historyRow{ID: r.ID, Revision: r.Revision, Images: strings.Join(r.Images, ", "), Started: age(now, r.StartTime.Time) + " ago",
			Outcome: string(r.Outcome), Reason: string(r.Reason), Message: r.Message, HighestWeight: r.HighestWeight, FailedChecks: r.FailedChecks}
		if row.Outcome == "" {
			row.Outcome = "Running"
		}
		end := now
		if r.EndTime != nil {
			end = r.EndTime.Time
		}
		row.Duration = end.Sub(r.StartTime.Time).Round(time.Second).String()
		var reqs []string
		for _, q := range r.Requests {
			by := ""
			if q.By != "" {
				by = " by " + q.By
			}
			reqs = append(reqs, string(q.Operation)+by)
		}
		row.Requests = strings.Join(reqs, ", ")
		out = append(out, row)
	}
	return out
}

func (v *canaryView) writeWebhooks(h *hw) {
	h.raw(`<section class="webhooks" id="webhooks"><h2>Webhooks</h2>`)
	if len(v.Webhooks) == 0 {
		h.el("p", "No webhooks.", "class", "empty")
		h.raw("</section>\n")
		return
	}
	h.raw("<table><thead><tr><th>Name</th><th>Type</th><th>URL</th><th>Timeout</th><th>Gate timeout</th><th>Last reported</th></tr></thead><tbody>")
	for _, r := range v.Webhooks {
		h.open("tr", "class", "webhook", "data-name", r.Name)
		h.el("td", r.Name)
		h.el("td", r.Type)
		h.el("td", r.URL, "class", "url")
		h.el("td", r.Timeout)
		h.el("td", r.GateTimeout)
		h.open("td", "class", when(r.LastWarning, "warning"))
		h.text(r.Last)
		if r.LastTime != "" {
			h.text(" ")
			h.el("small", r.LastTime+" ago")
		}
		h.raw("</td></tr>")
	}
	h.raw("</tbody></table></section>\n")
}

func (v *canaryView) writeEvents(h *hw) {
	h.raw(`<section class="events" id="events"><h2>Events</h2>`)
	if v.EventsError != "" {
		h.el("p", v.EventsError, "class", "error")
	}
	switch {
	case len(v.Events) > 0:
		h.raw("<table><thead><tr><th>Age</th><th>Type</th><th>Message</th><th>Count</th></tr></thead><tbody>")
		for _, e := range v.Events {
			h.open("tr", "class", "event "+e.Type)
			h.open("td")
			h.el("time", e.Age, "datetime", e.Time)
			h.close("td")
			h.el("td", e.Type)
			h.el("td", e.Message, "class", "message")
			h.el("td", strconv.Itoa(int(e.Count)))
			h.raw("</tr>")
		}
		h.raw("</tbody></table>")
	case v.EventsError == "":
		h.el("p", "No events (the API server keeps them for an hour).", "class", "empty")
	}
	h.raw("</section>\n")
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
	v.History = historyRows(c, now)
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

// timeline lays out the plots of the latest release over one time axis,
// from its start (or the oldest check, weight or event shown when no
// release is recorded) to now.
func (v *canaryView) timeline(c *flaggerv1.Canary, events []corev1.Event, observed []weightPoint, now time.Time) {
	weights := weightTimeline(events, observed)
	checks := c.Status.Checks
	if r := c.Status.LatestRelease(); r != nil {
		v.Release = fmt.Sprintf(" (release %d)", r.ID)
		checks = c.Status.ReleaseChecks(r.ID)
		weights = since(weights, r.StartTime.Time)
	}
	from := now
	for _, w := range weights {
		from = minTime(from, w.Time)
	}
	byMetric := map[string][]flaggerv1.CheckResult{}
	var metrics []string
	for _, ch := range checks {
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

// since keeps the weights from start on, beginning with the weight in
// effect at start.
func since(weights []weightPoint, start time.Time) []weightPoint {
	var out []weightPoint
	for i, w := range weights {
		if w.Time.Before(start) {
			continue
		}
		if len(out) == 0 && i > 0 && w.Time.After(start) {
			out = append(out, weightPoint{Time: start, Weight: weights[i-1].Weight})
		}
		out = append(out, w)
	}
	if len(out) == 0 && len(weights) > 0 {
		out = append(out, weightPoint{Time: start, Weight: weights[len(weights)-1].Weight})
	}
	return out
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
