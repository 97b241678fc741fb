package canarycli

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// Summary is what `get` shows about a canary, and what -o json|yaml
// prints.
type Summary struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Shard     string `json:"shard,omitempty"` // sharding.warbler.dev/key: the controller shard that handles it
	Phase     string `json:"phase"`
	// Reason and Message say why the release halted on its last step, or
	// how the last release ended (status.reason and status.message).
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
	Paused    bool   `json:"paused,omitempty"`
	Suspended bool   `json:"suspended,omitempty"`
	// Strategy is canary, blue-green or ab-testing; Provider the traffic
	// provider the canary uses.
	Strategy string `json:"strategy"`
	Provider string `json:"provider"`
	// Step of Steps: the rung of the weight schedule, or the iteration.
	Step  int `json:"step"`
	Steps int `json:"steps"`
	// SetWeight is status.canaryWeight; ActualWeight what the route object
	// (or EndpointSlice) carries, when it could be read.
	SetWeight    int    `json:"setWeight"`
	ActualWeight *int   `json:"actualWeight,omitempty"`
	RouteError   string `json:"routeError,omitempty"`
	FailedChecks int    `json:"failedChecks"`
	Threshold    int    `json:"threshold"`
	// StableImages run in the primary, CanaryImages in the target.
	StableImages []string   `json:"stableImages"`
	CanaryImages []string   `json:"canaryImages"`
	Replicas     []Replicas `json:"replicas"`
	// WaitingSince is when the canary began to wait for its gates, and
	// GateTimeout the shortest gateTimeout of the gates it waits for.
	WaitingSince *time.Time       `json:"waitingSince,omitempty"`
	GateTimeout  *metav1.Duration `json:"gateTimeout,omitempty"`
	// Gate is the webhook that holds the release, and how to open it.
	Gate *GateHold `json:"gate,omitempty"`
	// Release is the latest entry of the release history.
	Release *flaggerv1.CanaryRelease `json:"release,omitempty"`
	// LastRequest is the last imperative request the controller handled.
	LastRequest *flaggerv1.RequestRecord `json:"lastRequest,omitempty"`
	// Checks holds the latest result of each metric check.
	Checks []flaggerv1.CheckResult `json:"checks,omitempty"`
	Tree   Node                    `json:"tree"`
}

// Replicas counts the pods of a workload.
type Replicas struct {
	Role      string `json:"role"`
	Name      string `json:"name"`
	Desired   int32  `json:"desired"`
	Current   int32  `json:"current"`
	Updated   int32  `json:"updated"`
	Ready     int32  `json:"ready"`
	Available int32  `json:"available"`
}

// Health classifies a status for its icon and colour.
type Health string

// The healths.
const (
	Healthy     Health = "ok"
	Bad         Health = "bad"
	Progressing Health = "progressing"
	Waiting     Health = "waiting"
	Paused      Health = "paused"
	Neutral     Health = "neutral"
	Warning     Health = "warning"
)

// Node is an object in the tree under a canary.
type Node struct {
	Kind     string    `json:"kind"`
	Name     string    `json:"name"`
	Status   string    `json:"status"`
	Health   Health    `json:"health"`
	Info     string    `json:"info,omitempty"`
	Created  time.Time `json:"created,omitzero"`
	Children []Node    `json:"children,omitempty"`
}

