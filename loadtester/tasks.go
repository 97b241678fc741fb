package loadtester

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/loadtester/cmdline"
	"github.com/warbler-dev/warbler/loadtester/heycmd"
)

// Tasks are the built-in task types and what they need. Registry turns
// them into the functions the server dispatches to.
type Tasks struct {
	Logger  *slog.Logger
	Exec    *Exec
	Runner  *Runner
	Limiter *Limiter
	Results *Results
	// Helm runs helm tests; nil when the loadtester has no cluster.
	Helm *Helm
	// Timeout of a task, which a load task's duration may not exceed.
	Timeout time.Duration
}

// Registry returns the task functions by type.
func (t *Tasks) Registry() *Registry {
	r := NewRegistry()
	r.Register("cmd", t.cmd)
	r.Register("bash", t.bounded(t.bash))
	r.Register("helm", t.bounded(t.helm))
	r.Register("helmv3", t.bounded(t.helm))
	r.Register("kubectl", t.bounded(t.kubectl))
	r.Register("load", t.bounded(t.load))
	return r
}

// bounded makes a synchronous task take a Limiter slot, or answer 429 at
// once when none is free: waiting would only run into the caller's timeout.
func (t *Tasks) bounded(f TaskFunc) TaskFunc {
	return func(ctx context.Context, task Task) (Result, error) {
		if !t.Limiter.TryAcquire() {
			return Result{}, statusError(http.StatusTooManyRequests, "%d tasks are running, the most this loadtester runs at once (-max-concurrent-tasks); retry later", t.Limiter.Cap())
		}
		defer t.Limiter.Release()
		return f(ctx, task)
	}
}

func (t *Tasks) log(task Task) *slog.Logger { return t.Logger.With("canary", task.Canary()) }

// command reads metadata.cmd, which every exec task needs.
func command(task Task) (string, error) {
	line := strings.TrimSpace(task.Metadata["cmd"])
	if line == "" {
		return "", invalid("cmd not found in metadata")
	}
	return line, nil
}

// cmd queues the command and answers 202 at once, as Flagger does: its exit
// status is only logged, and an identical command for the same canary that
// is still queued or running is skipped. A `hey ...` command runs
// in-process; anything else runs with sh -c.
func (t *Tasks) cmd(_ context.Context, task Task) (Result, error) {
	line, err := command(task)
	if err != nil {
		return Result{}, err
	}
	job, err := t.cmdJob(task, line)
	if err != nil {
		return Result{}, err
	}
	started, err := t.Runner.Submit(task.Canary()+"\n"+line, job)
	if err != nil {
		return Result{}, err
	}
	if !started {
		t.log(task).Info("command skipped " + line + " is already running")
	}
	return accepted, nil
}

// cmdJob checks the command now, so that the caller gets a 4xx for a bad
// one, and returns the work to run later.
func (t *Tasks) cmdJob(task Task, line string) (func(context.Context), error) {
	if _, err := t.Exec.Check(line); err != nil {
		return nil, err
	}
	log := t.log(task)
	hey, err := parseHey(line)
	if err != nil {
		return nil, err
	}
	if hey != nil {
		return func(ctx context.Context) { t.runHey(ctx, log, task, line, hey) }, nil
	}
	if isHey(line) {
		log.Warn("hey command " + line + " uses shell syntax, so it runs with sh -c and needs a hey binary")
	}
	logOutput := task.flag("logCmdOutput")
	return func(ctx context.Context) {
		log.Info("task starting " + line)
		out, err := t.Exec.Shell(ctx, "sh", line)
		if err != nil {
			logFailed(log, line, err)
			return
		}
		if logOutput {
			log.Info(out)
		}
		log.Info("command finished " + line)
	}, nil
}

func isHey(line string) bool {
	f := strings.Fields(line)
	return len(f) > 0 && f[0] == "hey"
}

// parseHey returns the hey command of line, nil when line is not one that
// can run in-process (not hey, or hey inside shell syntax such as a pipe),
// or a 400 when its flags are wrong.
func parseHey(line string) (*heycmd.Command, error) {
	if !isHey(line) {
		return nil, nil
	}
	argv, err := cmdline.Split(line)
	if errors.Is(err, cmdline.ErrNeedsShell) {
		return nil, nil
	}
	if err != nil {
		return nil, invalid("cmd %q: %v", line, err)
	}
	c, err := heycmd.Parse(argv[1:])
	if err != nil {
		return nil, invalid("cmd %q: %v", line, err)
	}
	return c, nil
}

func (t *Tasks) runHey(ctx context.Context, log *slog.Logger, task Task, line string, c *heycmd.Command) {
	log.Info("task starting " + line)
	for _, n := range c.Notes {
		log.Info("hey " + n)
	}
	s, err := heycmd.Run(ctx, c)
	if err != nil {
		logFailed(log, line, err)
		return
	}
	t.Results.Put(s.Result(task.Canary()))
	log.Info(fmt.Sprintf("hey summary %s: %d requests, %.1f req/s, p50 %v, p90 %v, p99 %v, %d errors",
		s.URL, s.Requests, s.RPS, s.P50, s.P90, s.P99, s.ErrorCount()),
		"url", s.URL, "requests", s.Requests, "rps", round3(s.RPS),
		"p50Ms", msOf(s.P50), "p90Ms", msOf(s.P90), "p99Ms", msOf(s.P99),
		"statusCodes", s.StatusCodes, "errors", s.ErrorCount(), "errorMessages", s.Errors,
		"seconds", round3(s.Finished.Sub(s.Started).Seconds()))
	log.Info("command finished " + line)
}

