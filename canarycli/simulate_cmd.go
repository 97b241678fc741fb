package canarycli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli/manifests"
)

// Simulation is what `simulate` prints for one Canary.
type Simulation struct {
	Name       string   `json:"name"`
	Namespace  string   `json:"namespace,omitempty"`
	Provider   string   `json:"provider"`
	Strategy   string   `json:"strategy"`
	Interval   Duration `json:"interval"`
	Threshold  int      `json:"threshold"`
	Iterations int      `json:"iterations,omitempty"`
	Schedule   []int    `json:"schedule,omitempty"`
	// Baseline: a baseline runs beside the canary with its weight.
	Baseline  bool     `json:"baseline,omitempty"`
	Notes     []string `json:"notes,omitempty"`
	Promotion SimRun   `json:"promotion"`
	Rollback  SimRun   `json:"rollback"`
}

func (a *App) simulateCmd() *command {
	var fs files
	var mesh string
	var minInterval time.Duration
	return &command{
		name: "simulate", args: "-f FILE [--mesh-provider P] [--min-interval 10s] [-o json|yaml]", minArgs: 0, maxArgs: 0, output: true, offline: true,
		summary: "print a Canary's weight schedule and the shortest times to promote and to roll back",
		flags: func(set *flag.FlagSet) {
			fs.register(set)
			meshFlag(set, &mesh)
			set.DurationVar(&minInterval, "min-interval", 10*time.Second, "the controller's -min-analysis-interval (shorter intervals are raised to it)")
		},
		run: func(_ context.Context, _ []string) error {
			if len(fs) == 0 {
				return usagef("simulate needs -f FILE")
			}
			return a.simulateFiles(fs, a.offlineProvider(mesh), minInterval)
		},
	}
}

func (a *App) simulateFiles(paths []string, mesh string, minInterval time.Duration) error {
	var sims []Simulation
	for _, path := range paths {
		docs, err := a.readManifest(path)
		if err != nil {
			return err
		}
		for _, d := range docs {
			if d.Kind != "Canary" || !strings.HasPrefix(d.APIVersion, flaggerv1.GroupVersion.Group+"/") {
				continue
			}
			sim, err := simulateDoc(d, mesh, minInterval)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, d.Ref(), err)
			}
			sims = append(sims, sim)
		}
	}
	if len(sims) == 0 {
		return fmt.Errorf("%s: no Canary found", strings.Join(paths, ", "))
	}
	if a.g.output != "" {
		return a.print(sims)
	}
	for i, s := range sims {
		if i > 0 {
			fmt.Fprintln(a.Stdout)
		}
		renderSimulation(a, s)
	}
	return nil
}

func simulateDoc(d *manifests.Document, mesh string, minInterval time.Duration) (Simulation, error) {
	var c flaggerv1.Canary
	if err := json.Unmarshal(d.JSON, &c); err != nil {
		return Simulation{}, fmt.Errorf("cannot be read as a Canary: %v (run 'kubectl canary lint')", err)
	}
	if c.Namespace == "" {
		c.Namespace = "default"
	}
	provider := providerOf(&c, mesh)
	spec, err := analysisSpec(&c, provider, minInterval)
	var se *analysis.SpecError
	if errors.As(err, &se) {
		return Simulation{}, fmt.Errorf("%s: %s", se.Field, se.Msg)
	} else if err != nil {
		return Simulation{}, err
	}
	sim := Simulation{Name: c.Name, Namespace: c.Namespace, Provider: provider, Strategy: string(spec.Strategy),
		Interval: Duration(spec.Interval), Threshold: spec.Threshold, Notes: spec.Notes, Promotion: simulate(spec, false), Baseline: spec.Baseline}
	if spec.Strategy == analysis.StrategyCanary {
		sim.Schedule = analysis.Schedule(spec)
	} else {
		sim.Iterations = spec.Iterations
	}
	switch {
	case spec.SkipAnalysis:
		sim.Rollback.Note = "skipAnalysis is set: no check runs, so no check can roll it back"
	case !canFail(spec):
		sim.Rollback.Note = "no metric (but dry runs), pre-rollout or rollout webhook can fail a check: only a rollback webhook, the progress deadline or 'kubectl canary abort' roll it back"
	default:
		sim.Rollback = simulate(spec, true)
	}
	return sim, nil
}

func renderSimulation(a *App, s Simulation) {
	w := a.Stdout
	fmt.Fprintf(w, "Canary %s: %s strategy, provider %s, interval %v, threshold %d\n", qualified(s.Name, s.Namespace),
		s.Strategy, s.Provider, time.Duration(s.Interval), s.Threshold)
	for _, n := range s.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	if len(s.Schedule) > 0 {
		fmt.Fprintf(w, "Weight schedule: %s (%d steps), then promotion\n", joinInts(s.Schedule), len(s.Schedule))
		if s.Baseline {
			fmt.Fprintf(w, "Baseline: %s-baseline gets the canary's weight, taken from the primary's share\n", s.Name)
		}
	} else {
		fmt.Fprintf(w, "Iterations: %d, then promotion\n", s.Iterations)
	}
	fmt.Fprintln(w)
	renderRun(a, "Promotion, every check passing", "promote", s.Promotion, s.Baseline)
	fmt.Fprintln(w)
	renderRun(a, "Rollback, every check failing", "roll back", s.Rollback, s.Baseline)
}

func renderRun(a *App, title, verb string, r SimRun, baseline bool) {
	w := a.Stdout
	fmt.Fprintf(w, "%s:\n", title)
	if r.Note != "" {
		fmt.Fprintf(w, "  %s\n", r.Note)
		return
	}
	t := &table{}
	if baseline {
		t.addText("  TICK", "AT", "PHASE", "WEIGHT", "BASELINE", "FAILED", "EVENTS")
	} else {
		t.addText("  TICK", "AT", "PHASE", "WEIGHT", "FAILED", "EVENTS")
	}
	for _, tk := range r.Ticks {
		row := []string{fmt.Sprintf("  %d", tk.Tick), time.Duration(tk.At).String(), tk.Phase, fmt.Sprint(tk.Weight)}
		if baseline {
			row = append(row, fmt.Sprint(tk.Baseline))
		}
		t.addText(append(row, fmt.Sprint(tk.FailedChecks), strings.Join(tk.Events, "; "))...)
	}
	t.write(w)
	if r.Outcome == "" {
		fmt.Fprintf(w, "  No outcome after %d ticks (is the canary suspended?)\n", len(r.Ticks))
		return
	}
	fmt.Fprintf(w, "Minimum time to %s: %v (%d ticks from the one that sees the new revision)\n", verb, time.Duration(r.Duration), len(r.Ticks))
}

func qualified(name, ns string) string {
	if ns == "" {
		return name
	}
	return name + "." + ns
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, " → ")
}
