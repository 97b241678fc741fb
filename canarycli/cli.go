// Package canarycli is the kubectl plugin `kubectl canary`: it shows
// canaries (a header and a tree of what each one runs, with the values of
// its checks), steers them through the imperative requests the controller
// carries out (promote, abort, retry, pause, resume), opens and closes the
// loadtester's gates, and checks and simulates Canary manifests offline.
//
// Exit codes are for CI jobs: 0 when the command did what it says, 1 when
// it failed or found a manifest invalid, 2 for a usage error.
package canarycli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// App is one run of the plugin, with its outputs and environment.
type App struct {
	Stdout, Stderr io.Writer
	// Stdin is read by "lint -f -" and "simulate -f -"; os.Stdin when nil.
	Stdin io.Reader
	// Getenv reads the environment (KUBECONFIG, NO_COLOR); os.Getenv when
	// nil.
	Getenv func(string) string
	// Now is the clock of ages and request ids; time.Now when nil.
	Now func() time.Time
	// PollInterval is how often --watch redraws and a request is checked
	// for an answer; one second when zero.
	PollInterval time.Duration

	g       globals
	cluster *cluster
}

// globals are the flags every command accepts.
type globals struct {
	kubeconfig, context, namespace string
	output                         string
	noColor                        bool
	requestTimeout                 time.Duration
}

// Run runs the plugin with the arguments after the program name and
// returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return (&App{Stdout: stdout, Stderr: stderr}).Run(ctx, args)
}

// Run runs the plugin and returns the exit code. Errors are printed as one
// line on Stderr.
func (a *App) Run(ctx context.Context, args []string) int {
	if a.Getenv == nil {
		a.Getenv = os.Getenv
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.PollInterval <= 0 {
		a.PollInterval = time.Second
	}
	err := a.run(ctx, args)
	var ue *usageError
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		fmt.Fprintf(a.Stderr, "kubectl-canary: %s\n", oneLine(ee.msg))
		return ee.code
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(a.Stderr, "kubectl-canary: %s (see 'kubectl canary --help')\n", oneLine(err.Error()))
		return ExitUsage
	case errors.Is(err, errReported):
		return ExitFailed
	default:
		fmt.Fprintf(a.Stderr, "kubectl-canary: %s\n", oneLine(err.Error()))
		return ExitFailed
	}
}

// usageError is a command line that cannot be run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError ends the run with its own exit code.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// errReported: the command already printed why it failed.
var errReported = errors.New("failure already reported")

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// command is one subcommand.
type command struct {
	name, args, summary string
	// minArgs and maxArgs bound the positional arguments (-1: no bound).
	minArgs, maxArgs int
	// output: the command prints data, in the format -o/--output names.
	output bool
	// offline: the command reads files, not the cluster; it accepts the
	// cluster flags but its help does not list them.
	offline bool
	// hidden: the command is for scripts, and not listed.
	hidden bool
	// flags registers the command's own flags; run gets the positional
	// arguments.
	flags func(*flag.FlagSet)
	run   func(context.Context, []string) error
}

func (a *App) commands() map[string]*command {
	cmds := []*command{a.getCmd(), a.listCmd(), a.historyCmd(), a.statusCmd(), a.completionCmd(), a.lintCmd(), a.simulateCmd(), a.approveCmd(), a.rejectCmd(), a.dashboardCmd(), a.versionCmd()}
	cmds = append(cmds, a.requestCmds()...)
	cmds = append(cmds, a.completeCmd())
	out := map[string]*command{}
	for _, c := range cmds {
		out[c.name] = c
	}
	return out
}

