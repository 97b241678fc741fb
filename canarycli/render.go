package canarycli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// style decides how text is decorated: colours only on a terminal, and
// never with NO_COLOR or --no-color.
type style struct{ color bool }

func (a *App) style() style {
	if a.g.noColor || a.Getenv("NO_COLOR") != "" {
		return style{}
	}
	f, ok := a.Stdout.(*os.File)
	if !ok {
		return style{}
	}
	fi, err := f.Stat()
	return style{color: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

// isTerminal reports whether Stdout is a terminal, where --watch redraws in
// place.
func (a *App) isTerminal() bool {
	f, ok := a.Stdout.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

var healthIcons = map[Health]string{Healthy: "✔", Bad: "✖", Progressing: "◌", Waiting: "◷", Paused: "॥", Neutral: "•", Warning: "⚠"}

var healthColors = map[Health]string{Healthy: "32", Bad: "31", Progressing: "33", Waiting: "36", Paused: "36", Warning: "33"}

var kindIcons = map[string]string{"Canary": "◆", "Deployment": "▣", "DaemonSet": "▣", "ReplicaSet": "⧉", "Pod": "□",
	"Checks": "Σ", "Check": "∿", "HTTPRoute": "⑃", "EndpointSlice": "⑃", "TrafficSplit": "⑃", "VirtualService": "⑃",
	"Ingress": "⑃", "Mapping": "⑃", "Service": "⑃", "Revision": "⧉"}

// status prints a health with its icon, coloured when allowed.
func (s style) status(h Health, text string) cell {
	return cell{text: healthIcons[h] + " " + text, color: s.pick(healthColors[h])}
}

func (s style) pick(code string) string {
	if !s.color {
		return ""
	}
	return code
}

// cell is a table cell and its ANSI colour code ("" for none).
type cell struct{ text, color string }

// table aligns cells in columns by their width in runes; colours are added
// after padding so they do not count.
type table struct{ rows [][]cell }

func (t *table) add(cells ...cell) { t.rows = append(t.rows, cells) }

func (t *table) addText(texts ...string) {
	cells := make([]cell, len(texts))
	for i, s := range texts {
		cells[i] = cell{text: s}
	}
	t.add(cells...)
}

func (t *table) write(w io.Writer) {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c.text))
		}
	}
	for _, r := range t.rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(colored(c))
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.text)+2))
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// renderSummary prints the header and the tree.
func renderSummary(w io.Writer, s *Summary, st style, now time.Time) {
	renderHeader(w, s, st, now)
	fmt.Fprintln(w)
	t := &table{}
	t.addText("NAME", "KIND", "STATUS", "AGE", "INFO")
	addTree(t, s.Tree, "", "", st, now)
	t.write(w)
}

func renderHeader(w io.Writer, s *Summary, st style, now time.Time) {
	line := func(label, value string) {
		if label != "" {
			label += ":"
		}
		fmt.Fprintf(w, "%-15s %s\n", label, value)
	}
	line("Name", s.Name)
	line("Namespace", s.Namespace)
	if s.Shard != "" {
		line("Shard", s.Shard)
	}
	status := st.status(phaseHealthOf(s), s.Phase)
	if s.Paused {
		status.text += " (paused)"
	}
	if s.Suspended {
		status.text += " (suspended)"
	}
	line("Status", colored(status))
	if s.Reason != "" {
		line("Reason", s.Reason)
	}
	if s.Message != "" {
		line("Message", s.Message)
	}
	if r := s.Release; r != nil {
		line("Release", releaseLine(r, now))
	}
	if g := s.Gate; g != nil {
		line("Gate", fmt.Sprintf("%s (%s) %s", g.Name, g.Type, g.URL))
	}
	if s.WaitingSince != nil {
		waiting := "for " + age(now, *s.WaitingSince)
		if g := s.GateTimeout; g != nil {
			left := s.WaitingSince.Add(g.Duration).Sub(now)
			waiting += fmt.Sprintf(" (gateTimeout %s: rolled back in %s)", g.Duration, duration.HumanDuration(max(left, 0)))
		}
		line("Waiting", waiting)
	}
	if g := s.Gate; g != nil && g.Command != "" {
		line("Open it with", g.Command)
	} else if g != nil {
		line("Note", g.Note)
	}
	line("Strategy", strategyName(s.Strategy)+" ("+s.Provider+")")
	unit := "Step"
	if s.Strategy != string(analysis.StrategyCanary) {
		unit = "Iteration"
	}
	line("  "+unit, fmt.Sprintf("%d/%d", s.Step, s.Steps))
	line("  SetWeight", fmt.Sprint(s.SetWeight))
	line("  ActualWeight", actualWeight(s))
	line("FailedChecks", fmt.Sprintf("%d/%d", s.FailedChecks, s.Threshold))
	images(line, s)
	replicas(w, s)
	if r := s.LastRequest; r != nil {
		outcome := "rejected"
		if r.Accepted {
			outcome = "accepted"
		}
		line("LastRequest", strings.TrimSpace(fmt.Sprintf("%s %s %s ago: %s", requestValue(r.Operation, r.ID), outcome, age(now, r.Time.Time), r.Message)))
	}
}

