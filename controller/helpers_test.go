package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/controllertest"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard())
	env = testenv.New()
	os.Exit(env.Run(m))
}

// logBuffer collects the controller's JSON log lines.
type logBuffer struct {
	testenv.LogBuffer
}

// messages returns the msg of every line about a canary, in order: what
// `jq .msg` shows.
func (b *logBuffer) messages(canary string) []string {
	var out []string
	for _, l := range b.Lines() {
		if c, _ := l["canary"].(string); c == canary {
			out = append(out, fmt.Sprint(l["msg"]))
		}
	}
	return out
}

// waitLog waits for a log line about the canary with exactly msg.
func (b *logBuffer) waitLog(t *testing.T, canary, msg string, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		for _, m := range b.messages(canary) {
			if m == msg {
				return nil
			}
		}
		return fmt.Errorf("no log line %q for %s", msg, canary)
	})
}

// startController runs the controller in-process for the namespaces until
// the test ends.
func startController(t *testing.T, logs io.Writer, namespaces ...string) {
	t.Helper()
	controllertest.Start(t, env, controllertest.Config{Namespaces: namespaces, Logs: logs})
}

// deployment and canary are the fixtures of testenv.
var (
	deployment = testenv.Deployment
	canary     = testenv.Canary
)

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	env.Create(t, objs...)
}

func getCanary(t *testing.T, ns, name string) *flaggerv1.Canary {
	t.Helper()
	var c flaggerv1.Canary
	env.Get(t, ns, name, &c)
	return &c
}

func getDeployment(t *testing.T, ns, name string) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	env.Get(t, ns, name, &d)
	return &d
}

// waitPhase waits for the phase, recording every canary weight seen on the
// way.
func waitPhase(t *testing.T, ns, name string, want flaggerv1.CanaryPhase, timeout time.Duration, weights *[]int) *flaggerv1.Canary {
	t.Helper()
	var last *flaggerv1.Canary
	testenv.Eventually(t, timeout, func() error {
		var c flaggerv1.Canary
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c); err != nil {
			return err
		}
		last = &c
		if weights != nil && (len(*weights) == 0 || (*weights)[len(*weights)-1] != c.Status.CanaryWeight) {
			*weights = append(*weights, c.Status.CanaryWeight)
		}
		if c.Status.Phase != want {
			return fmt.Errorf("canary %s.%s phase %q (weight %d, failed checks %d, message %q), want %s",
				name, ns, c.Status.Phase, c.Status.CanaryWeight, c.Status.FailedChecks, c.Status.Message, want)
		}
		return nil
	})
	return last
}

// setImage changes the target's image: a new revision.
func setImage(t *testing.T, ns, name, image string) {
	t.Helper()
	d := getDeployment(t, ns, name)
	patch := client.MergeFrom(d.DeepCopy())
	d.Spec.Template.Spec.Containers[0].Image = image
	if err := env.Client.Patch(context.Background(), d, patch); err != nil {
		t.Fatal(err)
	}
}

// hookServer answers webhooks on 127.0.0.1 by the webhook's name, sent as
// the path /<name>, and records every call.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	status map[string]int
	calls  []hookCall
}

type hookCall struct {
	Name    string
	Payload map[string]any
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{status: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p map[string]any
		_ = json.NewDecoder(r.Body).Decode(&p)
		name := strings.TrimPrefix(r.URL.Path, "/")
		h.mu.Lock()
		h.calls = append(h.calls, hookCall{Name: name, Payload: p})
		code, ok := h.status[name]
		h.mu.Unlock()
		if !ok {
			code = http.StatusOK
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "hook %s answered %d", name, code)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) set(name string, code int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.status[name] = code
}

func (h *hookServer) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.calls {
		if c.Name == name {
			n++
		}
	}
	return n
}

func (h *hookServer) hook(name string, typ flaggerv1.HookType) flaggerv1.CanaryWebhook {
	return flaggerv1.CanaryWebhook{Name: name, Type: typ, URL: h.URL + "/" + name, Timeout: "5s"}
}

// checkEnded asserts that a release ended with outcome and reason, in the
// status and in the last entry of the history, and that the message names
// what failed.
func checkEnded(t *testing.T, c *flaggerv1.Canary, outcome flaggerv1.ReleaseOutcome, reason flaggerv1.CanaryReason, message string) *flaggerv1.CanaryRelease {
	t.Helper()
	st := c.Status
	if st.Reason != reason || !strings.Contains(st.Message, message) {
		t.Errorf("status reason %q message %q, want %s and a message with %q", st.Reason, st.Message, reason, message)
	}
	r := st.LatestRelease()
	if r == nil {
		t.Fatalf("no release in the history of canary %s", c.Key())
	}
	if r.EndTime == nil || r.Outcome != outcome || r.Reason != reason || !strings.Contains(r.Message, message) ||
		r.Revision != st.LastAppliedSpec || len(r.Images) == 0 || r.EndTime.Before(&r.StartTime) {
		t.Errorf("release %+v: want it ended %s, reason %s, a message with %q, revision %s, its images", *r, outcome, reason, message, st.LastAppliedSpec)
	}
	return r
}

// deleteCanary deletes a Canary and waits until it is gone, its finalizer
// done.
func deleteCanary(t *testing.T, ns, name string) {
	t.Helper()
	if err := env.Client.Delete(context.Background(), getCanary(t, ns, name)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, func() error {
		var c flaggerv1.Canary
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("canary still there (finalizers %v, phase %s, %v)", c.Finalizers, c.Status.Phase, err)
	})
}