func (a *App) run(ctx context.Context, args []string) error {
	top := a.flagSet("kubectl canary")
	if err := top.Parse(args); err != nil {
		return a.flagError(err, nil)
	}
	rest := top.Args()
	if len(rest) == 0 {
		a.usage(a.Stderr)
		return usagef("no command given")
	}
	if rest[0] == "help" {
		a.usage(a.Stdout)
		return nil
	}
	cmd, ok := a.commands()[rest[0]]
	if !ok {
		return usagef("unknown command %q; commands: %s", rest[0], strings.Join(a.names(), ", "))
	}
	if cmd.name == completeCommand {
		// the words to complete, flags included, as they are; the last is
		// the one under the cursor
		words := rest[1:]
		if len(words) == 0 {
			words = []string{""}
		}
		return cmd.run(ctx, words)
	}
	fs := a.flagSet("kubectl canary " + cmd.name)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if cmd.output {
		a.outputFlag(fs)
	}
	pos, err := parseInterspersed(fs, rest[1:])
	if err != nil {
		return a.flagError(err, cmd)
	}
	if len(pos) < cmd.minArgs || (cmd.maxArgs >= 0 && len(pos) > cmd.maxArgs) {
		return usagef("usage: kubectl canary %s %s", cmd.name, cmd.args)
	}
	if err := a.checkOutput(); err != nil {
		return err
	}
	return cmd.run(ctx, pos)
}

// flagSet returns a flag set with the global flags, printing nothing: the
// App reports errors itself.
func (a *App) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.g.kubeconfig, "kubeconfig", a.g.kubeconfig, "path to the kubeconfig `file` (default $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&a.g.context, "context", a.g.context, "kubeconfig context to use")
	fs.StringVar(&a.g.namespace, "namespace", a.g.namespace, "namespace of the canary (default: the context's)")
	alias(fs, "n", "namespace")
	fs.BoolVar(&a.g.noColor, "no-color", a.g.noColor, "print without colours (also when NO_COLOR is set)")
	fs.DurationVar(&a.g.requestTimeout, "request-timeout", orDefault(a.g.requestTimeout, 30*time.Second), "timeout of one request to the Kubernetes API")
	return fs
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// outputFlag registers -o/--output for commands that print data.
func (a *App) outputFlag(fs *flag.FlagSet) {
	fs.StringVar(&a.g.output, "output", "", "output `format`: json or yaml (default: text)")
	alias(fs, "o", "output")
}

// meshFlag registers --mesh-provider, the provider assumed for canaries
// without spec.provider.
func meshFlag(fs *flag.FlagSet, mesh *string) {
	fs.StringVar(mesh, "mesh-provider", "", "provider of canaries without spec.provider (default $"+MeshProviderEnv+", else the controller's -mesh-provider as it publishes it, else "+defaultProvider+")")
}

func (a *App) flagError(err error, cmd *command) error {
	if errors.Is(err, flag.ErrHelp) {
		if cmd == nil {
			a.usage(a.Stdout)
		} else {
			a.commandUsage(cmd)
		}
		return flag.ErrHelp
	}
	return usagef("%v", err)
}

// parseInterspersed parses flags anywhere among the positional arguments,
// as kubectl does ("get podinfo -n prod").
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (a *App) names() []string {
	var out []string
	for n, c := range a.commands() {
		if !c.hidden {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func (a *App) usage(w io.Writer) {
	fmt.Fprint(w, "kubectl canary shows and steers Warbler (Flagger-compatible) canaries.\n\nCommands:\n")
	cmds := a.commands()
	for _, n := range a.names() {
		c := cmds[n]
		fmt.Fprintf(w, "  %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprint(w, "\nGlobal flags: --kubeconfig FILE, --context NAME, -n/--namespace NS, --no-color, --request-timeout 30s\n")
	fmt.Fprint(w, "Exit codes: 0 ok, 1 the operation failed or a manifest is invalid, 2 usage error (status: 2 when it timed out).\n")
	fmt.Fprint(w, "Run 'kubectl canary COMMAND --help' for a command's flags.\n")
}

func (a *App) commandUsage(cmd *command) {
	fmt.Fprintf(a.Stdout, "Usage: kubectl canary %s %s\n\n%s\n", cmd.name, cmd.args, cmd.summary)
	fs := a.flagSet(cmd.name)
	if cmd.flags != nil {
		cmd.flags(fs)
	}
	if cmd.output {
		a.outputFlag(fs)
	}
	common := append(append([]string{}, clusterFlags...), globalFlags...)
	fmt.Fprintln(a.Stdout, "\nFlags:")
	printFlags(a.Stdout, fs, nil, common)
	if !cmd.offline {
		fmt.Fprintln(a.Stdout, "\nCluster flags:")
		printFlags(a.Stdout, fs, clusterFlags, nil)
	}
	fmt.Fprintln(a.Stdout, "\nGlobal flags:")
	printFlags(a.Stdout, fs, globalFlags, nil)
}
