package analysis

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sim is a canary and a pretend cluster, driven by scripts. It answers the
// observations Decide asks for from its settings and applies decisions the
// way the controller would.
type sim struct {
	spec   Spec
	status Status
	now    time.Time

	revision     string
	configs      map[string]string
	primaryRev   string // what the primary runs
	routes       Routes
	canaryUp     bool
	primaryReady Readiness
	canaryReady  Readiness
	deleting     bool
	request      *Request // handed to the next tick only

	hooks   map[string]bool         // hook name -> passes
	hookErr map[string]string       // hook name -> error text when failing
	metrics map[string]MetricResult // metric name -> result
	against map[string]MetricResult // metric name -> the other side's result

	// the baseline, and the samples of judged metrics: centres of the
	// canary's and the baseline's values, one sample per step of traffic
	baselineUp    bool
	baselineReady Readiness
	samples       map[string][2]float64
	trafficSince  time.Time
	called        map[HookType][]string // hooks called this tick
	queried       bool                  // metrics queried this tick
	last          Decision
	prev          Status // the status before the last tick
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newSim(spec Spec) *sim {
	return &sim{
		spec: spec, now: epoch, revision: "rev1", primaryRev: "rev1",
		routes:       Routes{Primary: 100},
		primaryReady: Readiness{Ready: true}, canaryReady: Readiness{Ready: true},
		hooks: map[string]bool{}, hookErr: map[string]string{}, metrics: map[string]MetricResult{},
		against: map[string]MetricResult{}, samples: map[string][2]float64{}, baselineReady: Readiness{Ready: true},
	}
}

// tick advances the clock by d and runs one reconcile: Decide until it
// needs nothing more, then apply.
func (s *sim) tick(d time.Duration) Decision {
	s.now = s.now.Add(d)
	s.called = map[HookType][]string{}
	s.queried = false
	obs := Observations{
		Revision: s.revision, Images: []string{"podinfo:" + s.revision}, Configs: s.configs, TargetMatchesPrimary: s.revision == s.primaryRev,
		PrimaryReady: s.primaryReady, CanaryReady: s.canaryReady, Routes: s.routes, Deleting: s.deleting,
		Hooks: map[HookType][]HookResult{}, Request: s.request,
		BaselineRunning: s.baselineUp, BaselineReady: s.baselineReady,
	}
	if !s.baselineUp && s.baselineReady.Ready {
		obs.BaselineReady = Readiness{Message: "podinfo-baseline.test not ready: waiting for rollout to finish: 0 of 0 updated replicas are available"}
	}
	s.request = nil
	if !s.canaryUp && s.canaryReady.Ready {
		// a canary scaled to zero has no ready pods
		obs.CanaryReady = Readiness{Message: "canary deployment " + s.spec.TargetName + "." + s.spec.Namespace + " not ready: waiting for rollout to finish: 0 of 0 updated replicas are available"}
	}
	for i := 0; ; i++ {
		dec := Decide(s.spec, s.status, obs, s.now)
		if dec.Observe == nil {
			s.apply(dec)
			s.last = dec
			return dec
		}
		if i > 10 {
			panic("Decide keeps asking for observations")
		}
		s.observe(dec.Observe, &obs)
	}
}

func (s *sim) observe(n *Need, obs *Observations) {
	if n.Metrics {
		s.queried = true
		for _, m := range s.spec.Metrics {
			r, ok := s.metrics[m.Name]
			if !ok {
				r = MetricResult{Outcome: QueryOK, Value: passing(m)}
			}
			r.Name = m.Name
			if m.Compare != nil {
				other, ok := s.against[m.Name]
				if !ok {
					other = MetricResult{Outcome: QueryOK, Value: r.Value}
				}
				r.Against = &other
			}
			if m.Judge != nil && r.Outcome == QueryOK {
				r.Samples = s.sampled(m, n.Window)
			}
			obs.Metrics = append(obs.Metrics, r)
		}
		if obs.Metrics == nil {
			obs.Metrics = []MetricResult{}
		}
		return
	}
	var res []HookResult
	for _, h := range s.spec.Hooks {
		if h.Type != n.Hooks {
			continue
		}
		ok, set := s.hooks[h.Name]
		if !set {
			ok = n.Hooks != HookRollback // rollback hooks do not signal by default
		}
		r := HookResult{Name: h.Name, OK: ok}
		if !ok {
			r.Err = s.hookErr[h.Name]
			if r.Err == "" {
				r.Err = "POST http://loadtester/ giving up after 1 attempt(s): 500 Internal Server Error"
			}
		}
		s.called[n.Hooks] = append(s.called[n.Hooks], h.Name+"("+string(n.Phase)+")")
		res = append(res, r)
		if (n.StopOn == StopOnFailure && !ok) || (n.StopOn == StopOnSuccess && ok) {
			break
		}
	}
	obs.Hooks[n.Hooks] = res
}

// sampled makes a judged metric's samples: one per whole step of traffic
// to the canary and the baseline within the window, spread by ±5% around
// the centres set by the script (100 on both sides by default).
func (s *sim) sampled(m Metric, w Window) *Samples {
	c, ok := s.samples[m.Name]
	if !ok {
		c = [2]float64{100, 100}
	}
	out := &Samples{}
	if s.trafficSince.IsZero() {
		return out
	}
	start := s.trafficSince
	if w.Start.After(start) {
		start = w.Start
	}
	for i := 0; !start.Add(time.Duration(i+1) * m.Step).After(w.End); i++ {
		// two low-discrepancy walks over [-0.5, 0.5): the same spread,
		// different values
		f := math.Mod(float64(i)*0.6180339887498949, 1) - 0.5
		g := math.Mod(float64(i)*0.6180339887498949+0.37, 1) - 0.5
		out.Canary = append(out.Canary, c[0]*(1+f/10))
		out.Baseline = append(out.Baseline, c[1]*(1+g/10))
	}
	return out
}

// passing is a value inside the metric's range.
func passing(m Metric) float64 {
	switch {
	case m.Min != nil:
		return *m.Min + 1
	case m.Max != nil:
		return *m.Max - 1
	}
	return 1
}

func (s *sim) apply(d Decision) {
	if d.ScaleTargetDown || d.ScaleCanaryDown {
		s.canaryUp = false
	}
	if d.ScaleCanaryUp {
		s.canaryUp = true
	}
	if d.Routes != nil {
		if d.Routes.Canary > 0 && s.routes.Canary == 0 {
			s.trafficSince = s.now
		}
		if d.Routes.Canary == 0 {
			s.trafficSince = time.Time{}
		}
		s.routes = *d.Routes
	}
	if d.StartBaseline {
		s.baselineUp = true
	}
	if d.StopBaseline {
		s.baselineUp = false
	}
	if d.Promote {
		s.primaryRev = s.revision
	}
	s.prev, s.status = s.status, d.Status
}

// describe renders a decision the way the golden files show it.
func (s *sim) describe(d Decision) string {
	var b strings.Builder
	st := d.Status
	fmt.Fprintf(&b, "t=%s %s weight=%d failed=%d iterations=%d routes=%d/%d", s.now.Sub(epoch), phaseName(st.Phase),
		st.CanaryWeight, st.FailedChecks, st.Iterations, s.routes.Primary, s.routes.Canary)
	if s.spec.Baseline {
		fmt.Fprintf(&b, "/%d baseline=%s", s.routes.Baseline, map[bool]string{true: "up", false: "down"}[s.baselineUp])
	}
	if s.routes.Mirrored {
		b.WriteString(" mirrored")
	}
	var acts []string
	if d.ScaleTargetDown {
		acts = append(acts, "scale-target-down")
	}
	if d.ScaleCanaryUp {
		acts = append(acts, "scale-canary-up")
	}
	if d.Routes != nil {
		routes := fmt.Sprintf("routes %d/%d", d.Routes.Primary, d.Routes.Canary)
		if s.spec.Baseline {
			routes += fmt.Sprintf("/%d", d.Routes.Baseline)
		}
		acts = append(acts, routes+map[bool]string{true: " mirror"}[d.Routes.Mirrored])
	}
	if d.Promote {
		acts = append(acts, "promote")
	}
	if d.StartBaseline {
		acts = append(acts, "start-baseline")
	}
	if d.ScaleCanaryDown {
		acts = append(acts, "scale-canary-down")
	}
	if d.StopBaseline {
		acts = append(acts, "stop-baseline")
	}
	if d.Finalize {
		acts = append(acts, "finalize")
	}
	if d.PostHooks {
		acts = append(acts, "post-rollout("+string(st.Phase)+")")
	}
	if d.Outcome != "" {
		acts = append(acts, "outcome="+string(d.Outcome))
	}
	if len(acts) > 0 {
		fmt.Fprintf(&b, "\n  do: %s", strings.Join(acts, ", "))
	}
	types := make([]string, 0, len(s.called))
	for t := range s.called {
		types = append(types, string(t))
	}
	sort.Strings(types)
	for _, t := range types {
		fmt.Fprintf(&b, "\n  hooks %s: %s", t, strings.Join(s.called[HookType(t)], ", "))
	}
	if s.queried {
		b.WriteString("\n  metrics queried")
	}
	for _, c := range st.Checks {
		if c.Time.Equal(s.now) && (c.Relative != nil || c.Judged != nil || c.DryRun) {
			fmt.Fprintf(&b, "\n  check %s", describeCheck(c))
		}
	}
	for _, e := range d.Events {
		kind := map[Severity]string{SeverityInfo: "info", SeverityWarn: "warn", SeverityError: "error"}[e.Severity]
		if e.LogOnly {
			kind = "log"
		}
		fmt.Fprintf(&b, "\n  %s: %s", kind, e.Message)
	}
	for _, a := range d.Alerts {
		fmt.Fprintf(&b, "\n  alert %s: %s", a.Severity, a.Message)
	}
	switch {
	case st.Reason != "":
		fmt.Fprintf(&b, "\n  reason: %s: %s", st.Reason, st.Message)
	case st.Message != "":
		fmt.Fprintf(&b, "\n  message: %s", st.Message)
	}
	if st.PendingGate != "" && !st.WaitingSince.IsZero() {
		fmt.Fprintf(&b, "\n  gate: %s, waiting since t=%s", st.PendingGate, st.WaitingSince.Sub(epoch))
	}
	for _, line := range historyChanges(s.prev.History, st.History) {
		b.WriteString("\n  history: " + line)
	}
	if st.Paused {
		b.WriteString("\n  paused")
	}
	if r := st.LastRequest; r != nil && r.Time.Equal(s.now) {
		fmt.Fprintf(&b, "\n  request %s/%s accepted=%t: %s", r.Op, r.ID, r.Accepted, r.Message)
	}
	fmt.Fprintf(&b, "\n  requeue %s", d.Requeue)
	return b.String()
}

// describeCheck renders a relative, judged or dry-run check.
func describeCheck(c Check) string {
	out := fmt.Sprintf("%s %s", c.Metric, c.Verdict)
	if c.Failed {
		out += " failed"
	}
	if c.DryRun {
		out += " dry-run"
	}
	if c.Value != nil {
		out += " value=" + formatNumber(*c.Value)
	}
	if j := c.Judged; j != nil && j.Class != "" {
		out += fmt.Sprintf(" class=%s p=%.3g n=%d/%d", j.Class, j.PValue, j.CanaryN, j.BaselineN)
	}
	return out + ": " + c.Message
}

func phaseName(p Phase) string {
	if p == "" {
		return `""`
	}
	return string(p)
}

// metricSpec finds a metric of the canary by name, adding it when missing.
func metricSpec(c *Canary, name string) *MetricSpec {
	for i := range c.Metrics {
		if c.Metrics[i].Name == name {
			return &c.Metrics[i]
		}
	}
	c.Metrics = append(c.Metrics, MetricSpec{Name: name, HasTemplateRef: true, Provider: c.Provider})
	return &c.Metrics[len(c.Metrics)-1]
}

// parseSpec builds a spec from "key=value" arguments of a script.
func parseSpec(args []string) (Spec, error) {
	c := Canary{Name: "podinfo", Namespace: "test", TargetKind: "Deployment", TargetName: "podinfo",
		Provider: "istio", Interval: "1m", Threshold: 5}
	lim := Limits{MinInterval: time.Second}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "provider":
			c.Provider = v
		case "interval":
			c.Interval = v
		case "threshold":
			c.Threshold = n
		case "maxWeight":
			c.MaxWeight = n
		case "stepWeight":
			c.StepWeight = n
		case "stepWeights":
			for _, f := range strings.Split(v, ",") {
				w, _ := strconv.Atoi(f)
				c.StepWeights = append(c.StepWeights, w)
			}
		case "stepWeightPromotion":
			c.StepWeightPromotion = n
		case "iterations":
			c.Iterations = n
		case "match":
			c.Match = v == "true"
		case "mirror":
			c.Mirror = v == "true"
		case "skipAnalysis":
			c.SkipAnalysis = v == "true"
		case "suspend":
			c.Suspend = v == "true"
		case "historyLimit":
			lim.HistoryLimit = n
		case "hooks": // type:name[:gateTimeout|:load],type:name
			for _, h := range strings.Split(v, ",") {
				f := strings.SplitN(h, ":", 3)
				w := Webhook{Type: f[0], Name: f[1]}
				switch {
				case len(f) == 3 && f[2] == "load":
					w.LoadTest = true
				case len(f) == 3:
					w.GateTimeout = f[2]
				}
				c.Webhooks = append(c.Webhooks, w)
			}
		case "metrics": // name:min:max,... (empty bound = none)
			for _, m := range strings.Split(v, ",") {
				f := strings.Split(m, ":")
				ms := MetricSpec{Name: f[0], HasTemplateRef: true, Provider: c.Provider}
				if len(f) > 1 && f[1] != "" {
					x, _ := strconv.ParseFloat(f[1], 64)
					ms.Min = &x
				}
				if len(f) > 2 && f[2] != "" {
					x, _ := strconv.ParseFloat(f[2], 64)
					ms.Max = &x
				}
				if len(f) > 3 {
					ms.NoDataPolicy = f[3]
				}
				c.Metrics = append(c.Metrics, ms)
			}
		case "baseline":
			c.Baseline = v == "true"
		case "judge": // judge=PASS:MARGINAL
			p, m, _ := strings.Cut(v, ":")
			pass, _ := strconv.Atoi(p)
			marginal, _ := strconv.Atoi(m)
			c.Judge = &JudgeSpec{PassScore: &pass, MarginalScore: &marginal}
		case "compare": // compare=NAME:Against[:As],...
			for _, e := range strings.Split(v, ",") {
				f := strings.Split(e, ":")
				cs := &CompareSpec{Against: f[1]}
				if len(f) > 2 {
					cs.As = f[2]
				}
				metricSpec(&c, f[0]).Compare = cs
			}
		case "judged": // judged=NAME[:direction[:interval[:critical]]],...: judged metrics, added if missing
			for _, e := range strings.Split(v, ",") {
				f := strings.Split(e, ":")
				ms := metricSpec(&c, f[0])
				ms.Judge = &JudgeMetricSpec{}
				if len(f) > 1 {
					ms.Judge.Direction = f[1]
				}
				if len(f) > 2 {
					ms.Interval = f[2]
				}
				ms.Judge.Critical = len(f) > 3 && f[3] == "critical"
			}
		case "dryRun": // dryRun=NAME,...
			for _, n := range strings.Split(v, ",") {
				metricSpec(&c, n).DryRun = true
			}
		default:
			return Spec{}, fmt.Errorf("unknown canary setting %q", k)
		}
	}
	return Validate(c, lim)
}

