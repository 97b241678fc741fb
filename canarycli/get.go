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
			alias(fs, "w", "watch")
			meshFlag(fs, &mesh)
		},
		run: func(ctx context.Context, args []string) error {
			cl, err := a.connect()
			if err != nil {
				return err
			}
			if watch {
				return a.redraw(ctx, func() (any, error) { return a.snapshot(ctx, cl, args[0], mesh) },
					func(v any) { renderSummary(a.Stdout, v.(*Summary), a.style(), a.Now()) })
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
	if c.Spec.Provider == "" {
		mesh = a.meshProvider(ctx, cl, c.Namespace, mesh)
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

// redraw shows what read returns until ctx ends, every PollInterval: with
// render, or as JSON or YAML with -o. On a terminal it redraws in place;
// otherwise (a pipe, a CI log) it prints a frame only when something
// changed.
func (a *App) redraw(ctx context.Context, read func() (any, error), render func(any)) error {
	tty := a.isTerminal()
	var last []byte
	for {
		v, err := read()
		if err != nil {
			// a read cut short by the end of the watch (client-go's rate
			// limiter gives up just before a deadline) is no error
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(a.PollInterval):
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		fp, _ := json.Marshal(v)
		if tty || !bytes.Equal(fp, last) {
			switch {
			case tty:
				fmt.Fprint(a.Stdout, "\x1b[H\x1b[2J")
			case last != nil && a.g.output == "":
				fmt.Fprintln(a.Stdout)
			}
			if a.g.output != "" {
				if err := a.print(v); err != nil {
					return err
				}
			} else {
				render(v)
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
