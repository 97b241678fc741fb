package canarycli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/warbler-dev/warbler/alerts"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

func (a *App) historyCmd() *command {
	var metric string
	return &command{
		name: "history", args: "CANARY [--metric NAME] [-o json|yaml]", minArgs: 1, maxArgs: 1, output: true,
		summary: "show the history of a canary's metric checks: time, value, threshold, verdict and why",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&metric, "metric", "", "show only this metric")
		},
		run: func(ctx context.Context, args []string) error {
			_, c, err := a.canary(ctx, args[0])
			if err != nil {
				return err
			}
			checks := []flaggerv1.CheckResult{}
			for _, ch := range c.Status.Checks {
				if metric == "" || ch.Metric == metric {
					checks = append(checks, ch)
				}
			}
			if a.g.output != "" {
				return a.print(checks)
			}
			a.renderHistory(c, checks, metric)
			return nil
		},
	}
}

func (a *App) renderHistory(c *flaggerv1.Canary, checks []flaggerv1.CheckResult, metric string) {
	if len(checks) == 0 {
		what := "no metric checks"
		if metric != "" {
			what = "no checks of metric " + metric
		}
		fmt.Fprintf(a.Stdout, "Canary %s.%s has %s in its history.\n", c.Name, c.Namespace, what)
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