// summarize gathers a canary's summary: its status, workloads, route and
// checks.
func (a *App) summarize(ctx context.Context, cl *cluster, c *flaggerv1.Canary, meshProvider string) (*Summary, error) {
	s := &Summary{Name: c.Name, Namespace: c.Namespace, Shard: c.Shard(), Phase: phaseName(c.Status.Phase), Reason: string(c.Status.Reason), Message: c.Status.Message,
		Paused: c.Status.Paused, Suspended: c.Spec.Suspend, Provider: providerOf(c, meshProvider),
		SetWeight: c.Status.CanaryWeight, FailedChecks: c.Status.FailedChecks, LastRequest: c.Status.LastRequest}
	spec, err := analysisSpec(c, s.Provider, time.Second)
	if err != nil {
		s.Message = strings.TrimSpace("invalid canary: " + err.Error() + ". " + s.Message)
	}
	s.Strategy, s.Threshold = string(spec.Strategy), spec.Threshold
	s.Step, s.Steps = progress(spec, c.Status)
	if w := c.Status.WaitingSince; w != nil {
		s.WaitingSince = &w.Time
		if d := shortestGateTimeout(spec, c.Status.Phase); d > 0 {
			s.GateTimeout = &metav1.Duration{Duration: d}
		}
	}
	s.Gate = gateHold(c, spec)
	if s.Gate != nil && s.Gate.GateTimeout != nil {
		s.GateTimeout = s.Gate.GateTimeout
	}
	s.Release = c.Status.LatestRelease()
	root := Node{Kind: "Canary", Name: c.Name, Status: s.Phase, Health: phaseHealth(c), Created: c.CreationTimestamp.Time,
		Info: c.Spec.TargetRef.Kind + "/" + c.Spec.TargetRef.Name}
	wl, err := a.workloads(ctx, cl, c, s)
	if err != nil {
		return nil, err
	}
	root.Children = append(root.Children, wl...)
	if n, ok := a.route(ctx, cl, c, s); ok {
		root.Children = append(root.Children, n)
	}
	s.Checks = c.LatestChecks()
	if len(s.Checks) > 0 {
		root.Children = append(root.Children, checksNode(s.Checks))
	}
	s.Tree = root
	return s, nil
}

// shortestGateTimeout is the shortest gateTimeout of the gates a waiting phase
// waits for; 0 when none has one.
func shortestGateTimeout(spec analysis.Spec, phase flaggerv1.CanaryPhase) time.Duration {
	gate := analysis.HookConfirmRollout
	if phase == flaggerv1.CanaryPhaseWaitingPromotion {
		gate = analysis.HookConfirmPromotion
	}
	var least time.Duration
	for _, h := range spec.Hooks {
		if h.Type == gate && h.GateTimeout > 0 && (least == 0 || h.GateTimeout < least) {
			least = h.GateTimeout
		}
	}
	return least
}

func phaseName(p flaggerv1.CanaryPhase) string {
	if p == "" {
		return string(flaggerv1.CanaryPhaseInitializing)
	}
	return string(p)
}

// progress is the step of the weight schedule the canary is on, or its
// iteration for blue/green and A/B.
func progress(spec analysis.Spec, st flaggerv1.CanaryStatus) (step, steps int) {
	if spec.Strategy != analysis.StrategyCanary {
		return min(st.Iterations, spec.Iterations), spec.Iterations
	}
	sched := analysis.Schedule(spec)
	for i, w := range sched {
		if w <= st.CanaryWeight {
			step = i + 1
		}
	}
	return step, len(sched)
}

func phaseHealth(c *flaggerv1.Canary) Health {
	if c.Status.Paused {
		return Paused
	}
	switch c.Status.Phase {
	case flaggerv1.CanaryPhaseSucceeded, flaggerv1.CanaryPhaseInitialized:
		return Healthy
	case flaggerv1.CanaryPhaseFailed:
		return Bad
	case flaggerv1.CanaryPhaseWaiting, flaggerv1.CanaryPhaseWaitingPromotion:
		return Waiting
	case flaggerv1.CanaryPhaseTerminating, flaggerv1.CanaryPhaseTerminated:
		return Neutral
	}
	return Progressing
}

// route reads the traffic object of the provider and the split it carries.
func (a *App) route(ctx context.Context, cl *cluster, c *flaggerv1.Canary, s *Summary) (Node, bool) {
	if r, err := routers.New(s.Provider, routers.Deps{Client: cl.client, Scheme: cl.client.Scheme()}); err != nil {
		s.RouteError = err.Error()
	} else if p, w, mirrored, err := r.GetRoutes(ctx, c); err != nil {
		s.RouteError = err.Error()
	} else {
		s.ActualWeight = &w
		if mirrored {
			s.RouteError = fmt.Sprintf("primary %d, canary %d, mirrored", p, w)
		}
	}
	ref, ok := routeObject(s.Provider, c)
	if !ok {
		return Node{}, false
	}
	n := Node{Kind: ref.kind, Name: ref.name, Status: "Missing", Health: Warning}
	if created, err := a.objectCreated(ctx, cl, c.Namespace, ref); err == nil {
		n.Status, n.Health, n.Created = "Found", Healthy, created
	} else {
		n.Info = oneLine(err.Error())
	}
	switch {
	case s.ActualWeight != nil:
		n.Info = fmt.Sprintf("primary %d%%, canary %d%%", 100-*s.ActualWeight, *s.ActualWeight)
	case s.RouteError != "" && n.Health == Healthy:
		n.Health, n.Info = Warning, oneLine(s.RouteError)
	}
	return n, true
}

