package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// listView is the page of every canary.
type listView struct {
	// Namespace is the filter ("" for all); Namespaces the choices.
	Namespace  string
	Namespaces []string
	Rows       []listRow
	// Errors are the namespaces that could not be listed, and why.
	Errors []string
}

// listRow is one canary.
type listRow struct {
	Namespace, Name, URL string
	Phase, Health        string
	Paused               bool
	Weight               int
	FailedChecks         int
	Threshold            int
	Target               string
	Gates                []gateView
	Message              string
	Since                string
}

// gateView is a confirm-* webhook; Holding when the phase says the canary
// waits for it.
type gateView struct {
	Name, Type string
	Holding    bool
}

func (s *Server) listPage(w http.ResponseWriter, r *http.Request) {
	ns := r.URL.Query().Get("namespace")
	v := s.listView(r.Context(), ns)
	live := "/live"
	if ns != "" {
		live += "?namespace=" + url.QueryEscape(ns)
	}
	s.page(w, http.StatusOK, pageData{Title: "Canaries", Live: live}, v.write)
}

// write writes the list: the namespace filter, then a row per canary.
func (v *listView) write(h *hw) {
	h.raw(`<section class="list"><form class="filter" method="get" action="/"><label>Namespace `)
	h.open("select", "name", "namespace", "id", "namespace-filter")
	h.el("option", "all", "value", "", "selected", when(v.Namespace == "", "selected"))
	for _, ns := range v.Namespaces {
		h.el("option", ns, "value", ns, "selected", when(ns == v.Namespace, "selected"))
	}
	h.raw("</select></label><noscript><button>Show</button></noscript></form>\n")
	for _, e := range v.Errors {
		h.el("p", e, "class", "error")
	}
	if len(v.Rows) == 0 {
		msg := "No canaries."
		if v.Namespace != "" {
			msg = "No canaries in namespace " + v.Namespace + "."
		}
		h.el("p", msg, "class", "empty")
		h.raw("</section>")
		return
	}
	h.raw(`<table id="canaries"><thead><tr><th>Namespace</th><th>Name</th><th>Status</th><th>Weight</th><th>Failed checks</th>` +
		`<th>Gates</th><th>Target</th><th>Since</th><th>Message</th></tr></thead><tbody>` + "\n")
	for i := range v.Rows {
		r := &v.Rows[i]
		h.open("tr", "class", "canary", "data-namespace", r.Namespace, "data-name", r.Name, "data-phase", r.Phase, "data-weight", strconv.Itoa(r.Weight))
		h.el("td", r.Namespace)
		h.open("td")
		h.el("a", r.Name, "href", r.URL)
		h.close("td")
		h.open("td")
		h.phase(r)
		h.close("td")
		h.open("td")
		h.weightBar(r.Weight)
		h.close("td")
		h.el("td", fmt.Sprintf("%d/%d", r.FailedChecks, r.Threshold))
		h.open("td")
		h.gates(r.Gates)
		h.close("td")
		h.el("td", r.Target)
		h.el("td", r.Since)
		h.el("td", r.Message, "class", "message")
		h.raw("</tr>\n")
	}
	h.raw("</tbody></table></section>")
}

// listView lists the canaries of the scope, or of the filter's namespace.
func (s *Server) listView(ctx context.Context, filter string) *listView {
	all, namespaces := s.scope(ctx)
	v := &listView{Namespace: filter, Namespaces: slices.Clone(namespaces)}
	var canaries []flaggerv1.Canary
	for _, ns := range s.listNamespaces(all, namespaces, filter) {
		var l flaggerv1.CanaryList
		var opts []client.ListOption
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := s.o.Client.List(ctx, &l, opts...); err != nil {
			v.Errors = append(v.Errors, listError(ns, err))
			continue
		}
		canaries = append(canaries, l.Items...)
	}
	now := s.o.Now()
	for i := range canaries {
		c := &canaries[i]
		s.weights.observe(c, now)
		if all && !slices.Contains(v.Namespaces, c.Namespace) {
			v.Namespaces = append(v.Namespaces, c.Namespace)
		}
		v.Rows = append(v.Rows, row(c, now))
	}
	slices.Sort(v.Namespaces)
	slices.SortFunc(v.Rows, func(a, b listRow) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return v
}

// listNamespaces are the namespaces to list ("" is all of them).
func (s *Server) listNamespaces(all bool, scope []string, filter string) []string {
	switch {
	case filter != "" && (all || slices.Contains(scope, filter)):
		return []string{filter}
	case filter != "":
		return nil
	case all:
		return []string{""}
	}
	return scope
}

func listError(ns string, err error) string {
	where := "in namespace " + ns
	if ns == "" {
		where = "in any namespace"
	}
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("not allowed to list canaries %s: %v", where, err)
	}
	return fmt.Sprintf("listing canaries %s: %v", where, err)
}

