package loadtester

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/warbler-dev/warbler/loadtester/gates"
	"github.com/warbler-dev/warbler/webhooks"
)

// gateTimeout bounds a gate read or write.
const gateTimeout = 10 * time.Second

// gateKind and rollbackKind name the two gate families: their key prefix
// and the noun of their log lines.
type kind struct{ prefix, noun string }

var (
	gateKind     = kind{prefix: "", noun: "gate"}
	rollbackKind = kind{prefix: "rollback.", noun: "rollback"}
)

// payload reads a request's webhook payload and applies the namespace
// regexp; gates need a name and a namespace to make a key.
func (s *Server) payload(r *http.Request, needCanary bool) (webhooks.Payload, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return webhooks.Payload{}, readError(err)
	}
	p, err := DecodePayload(body)
	if err != nil {
		return p, err
	}
	if needCanary && (p.Name == "" || p.Namespace == "") {
		return p, invalid(`the payload needs the canary's "name" and "namespace"`)
	}
	return p, s.authorize(p.Namespace)
}

// gateCheck answers 200 "Approved" for an open gate and 403 "Forbidden" for
// a closed or unknown one.
func (s *Server) gateCheck(k kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.payload(r, true)
		if err != nil {
			writeError(w, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), gateTimeout)
		defer cancel()
		key := k.prefix + p.Key()
		open, err := s.opts.Gates.IsOpen(ctx, key)
		if err != nil {
			writeError(w, err)
			return
		}
		s.opts.Metrics.gateCheck(k.noun, open)
		s.opts.Logger.Info(fmt.Sprintf("%s %s check: approved %v", key, k.noun, open), "canary", p.Key())
		if open {
			writeText(w, http.StatusOK, "Approved")
			return
		}
		writeText(w, http.StatusForbidden, "Forbidden")
	}
}

// gateSet opens or closes a gate and answers 202, logging who did it.
func (s *Server) gateSet(k kind, open bool) http.HandlerFunc {
	verb := map[bool]string{true: "opened", false: "closed"}[open]
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.payload(r, true)
		if err != nil {
			writeError(w, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), gateTimeout)
		defer cancel()
		change := gates.Change{Key: k.prefix + p.Key(), Open: open, By: caller(r.Context()), At: time.Now().UTC()}
		if err := s.opts.Gates.Set(ctx, change); err != nil {
			writeError(w, err)
			return
		}
		s.opts.Logger.Info(fmt.Sprintf("%s %s %s", change.Key, k.noun, verb),
			"canary", p.Key(), "by", change.By, "at", change.At.Format(time.RFC3339))
		w.WriteHeader(http.StatusAccepted)
	}
}

// task runs the task a payload names.
func (s *Server) task(w http.ResponseWriter, r *http.Request) {
	started := time.Now()
	p, err := s.payload(r, false)
	var t Task
	if err == nil {
		t, err = TaskFromPayload(p)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(s.tasks, s.opts.TaskTimeout)
	defer cancel()
	res, err := s.opts.Tasks.Run(ctx, t)
	typ := t.Type
	if !s.opts.Tasks.Has(typ) {
		typ = "unknown" // keep the label's values bounded
	}
	if err != nil {
		code, _ := statusOf(err)
		s.opts.Metrics.task(typ, code, started)
		writeError(w, err)
		return
	}
	s.opts.Metrics.task(typ, res.Status, started)
	writeText(w, res.Status, res.Body)
}

// result serves the latest load result of a canary as JSON
// (webhooks.LoadResult); ?generator=load or hey picks one, by default the
// load task's, else hey's.
func (s *Server) result(w http.ResponseWriter, r *http.Request) {
	ns, name := chi.URLParam(r, "namespace"), chi.URLParam(r, "name")
	if err := s.authorize(ns); err != nil {
		writeError(w, err)
		return
	}
	gen := r.URL.Query().Get("generator")
	if gen != "" && gen != GeneratorLoad && gen != GeneratorHey {
		writeError(w, invalid("generator %q: want load or hey", gen))
		return
	}
	res, found := s.opts.Results.Get(name+"."+ns, gen)
	if !found {
		writeError(w, statusError(http.StatusNotFound, "no load result for %s.%s yet: run a load task (or a hey cmd) for it first", name, ns))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}