func checksNode(checks []flaggerv1.CheckResult) Node {
	n := Node{Kind: "Checks", Name: "checks", Status: "Passing", Health: Healthy}
	for _, ch := range checks {
		h := verdictHealth(ch.Verdict)
		if h == Bad && ch.DryRun {
			// a dry run never fails the release
			h = Warning
		}
		if h == Bad {
			n.Status, n.Health = "Failing", Bad
		}
		n.Children = append(n.Children, Node{Kind: "Check", Name: ch.Metric, Status: string(ch.Verdict), Health: h,
			Info: checkValue(ch), Created: ch.Time.Time})
	}
	return n
}

func verdictHealth(v flaggerv1.CheckVerdict) Health {
	switch v {
	case flaggerv1.VerdictPass:
		return Healthy
	case flaggerv1.VerdictFail, flaggerv1.VerdictError:
		return Bad
	case flaggerv1.VerdictNoData:
		return Warning
	}
	return Neutral
}

// GateHold is a webhook gate that holds a release.
type GateHold struct {
	Name string `json:"name"`
	Type string `json:"type"`
	URL  string `json:"url"`
	// WaitingSince is when the canary began to wait for it.
	WaitingSince *time.Time `json:"waitingSince,omitempty"`
	// GateTimeout of the webhook, after which the release is rolled back.
	GateTimeout *metav1.Duration `json:"gateTimeout,omitempty"`
	// Command opens the gate; empty when no kubectl canary command can.
	Command string `json:"command,omitempty"`
	// Note says what else can release the canary when Command is empty.
	Note string `json:"note,omitempty"`
}

// gateHold describes the gate in status.pendingGate, if it is one of the
// spec's webhooks.
func gateHold(c *flaggerv1.Canary, spec analysis.Spec) *GateHold {
	name := c.Status.PendingGate
	if name == "" || c.Spec.Analysis == nil {
		return nil
	}
	for _, h := range c.Spec.Analysis.Webhooks {
		if h.Name != name {
			continue
		}
		g := &GateHold{Name: h.Name, Type: hookType(h), URL: h.URL}
		if w := c.Status.WaitingSince; w != nil {
			g.WaitingSince = &w.Time
		}
		for _, sh := range spec.Hooks {
			if sh.Name == name && sh.GateTimeout > 0 {
				g.GateTimeout = &metav1.Duration{Duration: sh.GateTimeout}
			}
		}
		g.Command, g.Note = gateCommand(c, h)
		return g
	}
	return nil
}

// gateCommand is the command that opens a gate: approve for a loadtester
// gate (a URL ending in /gate/check), promote for another confirm-rollout
// or confirm-promotion webhook, whose waiting phase a promote request
// ends.
func gateCommand(c *flaggerv1.Canary, h flaggerv1.CanaryWebhook) (string, string) {
	base := fmt.Sprintf(" %s -n %s", c.Name, c.Namespace)
	if calls, err := gateCalls(c, true, ""); err == nil {
		for _, call := range calls {
			if call.hook.Name != h.Name {
				continue
			}
			if len(calls) > 1 {
				base += " --hook " + h.Name
			}
			return "kubectl canary approve" + base, ""
		}
	}
	switch h.Type {
	case flaggerv1.ConfirmRolloutHook, flaggerv1.ConfirmPromotionHook:
		return "kubectl canary promote" + base, ""
	}
	return "", fmt.Sprintf("no kubectl canary command opens %s: it opens when %s answers 2xx; 'kubectl canary promote%s --skip-analysis' promotes at once", h.Name, h.URL, base)
}