func row(c *flaggerv1.Canary, now time.Time) listRow {
	r := listRow{Namespace: c.Namespace, Name: c.Name, URL: canaryURL(c.Namespace, c.Name), Phase: phaseName(c.Status.Phase),
		Health: health(c), Paused: c.Status.Paused, Weight: c.Status.CanaryWeight, FailedChecks: c.Status.FailedChecks,
		Target: c.Spec.TargetRef.Kind + "/" + c.Spec.TargetRef.Name, Gates: gates(c), Message: reasonText(c.Status)}
	if c.Spec.Analysis != nil {
		r.Threshold = max(c.Spec.Analysis.Threshold, 1)
	}
	if t := c.Status.LastTransitionTime; !t.IsZero() {
		r.Since = age(now, t.Time)
	}
	return r
}

// reasonText is "Reason: message", as kubectl canary list shows it.
func reasonText(st flaggerv1.CanaryStatus) string {
	switch {
	case st.Reason == "":
		return st.Message
	case st.Message == "":
		return string(st.Reason)
	}
	return string(st.Reason) + ": " + st.Message
}

func canaryURL(ns, name string) string {
	return "/canaries/" + url.PathEscape(ns) + "/" + url.PathEscape(name)
}

// gates lists the confirm-* webhooks; the phase tells which of them hold
// the release (Waiting: confirm-rollout, WaitingPromotion:
// confirm-promotion).
func gates(c *flaggerv1.Canary) []gateView {
	if c.Spec.Analysis == nil {
		return nil
	}
	var out []gateView
	for _, h := range c.Spec.Analysis.Webhooks {
		switch h.Type {
		case flaggerv1.ConfirmRolloutHook, flaggerv1.ConfirmPromotionHook, flaggerv1.ConfirmTrafficIncreaseHook:
			// status.pendingGate names the gate that holds the release; a
			// status without it (written by Flagger) is read from the phase
			holding := c.Status.PendingGate == h.Name ||
				(c.Status.PendingGate == "" && ((h.Type == flaggerv1.ConfirmRolloutHook && c.Status.Phase == flaggerv1.CanaryPhaseWaiting) ||
					(h.Type == flaggerv1.ConfirmPromotionHook && c.Status.Phase == flaggerv1.CanaryPhaseWaitingPromotion)))
			out = append(out, gateView{Name: h.Name, Type: string(h.Type), Holding: holding})
		}
	}
	return out
}

func phaseName(p flaggerv1.CanaryPhase) string {
	if p == "" {
		return string(flaggerv1.CanaryPhaseInitializing)
	}
	return string(p)
}

// health is the CSS class of a canary's phase.
func health(c *flaggerv1.Canary) string {
	if c.Status.Paused {
		return "paused"
	}
	switch c.Status.Phase {
	case flaggerv1.CanaryPhaseSucceeded, flaggerv1.CanaryPhaseInitialized:
		return "ok"
	case flaggerv1.CanaryPhaseFailed:
		return "bad"
	case flaggerv1.CanaryPhaseWaiting, flaggerv1.CanaryPhaseWaitingPromotion:
		return "waiting"
	case flaggerv1.CanaryPhaseTerminating, flaggerv1.CanaryPhaseTerminated:
		return "neutral"
	}
	return "progressing"
}

// age is how long ago t was, as kubectl prints it.
func age(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return duration.HumanDuration(now.Sub(t))
}
