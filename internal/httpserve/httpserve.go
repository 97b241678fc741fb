// Package httpserve runs an http.Server until a context ends, the way every
// Warbler binary stops serving: requests in flight get a grace period, then
// the connections still open (live dashboard streams, tasks that outlast
// the grace) are closed.
package httpserve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Run serves srv on ln until ctx ends, then shuts it down, waiting at most
// grace for requests in flight before it closes what is left. forced tells
// whether connections had to be closed. err is Serve's when the server
// stopped before ctx ended (the listener failed), else nil.
func Run(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) (forced bool, err error) {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return false, nil
		}
		return false, err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return true, nil
	}
	return false, nil
}
