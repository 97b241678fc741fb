package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/webhooks"
)

// watch polls the Canary twice a second, showing progress, until done
// says so or the timeout passes.
func (s *scenario) watch(ctx context.Context, timeout time.Duration, done func(*flaggerv1.Canary) bool) (*flaggerv1.Canary, error) {
	if s.progress == nil {
		s.progress = &progress{out: s.cfg.Out, live: s.cfg.Live}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		var c flaggerv1.Canary
		if err := s.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &c); err != nil {
			return nil, err
		}
		if p := c.Status.Phase; p != "" && p != s.lastPhase {
			s.lastPhase = p
			s.res.Phases = append(s.res.Phases, p)
		}
		s.progress.show(s.describe(ctx, &c))
		if done(&c) {
			s.progress.clear()
			return &c, nil
		}
		select {
		case <-ctx.Done():
			s.progress.clear()
			return &c, fmt.Errorf("gave up waiting: canary %s is %s (%s)", name, c.Status.Phase, c.Status.Message)
		case <-tick.C:
		}
	}
}

// describe is the progress line: phase, weights, failed checks and the
// last value of each check.
func (s *scenario) describe(ctx context.Context, c *flaggerv1.Canary) string {
	st := c.Status
	line := fmt.Sprintf("phase %-16s weight %3d%%  route %s  failed checks %d/%d", st.Phase, st.CanaryWeight, s.routeSplit(ctx), st.FailedChecks, c.Spec.Analysis.Threshold)
	for _, ch := range c.LatestChecks() {
		line += fmt.Sprintf("  %s %s", ch.Metric, checkValue(ch))
	}
	return line
}

func checkValue(ch flaggerv1.CheckResult) string {
	if ch.Value == nil {
		return string(ch.Verdict)
	}
	unit := ""
	switch ch.Metric {
	case "request-success-rate":
		unit = "%"
	case "request-duration":
		unit = "ms"
	}
	return fmt.Sprintf("%.2f%s %s", *ch.Value, unit, ch.Verdict)
}

// routeSplit reads the weights from the HTTPRoute the controller writes,
// and hands them to the simulated users.
func (s *scenario) routeSplit(ctx context.Context) string {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"})
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		return "-/-"
	}
	defer func() {
		if s.users != nil {
			s.users.canaryWeight.Store(int64(s.lastSplit[1]))
		}
	}()
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	weights := map[string]int64{}
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, b := range refs {
			m := b.(map[string]any)
			w, _, _ := unstructured.NestedInt64(m, "weight")
			weights[fmt.Sprint(m["name"])] += w
		}
	}
	s.lastSplit = [2]int{int(weights[name+"-primary"]), int(weights[name+"-canary"])}
	return fmt.Sprintf("%d/%d", weights[name+"-primary"], weights[name+"-canary"])
}

// users stand for production traffic: rate requests a second to the
// primary and the canary, split evenly by the route's weights. With them
// run the kubelet's readiness probes, which hit each podinfo process once a
// second as they would hit the pods, so that the request series of a canary
// exist before its first check.
type users struct {
	canaryWeight atomic.Int64
	cancel       context.CancelFunc
	done         chan struct{}
}

const userRate = 20

func startUsers(ctx context.Context, primary, canary string) *users {
	ctx, cancel := context.WithCancel(ctx)
	u := &users{cancel: cancel, done: make(chan struct{})}
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(url string) {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
		}
	}
	go func() {
		defer close(u.done)
		tick := time.NewTicker(time.Second / userRate)
		defer tick.Stop()
		// share accumulates the canary's weight so that its requests are
		// spread over the second, not sent in bursts
		share := int64(0)
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if n%userRate == 0 {
				go get(primary + "/readyz")
				go get(canary + "/readyz")
			}
			target := primary
			if share += u.canaryWeight.Load(); share >= 100 {
				share -= 100
				target = canary
			}
			go get(target + "/")
		}
	}()
	return u
}

func (u *users) stop() { u.cancel(); <-u.done }

// progress draws a status line, in place on a terminal.
type progress struct {
	out  io.Writer
	live bool
	last string
}

func (p *progress) show(line string) {
	switch {
	case p.live:
		fmt.Fprintf(p.out, "\r\033[K    %s", line)
	case line != p.last:
		fmt.Fprintf(p.out, "    %s\n", line)
	}
	p.last = line
}

func (p *progress) clear() {
	if p.live && p.last != "" {
		fmt.Fprint(p.out, "\r\033[K")
	}
}

// logTail follows the controller's JSON log and hands on the msg of every
// line about one canary, as `jq .msg` would print it.
type logTail struct {
	mu   sync.Mutex
	msgs []string
	quit chan struct{}
	done chan struct{}
}

func tailLog(path, canary string, each func(string)) *logTail {
	t := &logTail{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		var offset int64
		for {
			offset = t.read(path, offset, canary, each)
			select {
			case <-t.quit:
				t.read(path, offset, canary, each)
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return t
}

func (t *logTail) read(path string, offset int64, canary string, each func(string)) int64 {
	f, err := os.Open(path)
	if err != nil {
		return offset
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return offset // an unfinished line is read again next time
		}
		offset += int64(len(line))
		var entry struct {
			Msg    string `json:"msg"`
			Canary string `json:"canary"`
		}
		if json.Unmarshal(line, &entry) == nil && entry.Canary == canary {
			t.mu.Lock()
			t.msgs = append(t.msgs, entry.Msg)
			t.mu.Unlock()
			each(entry.Msg)
		}
	}
}

func (t *logTail) stop() {
	select {
	case <-t.quit:
	default:
		close(t.quit)
	}
	<-t.done
}

func (t *logTail) messages() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.msgs...)
}

// postTask asks the loadtester to run a command for a canary.
func postTask(ctx context.Context, base, canary, cmd string) error {
	body, _ := json.Marshal(webhooks.Payload{Name: canary, Namespace: namespace, Phase: "Progressing", Metadata: map[string]string{"type": "cmd", "cmd": cmd}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("loadtester answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Summary renders the outcome of a run.
func Summary(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Summary\n")
	fmt.Fprintf(&b, "  podinfo 3.1.1: promoted in %s through weights %v; podinfo-primary runs %s\n", r.Promotion.Round(time.Second), r.Weights, r.PromotedImage)
	fmt.Fprintf(&b, "  podinfo 3.1.2: rolled back in %s after %d failed checks; podinfo-primary still runs %s, the canary has %d replicas\n",
		r.Rollback.Round(time.Second), r.Failed.FailedChecks, r.PrimaryAfterRollback, r.CanaryReplicasAfterRollback)
	checks := r.Failed.Checks
	if rel := r.Failed.LatestRelease(); rel != nil {
		fmt.Fprintf(&b, "    release %d ended %s: %s: %s\n", rel.ID, rel.Outcome, rel.Reason, rel.Message)
		checks = r.Failed.ReleaseChecks(rel.ID)
	}
	for _, ch := range checks {
		if ch.Failed {
			fmt.Fprintf(&b, "    %s %s: %s\n", ch.Time.Format("15:04:05"), ch.Metric, ch.Message)
		}
	}
	fmt.Fprintf(&b, "  phases: %v\n", r.Phases)
	return b.String()
}
