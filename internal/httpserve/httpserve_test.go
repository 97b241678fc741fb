package httpserve

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A request in flight when the context ends is answered; Run then returns
// without forcing anything.
func TestRunLetsRequestsInFlightFinish(t *testing.T) {
	ln := listen(t)
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(200 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		forced bool
		err    error
	}
	ran := make(chan result, 1)
	go func() { f, err := Run(ctx, srv, ln, 5*time.Second); ran <- result{f, err} }()
	answer := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answer <- err.Error()
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		answer <- string(b)
	}()
	<-started
	cancel()
	if got := <-answer; got != "done" {
		t.Errorf("the request in flight got %q, want its answer %q", got, "done")
	}
	if r := <-ran; r.forced || r.err != nil {
		t.Errorf("Run returned forced=%v, %v; want a clean stop", r.forced, r.err)
	}
}

// A connection that outlasts the grace (a live stream) is closed, and Run
// says so.
func TestRunClosesWhatOutlastsTheGrace(t *testing.T) {
	ln := listen(t)
	streaming := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		close(streaming)
		<-r.Context().Done()
	})}
	ctx, cancel := context.WithCancel(context.Background())
	forced := make(chan bool, 1)
	go func() { f, _ := Run(ctx, srv, ln, 100*time.Millisecond); forced <- f }()
	res, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	<-streaming
	cancel()
	if !<-forced {
		t.Error("Run did not report the stream it had to close")
	}
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Error("the stream still reads to a clean end after Run returned; want it cut")
	}
}

// A listener that fails ends Run with Serve's error before the context
// ends.
func TestRunReturnsServeErrors(t *testing.T) {
	ln := listen(t)
	ln.Close()
	if _, err := Run(context.Background(), &http.Server{}, ln, time.Second); err == nil {
		t.Error("Run on a closed listener returned no error")
	}
}