// historyChanges describes how the release history changed in a tick.
func historyChanges(before, after []Release) []string {
	var out []string
	old := map[int]Release{}
	for _, r := range before {
		old[r.ID] = r
	}
	kept := map[int]bool{}
	for _, r := range after {
		kept[r.ID] = true
		prev, seen := old[r.ID]
		switch {
		case !seen:
			out = append(out, fmt.Sprintf("#%d opened for %s %v", r.ID, r.Revision, r.Images))
		case prev.End.IsZero() && !r.End.IsZero():
			out = append(out, "#"+describeRelease(r))
		}
	}
	for _, r := range before {
		if !kept[r.ID] {
			out = append(out, fmt.Sprintf("#%d dropped (history limit)", r.ID))
		}
	}
	return out
}

// describeRelease renders a history entry on one line.
func describeRelease(r Release) string {
	line := fmt.Sprintf("%d %s %v", r.ID, r.Revision, r.Images)
	if r.End.IsZero() {
		line += fmt.Sprintf(" running since t=%s", r.Start.Sub(epoch))
	} else {
		line += fmt.Sprintf(" %s t=%s..%s %s", r.Outcome, r.Start.Sub(epoch), r.End.Sub(epoch), r.Reason)
	}
	line += fmt.Sprintf(" highest weight %d, failed checks %d", r.HighestWeight, r.FailedChecks)
	for _, q := range r.Requests {
		line += fmt.Sprintf(", %s/%s by %q at t=%s", q.Op, q.ID, q.By, q.Time.Sub(epoch))
	}
	if r.Message != "" {
		line += ": " + r.Message
	}
	return line
}
