// Package chaos runs releases through faults on the local stack and checks
// that each ends as it would have without them: the controller killed at a
// random point, several replicas electing a leader, an API server restart,
// a stalled etcd, Prometheus down, a webhook that never answers, a
// loadtester restart. The integration tests of test/ha and `make chaos`
// (test/chaos) share it.
package chaos

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/warbler-dev/warbler/internal/stack"
)

// Controller is cmd/warbler run as a process that can be killed and
// started again; its log is appended to one file across restarts.
type Controller struct {
	// Bin is the built cmd/warbler, Kubeconfig its cluster.
	Bin, Kubeconfig string
	// Args are the flags beyond -kubeconfig, -bind-address and -port.
	Args []string
	// Log is the file the process writes to.
	Log string

	mu   sync.Mutex
	cmd  *exec.Cmd
	port int
	done chan struct{}
}

// Start runs the controller and waits until /healthz answers.
func (c *Controller) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	port, err := stack.FreePort()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.Log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	args := append([]string{"-kubeconfig", c.Kubeconfig, "-bind-address", "127.0.0.1", "-port", strconv.Itoa(port)}, c.Args...)
	cmd := exec.Command(c.Bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	c.cmd, c.port, c.done = cmd, port, done
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := stack.WaitHTTP(wctx, c.url("/healthz")); err != nil {
		return fmt.Errorf("controller %s: %w", c.Log, err)
	}
	return nil
}

func (c *Controller) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.port, path)
}

// Kill ends the process with SIGKILL, as a node failure or the OOM killer
// would: no deferred status write, no Lease handed over.
func (c *Controller) Kill() { c.signal(syscall.SIGKILL) }

// Stop ends the process with SIGTERM, as a rollout would.
func (c *Controller) Stop() { c.signal(syscall.SIGTERM) }

func (c *Controller) signal(sig syscall.Signal) {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Running reports whether the process is alive.
func (c *Controller) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// Leading reports whether this replica holds its leader-election Lease,
// from controller-runtime's leader_election_master_status.
func (c *Controller) Leading() bool {
	if !c.Running() {
		return false
	}
	v, err := c.Metric("leader_election_master_status")
	return err == nil && v == 1
}

// Metric sums the samples of a metric on the controller's /metrics.
func (c *Controller) Metric(name string) (float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(c.url("/metrics"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		f := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, err
		}
		sum, found = sum+v, true
	}
	if !found {
		return 0, fmt.Errorf("no %s on /metrics", name)
	}
	return sum, sc.Err()
}

// LogLines returns the controller's log so far.
func (c *Controller) LogLines() []string {
	data, err := os.ReadFile(c.Log)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// errTimeout marks a wait that ran out of time.
var errTimeout = errors.New("timed out")
