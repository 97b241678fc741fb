package canarycli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/warbler-dev/warbler/alerts"
	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ReleaseDetail is `history --release N -o json|yaml`: the release and its
// checks.
type ReleaseDetail struct {
	Release flaggerv1.CanaryRelease `json:"release"`
	Checks  []flaggerv1.CheckResult `json:"checks"`
}

func (a *App) historyCmd() *command {
	var metric string
	var release int
	return &command{
		name: "history", args: "CANARY [--release N] [--metric NAME] [-o json|yaml]", minArgs: 1, maxArgs: 1, output: true,
		summary: "show a canary's last releases (revision, images, outcome and why, who promoted or aborted), or with --release N that release's metric checks",
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&release, "release", 0, "show the checks of this release (its number in the RELEASE column)")
			fs.StringVar(&metric, "metric", "", "only this metric's checks, of --release N or else of the latest release")
		},
		run: func(ctx context.Context, args []string) error {
			if release < 0 {
				return usagef("--release %d: want a release number from the RELEASE column (1 or more)", release)
			}
			_, c, err := a.canary(ctx, args[0])
			if err != nil {
				return err
			}
			if metric != "" && release == 0 {
				// a metric's checks without a release: those of the latest
				if len(c.Status.History) == 0 {
					return fmt.Errorf("canary %s has no releases in its history yet: --metric %s has no checks to show", c.Key(), metric)
				}
				release = c.Status.History[len(c.Status.History)-1].ID
			}
			if release == 0 {
				return a.showReleases(c)
			}
			return a.showRelease(c, release, metric)
		},
	}
}

func (a *App) showReleases(c *flaggerv1.Canary) error {
	h := c.Status.History
	if a.g.output != "" {
		if h == nil {
			h = []flaggerv1.CanaryRelease{}
		}
		return a.print(h)
	}
	if len(h) == 0 {
		fmt.Fprintf(a.Stdout, "Canary %s has no releases in its history yet; its next release starts it.\n", c.Key())
		return nil
	}
	st, now := a.style(), a.Now()
	t := &table{}
	t.addText("RELEASE", "REVISION", "IMAGES", "STARTED", "DURATION", "OUTCOME", "WEIGHT", "FAILED", "REQUESTS", "REASON")
	for _, r := range h {
		// a release that runs halts for the status's reason, if any
		outcome, health, took := "Running", Progressing, duration.HumanDuration(now.Sub(r.StartTime.Time))
		reason, msg := c.Status.Reason, c.Status.Message
		if r.EndTime != nil {
			outcome, health, took = string(r.Outcome), outcomeHealth(r.Outcome), duration.HumanDuration(r.EndTime.Sub(r.StartTime.Time))
			reason, msg = r.Reason, r.Message
		}
		t.add(cell{text: fmt.Sprint(r.ID)}, cell{text: r.Revision}, cell{text: strings.Join(r.Images, ",")}, cell{text: age(now, r.StartTime.Time) + " ago"},
			cell{text: took}, st.status(health, outcome), cell{text: fmt.Sprint(r.HighestWeight)}, cell{text: fmt.Sprint(r.FailedChecks)},
			cell{text: requestsText(r.Requests)}, cell{text: truncate(oneLine(reasonText(string(reason), msg)), 100)})
	}
	t.write(a.Stdout)
	return nil
}

// requestsText lists who did what: "promote by alice, abort".
func requestsText(rs []flaggerv1.RequestRecord) string {
	if len(rs) == 0 {
		return "-"
	}
	var out []string
	for _, r := range rs {
		s := string(r.Operation)
		if r.By != "" {
			s += " by " + r.By
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}

func outcomeHealth(o flaggerv1.ReleaseOutcome) Health {
	switch o {
	case flaggerv1.ReleaseSucceeded:
		return Healthy
	case flaggerv1.ReleaseFailed:
		return Bad
	}
	return Neutral
}

func (a *App) showRelease(c *flaggerv1.Canary, id int, metric string) error {
	var rel *flaggerv1.CanaryRelease
	for i := range c.Status.History {
		if c.Status.History[i].ID == id {
			rel = &c.Status.History[i]
		}
	}
	if rel == nil {
		return fmt.Errorf("canary %s has no release %d in its history (%s)", c.Key(), id, releaseRange(c.Status.History))
	}
	checks := []flaggerv1.CheckResult{}
	for _, ch := range c.Status.ReleaseChecks(id) {
		if metric == "" || ch.Metric == metric {
			checks = append(checks, ch)
		}
	}
	if a.g.output != "" {
		return a.print(ReleaseDetail{Release: *rel, Checks: checks})
	}
	now := a.Now()
	line := func(label, value string) { fmt.Fprintf(a.Stdout, "%-15s %s\n", label+":", value) }
	line("Release", releaseLine(rel, now))
	line("Revision", rel.Revision)
	line("Images", strings.Join(rel.Images, ", "))
	if rel.Reason != "" {
		line("Reason", string(rel.Reason))
	}
	if rel.Message != "" {
		line("Message", rel.Message)
	}
	line("HighestWeight", fmt.Sprint(rel.HighestWeight))
	line("FailedChecks", fmt.Sprint(rel.FailedChecks))
	for _, r := range rel.Requests {
		line("Request", strings.TrimSpace(fmt.Sprintf("%s %s %s ago: %s", requestValue(r.Operation, r.ID), byText(r.By), age(now, r.Time.Time), r.Message)))
	}
	fmt.Fprintln(a.Stdout)
	a.renderChecks(c, checks, metric)
	return nil
}

func byText(by string) string {
	if by == "" {
		return ""
	}
	return "by " + by
}

func releaseRange(h []flaggerv1.CanaryRelease) string {
	if len(h) == 0 {
		return "it has none yet"
	}
	return fmt.Sprintf("it keeps releases %d to %d", h[0].ID, h[len(h)-1].ID)
}

func (a *App) renderChecks(c *flaggerv1.Canary, checks []flaggerv1.CheckResult, metric string) {
	if len(checks) == 0 {
		what := "no metric checks"
		if metric != "" {
			what = "no checks of metric " + metric
		}
		fmt.Fprintf(a.Stdout, "The release has %s in canary %s's status (it keeps the last %d checks).\n", what, c.Key(), analysis.MaxChecks)
		return
	}
	st, now := a.style(), a.Now()
	t := &table{}
	t.addText("AGE", "METRIC", "VALUE", "THRESHOLD", "VERDICT", "FAILED", "MESSAGE")
	for _, ch := range checks {
		value := "-"
		if ch.Value != nil || ch.Judge != nil {
			value = valueText(ch)
		}
		threshold := alerts.Range(ch.Min, ch.Max)
		if threshold == "" {
			threshold = "-"
		}
		failed, health := "no", verdictHealth(ch.Verdict)
		switch {
		case ch.Failed:
			failed = "yes"
		case ch.DryRun:
			// recorded, never counted
			failed = "no (dry run)"
			if health == Bad {
				health = Warning
			}
		}
		t.add(cell{text: age(now, ch.Time.Time)}, cell{text: ch.Metric}, cell{text: value}, cell{text: threshold},
			st.status(health, string(ch.Verdict)), cell{text: failed}, cell{text: strings.TrimSpace(oneLine(ch.Message + checkDetail(ch)))})
	}
	t.write(a.Stdout)
}
