package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The pages stay live through server-sent events: the server watches what a
// page shows with the user's credentials and, when something changed,
// renders the page's content again and pushes it whole; the page swaps it
// in. Re-rendering on the server keeps one template for both, and a
// dashboard serves one user, so the cost does not matter.
const (
	// settle lets a burst of changes (one tick writes the status and
	// several events) arrive before the page is rendered again.
	settle = 200 * time.Millisecond
	// refresh re-renders now and then even without a change, so that ages
	// and the plots' "now" move on; an unchanged page is not sent.
	refresh = 10 * time.Second
	// rewatch is the pause before a closed watch is opened again.
	rewatch = time.Second
)

// opener opens one watch.
type opener func(ctx context.Context) (watch.Interface, error)

func (s *Server) watchOf(list client.ObjectList, opts ...client.ListOption) opener {
	return func(ctx context.Context) (watch.Interface, error) {
		return s.o.Client.Watch(ctx, list, opts...)
	}
}

func (s *Server) listLive(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("namespace")
	all, namespaces := s.scope(r.Context())
	var watches []opener
	for _, ns := range s.listNamespaces(all, namespaces, filter) {
		var opts []client.ListOption
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		watches = append(watches, s.watchOf(&flaggerv1.CanaryList{}, opts...))
	}
	s.stream(w, r, watches, func(ctx context.Context) ([]byte, error) {
		return fragment(s.listView(ctx, filter).write), nil
	})
}

func (s *Server) canaryLive(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	watches := []opener{
		s.watchOf(&flaggerv1.CanaryList{}, client.InNamespace(ns), client.MatchingFields{"metadata.name": name}),
		s.watchOf(&corev1.EventList{}, client.InNamespace(ns), eventsOf(name)),
	}
	s.stream(w, r, watches, func(ctx context.Context) ([]byte, error) {
		v, err := s.canaryView(ctx, ns, name)
		if err != nil {
			return nil, err
		}
		return fragment(v.write), nil
	})
}

// stream sends the page's content as "update" events: once at once, then
// after every change the watches report, until the browser goes away.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, watches []opener, render func(context.Context) ([]byte, error)) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	ctx := r.Context()
	changed := make(chan struct{}, 1)
	for _, open := range watches {
		go s.follow(ctx, open, changed)
	}
	var last []byte
	send := func() {
		body, err := render(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			body = fragment(func(h *hw) { h.el("p", err.Error(), "class", "error") })
		}
		if bytes.Equal(body, last) {
			fmt.Fprint(w, ": unchanged\n\n")
		} else {
			last = body
			writeEvent(w, "update", body)
		}
		flusher.Flush()
	}
	send()
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			send()
		case <-changed:
			select {
			case <-ctx.Done():
				return
			case <-time.After(settle):
			}
			send()
		}
	}
}

// follow reports every change a watch sees, and opens it again when the
// API server closes it, until ctx ends. A refused watch is not retried.
func (s *Server) follow(ctx context.Context, open opener, changed chan<- struct{}) {
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		wi, err := open(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.o.Log.Info("dashboard: watch failed", "error", err.Error())
			}
			if apierrors.IsForbidden(err) {
				return
			}
		} else {
			// changes may have been missed while the watch was closed
			notify()
			for range wi.ResultChan() {
				notify()
			}
			wi.Stop()
		}
		select {
		case <-ctx.Done():
		case <-time.After(rewatch):
		}
	}
}

// writeEvent writes one server-sent event; each line of data is a data
// field.
func writeEvent(w http.ResponseWriter, event string, data []byte) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "event: %s\n", event)
	for line := range bytes.Lines(data) {
		b.WriteString("data: ")
		b.Write(bytes.TrimRight(line, "\r\n"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, _ = w.Write(b.Bytes())
}