// bash runs the command with bash -c and answers when it is done: 200, or
// 500 with Flagger's "command <cmd> failed: <output>: exit status N".
func (t *Tasks) bash(ctx context.Context, task Task) (Result, error) {
	line, err := command(task)
	if err != nil {
		return Result{}, err
	}
	t.log(task).Info("bash command " + line)
	out, err := t.Exec.Shell(ctx, "bash", line)
	return t.execResult(task, line, out, err)
}

// kubectl runs `kubectl <cmd>` when a kubectl binary is installed.
func (t *Tasks) kubectl(ctx context.Context, task Task) (Result, error) {
	args, line, err := programArgs(task, "kubectl")
	if err != nil {
		return Result{}, err
	}
	if !t.Exec.Has("kubectl") {
		return Result{}, invalid("kubectl %s: kubectl is not installed in this loadtester (no kubectl in PATH); install it in the image, or use a helm task for helm tests", line)
	}
	t.log(task).Info("running command kubectl " + line)
	out, err := t.Exec.Argv(ctx, append([]string{"kubectl"}, args...))
	return t.execResult(task, "kubectl "+line, out, err)
}

// helm runs `helm test` through the Helm SDK, and other helm commands with
// a helm binary when one is installed.
func (t *Tasks) helm(ctx context.Context, task Task) (Result, error) {
	args, line, err := programArgs(task, "helm", "helmv3")
	if err != nil {
		return Result{}, err
	}
	log := t.log(task)
	log.Info("running command helm " + line)
	if len(args) > 0 && args[0] == "test" {
		ht, err := parseHelmTest(args[1:], task.Namespace)
		switch {
		case err == nil:
			return t.helmTest(ctx, task, ht)
		case !errors.Is(err, errUnsupportedHelmFlag) || !t.Exec.Has("helm"):
			return Result{}, invalid("%v", err)
		}
	}
	if !t.Exec.Has("helm") {
		return Result{}, invalid(`helm %s: only "test <release> [-n namespace] [--timeout duration] [--logs] [--filter name=...]" `+
			"runs through the Helm SDK; other helm commands need a helm binary, and this loadtester has none in PATH", line)
	}
	out, err := t.Exec.Argv(ctx, append([]string{"helm"}, args...))
	return t.execResult(task, "helm "+line, out, err)
}

func (t *Tasks) helmTest(ctx context.Context, task Task, ht HelmTest) (Result, error) {
	if t.Helm == nil {
		return Result{}, invalid("helm test %s: the loadtester found no Kubernetes cluster to run it in (no -kubeconfig, KUBECONFIG or in-cluster config)", ht.Release)
	}
	log := t.log(task)
	out, err := t.Helm.Test(ctx, ht)
	if err != nil {
		logFailed(log, "helm test "+ht.Release, err)
		return Result{}, failed("%v", err)
	}
	if task.flag("logCmdOutput") {
		log.Info(out)
	}
	log.Info("command finished helm test " + ht.Release)
	return t.output(task, out), nil
}

// programArgs splits metadata.cmd into arguments, dropping a leading
// program name (Flagger wants "test podinfo", but "helm test podinfo" is a
// common slip). These tasks run without a shell.
func programArgs(task Task, programs ...string) ([]string, string, error) {
	line, err := command(task)
	if err != nil {
		return nil, "", err
	}
	args, err := cmdline.Split(line)
	if err != nil {
		return nil, "", invalid("%s cmd %q: %v; these tasks run without a shell, use a bash task for shell syntax", task.Type, line, err)
	}
	if len(args) > 0 && slices.Contains(programs, args[0]) {
		args = args[1:]
		line = strings.Join(args, " ")
	}
	if len(args) == 0 {
		return nil, "", invalid("cmd not found in metadata")
	}
	return args, line, nil
}

// execResult turns a finished process into the task's answer and logs it
// the way Flagger does.
func (t *Tasks) execResult(task Task, display, out string, err error) (Result, error) {
	log := t.log(task)
	var exit *ExitError
	if errors.As(err, &exit) {
		logFailed(log, display, err)
		return Result{}, failed("%s", exit.Error())
	}
	if err != nil {
		return Result{}, err
	}
	if task.flag("logCmdOutput") {
		log.Info(out)
	}
	log.Info("command finished " + display)
	return t.output(task, out), nil
}

// logFailed writes Flagger's "command failed <cmd> <error> <output>".
func logFailed(log *slog.Logger, display string, err error) {
	msg := "command failed " + display + " "
	var exit *ExitError
	if errors.As(err, &exit) {
		msg += exit.Err.Error() + " " + strings.TrimSpace(exit.Output)
	} else {
		msg += err.Error()
	}
	log.Error(strings.TrimSpace(msg))
}

// output is 200, with the output as the body when returnCmdOutput is set.
func (t *Tasks) output(task Task, out string) Result {
	if task.flag("returnCmdOutput") {
		return Result{Status: ok.Status, Body: out}
	}
	return ok
}

func msOf(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
func round3(v float64) float64     { return float64(int64(v*1000+0.5)) / 1000 }
