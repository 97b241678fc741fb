package canarycli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"sigs.k8s.io/yaml"
)

func (a *App) getCmd() *command {
	var watch bool
	var mesh string
	return &command{
		name: "get", args: "CANARY [--watch] [-o json|yaml]", minArgs: 1, maxArgs: 1, output: true,
		summary: "show a canary: status, weights, images, replicas, and a tree of its workloads, route and checks",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&watch, "watch", false, "redraw until interrupted")
			fs.BoolVar(&watch, "w", false, "shorthand for --watch")
			meshFlag(fs, &mesh)
		},
		run: func(ctx context.Context, args []string) error {
			cl, err := a.connect()
			if err != nil {
				return err
			}
			if watch {
				return a.watch(ctx, cl, args[0], mesh)
			}
			s, err := a.snapshot(ctx, cl, args[0], mesh)
			if err != nil {
				return err
			}
			return a.show(s)
		},
	}
}

// snapshot reads a canary and summarizes it.
func (a *App) snapshot(ctx context.Context, cl *cluster, name, mesh string) (*Summary, error) {
	c, err := a.getCanary(ctx, cl, name)
	if err != nil {
		return nil, err
	}
	return a.summarize(ctx, cl, c, mesh)
}

func (a *App) show(s *Summary) error {
	if a.g.output != "" {
		return a.print(s)
	}
	renderSummary(a.Stdout, s, a.style(), a.Now())
	return nil
}

// watch redraws the summary until ctx ends. On a terminal it redraws in
// place; otherwise (a pipe, a CI log) it prints a frame only when
// something changed.
func (a *App) watch(ctx context.Context, cl *cluster, name, mesh string) error {
	tty := a.isTerminal()
	var last []byte
	for {
		s, err := a.snapshot(ctx, cl, name, mesh)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		fp, _ := json.Marshal(s)
		switch {
		case tty:
			fmt.Fprint(a.Stdout, "\x1b[H\x1b[2J")
			if err := a.show(s); err != nil {
				return err
			}
		case !bytes.Equal(fp, last):
			if last != nil && a.g.output == "" {
				fmt.Fprintln(a.Stdout)
			}
			if err := a.show(s); err != nil {
				return err
			}
		}
		last = fp
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.PollInterval):
		}
	}
}

func (a *App) checkOutput() error {
	switch a.g.output {
	case "", "json", "yaml":
		return nil
	}
	return usagef("--output %q: valid formats are json and yaml", a.g.output)
}

// print writes v as JSON or YAML.
func (a *App) print(v any) error {
	if a.g.output == "yaml" {
		out, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = a.Stdout.Write(out)
		return err
	}
	enc := json.NewEncoder(a.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