func phaseHealthOf(s *Summary) Health { return s.Tree.Health }

func colored(c cell) string {
	if c.color == "" {
		return c.text
	}
	return "\x1b[" + c.color + "m" + c.text + "\x1b[0m"
}

func strategyName(s string) string {
	switch analysis.Strategy(s) {
	case analysis.StrategyBlueGreen:
		return "Blue/Green"
	case analysis.StrategyABTesting:
		return "A/B Testing"
	case analysis.StrategyCanary:
		return "Canary"
	}
	return "unknown"
}

func actualWeight(s *Summary) string {
	switch {
	case s.ActualWeight != nil && s.RouteError != "":
		return fmt.Sprintf("%d (%s)", *s.ActualWeight, s.RouteError)
	case s.ActualWeight != nil:
		return fmt.Sprint(*s.ActualWeight)
	case s.RouteError != "":
		return "unknown: " + oneLine(s.RouteError)
	}
	return "unknown"
}

func images(line func(string, string), s *Summary) {
	var lines []string
	for _, img := range s.StableImages {
		lines = append(lines, img+" (stable)")
	}
	for _, img := range s.CanaryImages {
		lines = append(lines, img+" (canary)")
	}
	if len(lines) == 0 {
		return
	}
	line("Images", lines[0])
	for _, l := range lines[1:] {
		line("", l)
	}
}

func replicas(w io.Writer, s *Summary) {
	if len(s.Replicas) == 0 {
		return
	}
	fmt.Fprintln(w, "Replicas:")
	for _, r := range s.Replicas {
		fmt.Fprintf(w, "  %-13s desired %d, current %d, updated %d, ready %d, available %d\n",
			r.Role+":", r.Desired, r.Current, r.Updated, r.Ready, r.Available)
	}
}

// addTree adds a node and its children with box-drawing prefixes.
func addTree(t *table, n Node, prefix, childPrefix string, st style, now time.Time) {
	t.add(cell{text: prefix + kindIcons[n.Kind] + " " + n.Name}, cell{text: n.Kind}, st.status(n.Health, n.Status),
		cell{text: age(now, n.Created)}, cell{text: n.Info})
	for i, c := range n.Children {
		if i == len(n.Children)-1 {
			addTree(t, c, childPrefix+"└──", childPrefix+"   ", st, now)
		} else {
			addTree(t, c, childPrefix+"├──", childPrefix+"│  ", st, now)
		}
	}
}

// RenderSummary prints a summary as `get` does, without colours, with ages
// relative to now.
func RenderSummary(w io.Writer, s *Summary, now time.Time) { renderSummary(w, s, style{}, now) }

// releaseLine says which release this is and how far it got: "#3, running
// for 2m" or "#3 Failed 1m ago, after 3m".
func releaseLine(r *flaggerv1.CanaryRelease, now time.Time) string {
	if r.EndTime == nil {
		return fmt.Sprintf("#%d, running for %s", r.ID, age(now, r.StartTime.Time))
	}
	return fmt.Sprintf("#%d %s %s ago, after %s", r.ID, r.Outcome, age(now, r.EndTime.Time), duration.HumanDuration(r.EndTime.Sub(r.StartTime.Time)))
}
