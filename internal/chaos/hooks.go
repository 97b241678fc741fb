package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Hooks is a webhook receiver on 127.0.0.1 that counts the calls it gets
// per path and canary. /rollout answers 500 for the canaries Fails
// selects (a release that must roll back) and 200 for the others; /hang
// never answers until the receiver closes; every other path answers 200.
type Hooks struct {
	URL   string
	Fails func(canary string) bool

	srv  *http.Server
	stop chan struct{}
	mu   sync.Mutex
	n    map[string]int // "<path> <canary> <phase>" → calls
}

// StartHooks serves until Close.
func StartHooks(fails func(string) bool) (*Hooks, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &Hooks{URL: "http://" + ln.Addr().String(), Fails: fails, stop: make(chan struct{}), n: map[string]int{}}
	h.srv = &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *Hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct{ Name, Phase string }
	_ = json.NewDecoder(r.Body).Decode(&p)
	h.mu.Lock()
	h.n[r.URL.Path+" "+p.Name+" "+p.Phase]++
	h.mu.Unlock()
	switch {
	case r.URL.Path == "/hang":
		select {
		case <-h.stop:
		case <-r.Context().Done():
		}
	case r.URL.Path == "/rollout" && h.Fails != nil && h.Fails(p.Name):
		http.Error(w, "this release is bad", http.StatusInternalServerError)
	}
}

// Calls counts the calls of a path for a canary, in any phase when phase
// is "".
func (h *Hooks) Calls(path, canary, phase string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for k, v := range h.n {
		f := strings.SplitN(k, " ", 3)
		if f[0] == path && f[1] == canary && (phase == "" || f[2] == phase) {
			n += v
		}
	}
	return n
}

// Close stops the receiver and lets hanging calls return.
func (h *Hooks) Close() {
	close(h.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.srv.Shutdown(ctx)
}

// Webhooks are a canary's hooks on the receiver: a rollout check (which
// fails for bad releases) and a post-rollout notification.
func (h *Hooks) Webhooks(timeout string) []flaggerv1.CanaryWebhook {
	return []flaggerv1.CanaryWebhook{
		{Name: "check", Type: flaggerv1.RolloutHook, URL: h.URL + "/rollout", Timeout: timeout},
		{Name: "notify", Type: flaggerv1.PostRolloutHook, URL: h.URL + "/post-rollout", Timeout: timeout},
	}
}

// PostRolloutOnce reports the canaries whose post-rollout hook was called
// more than once: the protocol calls it once, after the final status is
// written (a kill between the two loses the call, it never repeats it).
func (h *Hooks) PostRolloutOnce(names []string) error {
	var twice []string
	for _, n := range names {
		if c := h.Calls("/post-rollout", n, ""); c > 1 {
			twice = append(twice, fmt.Sprintf("%s (%d)", n, c))
		}
	}
	if len(twice) > 0 {
		return fmt.Errorf("post-rollout hooks called more than once: %s", strings.Join(twice, ", "))
	}
	return nil
}
