package loadtester

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/warbler-dev/warbler/loadtester/cmdline"
)

// Exec runs the processes of cmd, bash, helm and kubectl tasks.
type Exec struct {
	// Allow lists the programs cmd and bash tasks may run; nil allows any
	// shell command, as Flagger does. With a list, commands run argv-style
	// without a shell. An entry without a slash matches a program found in
	// PATH; an entry with one matches that exact path.
	Allow []string
	// MaxOutput bounds the output kept from one process (its head and its
	// tail); 1 MiB when zero.
	MaxOutput int
	// Env is added to the environment of every process, for example the
	// KUBECONFIG the loadtester itself uses.
	Env []string
	// LookPath finds programs; exec.LookPath when nil.
	LookPath func(string) (string, error)
}

// ExitError is a process that ran and failed. Its message is Flagger's:
// "command <cmd> failed: <output>: exit status N".
type ExitError struct {
	Command string
	Output  string
	Err     error
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("command %s failed: %s: %v", e.Command, strings.TrimSpace(e.Output), e.Err)
}

func (e *ExitError) Unwrap() error { return e.Err }

func (e *Exec) lookPath(name string) (string, error) {
	if e.LookPath != nil {
		return e.LookPath(name)
	}
	return exec.LookPath(name)
}

// Has reports whether a program can be found.
func (e *Exec) Has(name string) bool {
	_, err := e.lookPath(name)
	return err == nil
}

// Check applies the allow-list to a cmd or bash command line. With no list
// it returns nil argv: the line runs in a shell. With one, the line must be
// a simple command whose program is listed, and Check returns its words.
func (e *Exec) Check(line string) ([]string, error) {
	if e.Allow == nil {
		return nil, nil
	}
	argv, err := cmdline.Split(line)
	var syntax *cmdline.SyntaxError
	switch {
	case errors.Is(err, cmdline.ErrNeedsShell):
		return nil, statusError(http.StatusForbidden,
			"command %q is not allowed: with -allow-command set, commands run without a shell, and this one %v", line, err)
	case errors.As(err, &syntax):
		return nil, invalid("cmd %q: %v", line, err)
	case len(argv) == 0:
		return nil, invalid("cmd is empty")
	case !e.allowed(argv[0]):
		return nil, statusError(http.StatusForbidden,
			"command %q is not allowed: %s is not in the allow-list (-allow-command %s)", line, argv[0], strings.Join(e.Allow, ","))
	}
	return argv, nil
}

func (e *Exec) allowed(program string) bool {
	return slices.ContainsFunc(e.Allow, func(a string) bool {
		if strings.Contains(a, "/") {
			return filepath.Clean(a) == filepath.Clean(program)
		}
		return a == program // a bare name, looked up in PATH
	})
}

// Shell runs a cmd or bash line: "<shell> -c <line>" without an allow-list,
// argv-style with one (Check must have accepted it).
func (e *Exec) Shell(ctx context.Context, shell, line string) (string, error) {
	argv, err := e.Check(line)
	if err != nil {
		return "", err
	}
	if argv == nil {
		argv = []string{shell, "-c", line}
	}
	return e.run(ctx, line, argv)
}

// Argv runs a program with arguments and no shell. The allow-list does not
// apply: helm and kubectl tasks name their program themselves.
func (e *Exec) Argv(ctx context.Context, argv []string) (string, error) {
	return e.run(ctx, strings.Join(argv, " "), argv)
}

func (e *Exec) run(ctx context.Context, display string, argv []string) (string, error) {
	path, err := e.lookPath(argv[0])
	if err != nil {
		return "", invalid("command %s: %s is not installed in the loadtester (%v)", display, argv[0], err)
	}
	out := newCappedBuffer(e.MaxOutput)
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), e.Env...)
	// A process group, so that a timeout kills what the shell started too,
	// not only the shell.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		return out.String(), &ExitError{Command: display, Output: out.String(), Err: fmt.Errorf("stopped: %w", ctxErr)}
	}
	if err != nil {
		return out.String(), &ExitError{Command: display, Output: out.String(), Err: err}
	}
	return out.String(), nil
}

// cappedBuffer keeps the first and the last half of what is written, and
// counts what it skips, so a chatty process cannot fill the memory and the
// end of its output (usually the error) survives. The tail is a ring, so a
// write costs its own length whatever came before.
type cappedBuffer struct {
	head    []byte
	tail    []byte // ring of len half once full
	next    int    // where the ring writes next
	half    int
	skipped int64
}

const defaultMaxOutput = 1 << 20

func newCappedBuffer(limit int) *cappedBuffer {
	if limit <= 0 {
		limit = defaultMaxOutput
	}
	return &cappedBuffer{half: max(limit/2, 1)}
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.half - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		if len(b.tail) < b.half { // still filling the ring
			k := min(b.half-len(b.tail), len(p))
			b.tail = append(b.tail, p[:k]...)
			p = p[k:]
			continue
		}
		k := copy(b.tail[b.next:], p)
		b.skipped += int64(k) // what the ring overwrote
		b.next = (b.next + k) % b.half
		p = p[k:]
	}
	return n, nil
}

func (b *cappedBuffer) String() string {
	tail := string(b.tail[b.next:]) + string(b.tail[:b.next])
	if b.skipped == 0 {
		return string(b.head) + tail
	}
	return fmt.Sprintf("%s\n... [%d bytes of output omitted] ...\n%s", b.head, b.skipped, tail)
}
