package loadtester

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/warbler-dev/warbler/internal/httpserve"
	"github.com/warbler-dev/warbler/internal/version"
	"github.com/warbler-dev/warbler/loadtester/gates"
)

// Options configure a Server.
type Options struct {
	// Addr to listen on, such as ":9090".
	Addr string
	// Tasks dispatches the task endpoint by type.
	Tasks *Registry
	// Gates holds the gate and rollback states.
	Gates gates.Store
	// Results holds the latest load results.
	Results *Results
	// Auth authenticates every endpoint but /healthz and /metrics; nil or
	// empty lets everyone in, as in Flagger.
	Auth *Auth
	// NamespaceRegexp, when set, is matched against the payload's
	// namespace; a mismatch is Flagger's 403 "Forbidden".
	NamespaceRegexp *regexp.Regexp
	// MaxBodyBytes bounds a request body; 1 MiB when zero.
	MaxBodyBytes int64
	// TaskTimeout bounds a synchronous task; the response write deadline
	// is a minute longer.
	TaskTimeout time.Duration
	// ShutdownGrace is how long running requests may finish on shutdown
	// before their tasks are cancelled; 30s when zero.
	ShutdownGrace time.Duration
	Metrics       *Metrics
	Logger        *slog.Logger
}

// Server is the loadtester's HTTP API.
type Server struct {
	opts    Options
	handler http.Handler
	// tasks is the parent of every synchronous task: not the request's
	// context, because Flagger's loadtester lets a task finish when the
	// caller gives up (a load run then still records its result), but
	// cancelled when the server shuts down and the grace period is over.
	tasks       context.Context
	cancelTasks context.CancelFunc
}

// NewServer builds the routes.
func NewServer(o Options) *Server {
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	if o.Results == nil {
		o.Results = NewResults()
	}
	if o.Tasks == nil {
		o.Tasks = NewRegistry()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.TaskTimeout <= 0 {
		o.TaskTimeout = time.Hour
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = 30 * time.Second
	}
	s := &Server{opts: o}
	s.tasks, s.cancelTasks = context.WithCancel(context.Background())
	s.handler = s.routes()
	return s
}

// Handler is the API with its middleware, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// routes: chi only routes and applies middleware; every handler reads the
// payload, calls one store or task, and writes through writeError.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.recoverer, s.limitBody, s.authenticate)
	// Flagger's mux does not check methods, so neither do these routes.
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "OK") })
	r.Handle("/metrics", s.opts.Metrics.Handler())
	r.HandleFunc("/gate/approve", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "OK") })
	r.HandleFunc("/gate/halt", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusForbidden, "Forbidden") })
	r.HandleFunc("/gate/check", s.gateCheck(gateKind))
	r.HandleFunc("/gate/open", s.gateSet(gateKind, true))
	r.HandleFunc("/gate/close", s.gateSet(gateKind, false))
	r.HandleFunc("/rollback/check", s.gateCheck(rollbackKind))
	r.HandleFunc("/rollback/open", s.gateSet(rollbackKind, true))
	r.HandleFunc("/rollback/close", s.gateSet(rollbackKind, false))
	r.Get("/results/{namespace}/{name}", s.result)
	r.HandleFunc("/", s.task)
	// Flagger's task handler is the mux's catch-all, so a webhook URL with
	// any other path still reaches it.
	r.NotFound(s.task)
	return r
}

// Start listens on Options.Addr and serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("loadtester: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets running requests finish for ShutdownGrace, and then
// cancels their tasks and closes the connections.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		// A synchronous task answers when it is done: the write deadline
		// must outlast the longest one (Flagger's 1m cut long helm tests
		// short, fluxcd/flagger#527).
		WriteTimeout:   s.opts.TaskTimeout + time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		// the root context's values, not its cancellation: Shutdown lets
		// requests in flight finish
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug),
	}
	port := ln.Addr().(*net.TCPAddr).Port
	v := version.Get()
	s.opts.Logger.Info(fmt.Sprintf("Starting load tester %s API on port %d", v.Version, port),
		"commit", v.Commit, "goVersion", v.Go, "platform", v.Platform)
	forced, err := httpserve.Run(ctx, srv, ln, s.opts.ShutdownGrace)
	s.cancelTasks()
	switch {
	case err != nil:
		return fmt.Errorf("loadtester: %w", err)
	case forced:
		s.opts.Logger.Warn("HTTP server stopped after the grace period; running tasks were cancelled", "grace", s.opts.ShutdownGrace)
	default:
		s.opts.Logger.Info("HTTP server stopped")
	}
	return nil
}

// discardLogger is used when Options leave the logger out.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// recoverer turns a panic in a handler into a logged 500, where Flagger's
// net/http drops the connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.opts.Logger.Error("panic serving "+r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeText(w, http.StatusInternalServerError, "internal error: the loadtester failed to handle this request")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// authenticate reads the body (a signature covers it), checks the caller,
// and hands the body on. /healthz and /metrics stay open for probes and
// scrapers.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, readError(err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		identity := "anonymous"
		if s.opts.Auth.Enabled() {
			if identity, err = s.opts.Auth.verify(r, body); err != nil {
				s.opts.Logger.Warn("rejected "+r.Method+" "+r.URL.Path+" from "+r.RemoteAddr, "reason", err.Error())
				writeError(w, err)
				return
			}
		}
		next.ServeHTTP(w, withCaller(r, identity))
	})
}

func readError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return invalid("reading the request body: %v", err)
}

// authorize applies -namespace-regexp to the namespace a request names.
func (s *Server) authorize(namespace string) error {
	if re := s.opts.NamespaceRegexp; re != nil && !re.MatchString(namespace) {
		return errForbidden
	}
	return nil
}
