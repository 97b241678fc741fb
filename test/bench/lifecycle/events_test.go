package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// schedule is what `kubectl canary simulate` says a release of the
// benchmark's Canary takes when nothing is late and pods are Ready by the
// next tick, and the events it emits: the yardstick of the release time and
// of lost events.
type schedule struct {
	duration time.Duration
	ticks    int
	// events of canary "app-0000" in namespace ns, which the others'
	// replace by their name and namespace
	events []string
	ns     string
	// phases are those a release goes through, in order
	phases []flaggerv1.CanaryPhase
}

func simulate(b *testing.B, c *flaggerv1.Canary) schedule {
	bin := filepath.Join(env.Binaries(b, "./cmd/kubectl-canary", "./cmd/warbler"), "kubectl-canary")
	doc := c.DeepCopy()
	doc.APIVersion, doc.Kind = flaggerv1.GroupVersion.String(), "Canary"
	data, err := yaml.Marshal(doc)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "canary.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(bin, "simulate", "-f", path, "--mesh-provider", "kubernetes", "-o", "json").Output()
	if err != nil {
		b.Fatalf("kubectl canary simulate: %v", err)
	}
	var sims []struct {
		Promotion struct {
			Outcome  string
			Duration string
			Ticks    []struct {
				Phase  string
				Events []string
			}
		}
	}
	if err := json.Unmarshal(out, &sims); err != nil || len(sims) != 1 || sims[0].Promotion.Outcome != "Succeeded" {
		b.Fatalf("kubectl canary simulate printed %s (%v)", out, err)
	}
	p := sims[0].Promotion
	s := schedule{ticks: len(p.Ticks), ns: c.Namespace}
	if s.duration, err = time.ParseDuration(p.Duration); err != nil {
		b.Fatal(err)
	}
	for _, t := range p.Ticks {
		s.events = append(s.events, t.Events...)
		if ph := flaggerv1.CanaryPhase(t.Phase); len(s.phases) == 0 || s.phases[len(s.phases)-1] != ph {
			s.phases = append(s.phases, ph)
		}
	}
	return s
}

// expected lists the events each canary should have: Flagger's
// "Initialization done!", then the release's.
func (s schedule) expected(name, ns string) []string {
	out := []string{fmt.Sprintf("Initialization done! %s.%s", name, ns)}
	for _, e := range s.events {
		out = append(out, strings.NewReplacer("app-0000", name, "."+s.ns, "."+ns).Replace(e))
	}
	return out
}

// eventTally compares the Events recorded on the Canaries with the expected
// ones. The events library folds a repeated message into one Event with a
// series count, so written counts the series too.
type eventTally struct {
	written, expected, lost int
	missing                 []string // a few lost ones, for the report
}

func tallyEvents(ctx context.Context, namespaces []string, want map[string][]string) (eventTally, error) {
	have := map[string]map[string]bool{}
	var t eventTally
	for _, ns := range namespaces {
		if err := t.read(ctx, ns, have); err != nil {
			return t, err
		}
	}
	for name, msgs := range want {
		for _, m := range msgs {
			t.expected++
			if !have[name][m] {
				t.lost++
				if len(t.missing) < 3 {
					t.missing = append(t.missing, name+": "+m)
				}
			}
		}
	}
	return t, nil
}

// read adds the Events on Canaries in ns to have (canary → messages).
func (t *eventTally) read(ctx context.Context, ns string, have map[string]map[string]bool) error {
	opts := []client.ListOption{client.InNamespace(ns), client.Limit(500)}
	for cont := ""; ; {
		var list eventsv1.EventList
		if err := env.Client.List(ctx, &list, append(opts, client.Continue(cont))...); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Kind != "Canary" {
				continue
			}
			n := 1
			if e.Series != nil {
				n = int(e.Series.Count)
			}
			t.written += n
			if have[e.Regarding.Name] == nil {
				have[e.Regarding.Name] = map[string]bool{}
			}
			have[e.Regarding.Name][e.Note] = true
		}
		if cont = list.Continue; cont == "" {
			return nil
		}
	}
}
