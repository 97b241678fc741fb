package testenv

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// Traffic sends about rps GET requests per second to a base URL plus
// Path until the test ends; the path can be switched while it runs
// (Path.Store("/status/500")). Sent counts the requests sent.
type Traffic struct {
	Path atomic.Value
	Sent atomic.Int64
}

// StartTraffic sends traffic to base, a loopback URL, until the test ends.
func StartTraffic(t testing.TB, base string, rps int) *Traffic {
	tr := &Traffic{}
	tr.Path.Store("/")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / time.Duration(rps))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				go func() {
					resp, err := client.Get(base + tr.Path.Load().(string))
					if err == nil {
						resp.Body.Close()
					}
					tr.Sent.Add(1)
				}()
			}
		}
	}()
	return tr
}
