package canarycli

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sort"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ListItem is one canary in `list`.
type ListItem struct {
	Namespace          string    `json:"namespace"`
	Name               string    `json:"name"`
	Phase              string    `json:"phase"`
	Paused             bool      `json:"paused,omitempty"`
	Weight             int       `json:"weight"`
	FailedChecks       int       `json:"failedChecks"`
	Threshold          int       `json:"threshold"`
	Target             string    `json:"target"`
	LastTransitionTime time.Time `json:"lastTransitionTime,omitzero"`
	Reason             string    `json:"reason,omitempty"`
	Message            string    `json:"message,omitempty"`
	Shard              string    `json:"shard,omitempty"` // sharding.warbler.dev/key: the controller shard that handles it
}

func (a *App) listCmd() *command {
	var all, watch bool
	return &command{
		name: "list", args: "[-A] [--watch] [-o json|yaml]", minArgs: 0, maxArgs: 0, output: true,
		summary: "list canaries with their phase, weight, failed checks and why they halted or how their last release ended",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&all, "all-namespaces", false, "list the canaries of every namespace")
			alias(fs, "A", "all-namespaces")
			fs.BoolVar(&watch, "watch", false, "redraw until interrupted")
			alias(fs, "w", "watch")
		},
		run: func(ctx context.Context, _ []string) error {
			cl, err := a.connect()
			if err != nil {
				return err
			}
			if err := a.checkNamespace(ctx, cl, all); err != nil {
				return err
			}
			show := func() (any, error) {
				items, err := a.list(ctx, cl, all)
				if err != nil {
					return nil, err
				}
				return items, nil
			}
			render := func(v any) { a.renderList(v.([]ListItem), all) }
			if watch {
				return a.redraw(ctx, show, render)
			}
			items, err := show()
			if err != nil {
				return err
			}
			if a.g.output != "" {
				return a.print(items)
			}
			render(items)
			return nil
		},
	}
}

func (a *App) list(ctx context.Context, cl *cluster, all bool) ([]ListItem, error) {
	var l flaggerv1.CanaryList
	var opts []client.ListOption
	if !all {
		opts = append(opts, client.InNamespace(cl.namespace))
	}
	if err := cl.client.List(ctx, &l, opts...); err != nil {
		return nil, explainAPIError(fmt.Errorf("listing canaries: %w", err), cl.config.Host)
	}
	items := []ListItem{}
	for i := range l.Items {
		c := &l.Items[i]
		threshold := 0
		if c.Spec.Analysis != nil {
			threshold = max(c.Spec.Analysis.Threshold, 1)
		}
		items = append(items, ListItem{Namespace: c.Namespace, Name: c.Name, Phase: phaseName(c.Status.Phase), Paused: c.Status.Paused,
			Weight: c.Status.CanaryWeight, FailedChecks: c.Status.FailedChecks, Threshold: threshold,
			Target: c.Spec.TargetRef.Kind + "/" + c.Spec.TargetRef.Name, LastTransitionTime: c.Status.LastTransitionTime.Time,
			Reason: string(c.Status.Reason), Message: c.Status.Message, Shard: c.Shard()})
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].Namespace != items[j].Namespace {
			return items[i].Namespace < items[j].Namespace
		}
		return items[i].Name < items[j].Name
	})
	return items, nil
}

func (a *App) renderList(items []ListItem, all bool) {
	if len(items) == 0 {
		where := "in namespace " + a.cluster.namespace
		if all {
			where = "in any namespace"
		}
		fmt.Fprintf(a.Stdout, "No canaries found %s.\n", where)
		return
	}
	st, now := a.style(), a.Now()
	t := &table{}
	head := []string{"NAME", "STATUS", "WEIGHT", "FAILED", "TARGET", "LAST TRANSITION", "MESSAGE"}
	if all {
		head = append([]string{"NAMESPACE"}, head...)
	}
	sharded := slices.ContainsFunc(items, func(it ListItem) bool { return it.Shard != "" })
	if sharded {
		head = append(head, "SHARD")
	}
	t.addText(head...)
	for _, it := range items {
		c := &flaggerv1.Canary{Status: flaggerv1.CanaryStatus{Phase: flaggerv1.CanaryPhase(it.Phase), Paused: it.Paused}}
		row := []cell{{text: it.Name}, st.status(phaseHealth(c), it.Phase), {text: fmt.Sprint(it.Weight)},
			{text: fmt.Sprintf("%d/%d", it.FailedChecks, it.Threshold)}, {text: it.Target}, {text: age(now, it.LastTransitionTime)},
			{text: truncate(oneLine(reasonText(it.Reason, it.Message)), 120)}}
		if all {
			row = append([]cell{{text: it.Namespace}}, row...)
		}
		if sharded {
			row = append(row, cell{text: shardName(it.Shard)})
		}
		t.add(row...)
	}
	t.write(a.Stdout)
}

// shardName shows the shard of unlabelled canaries as "-".
func shardName(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// reasonText is "Reason: message", or whichever of the two is set.
func reasonText(reason, msg string) string {
	switch {
	case reason == "":
		return msg
	case msg == "":
		return reason
	}
	return reason + ": " + msg
}
