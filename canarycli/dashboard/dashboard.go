// Package dashboard is the web dashboard of `kubectl canary dashboard`:
// server-rendered pages of every canary the user can list and of one
// release (its weight over time, each check's value against its threshold,
// events, webhooks), kept live by a watch pushed to the browser as
// server-sent events, with buttons for the plugin's operations.
//
// It is Argo Rollouts' pattern: the server runs on the user's machine,
// bound to loopback, and talks to the API server with the user's own
// kubeconfig, so it needs nothing new in the cluster and every read and
// every operation is subject to the user's RBAC. Buttons are shown only
// where a SelfSubjectAccessReview allows what the operation needs, and an
// operation is carried out with the user's credentials, so the API server
// refuses what the user may not do even when a request is forged.
//
// The pages are HTML written by Go code, the plots SVG laid out here, the
// script a few lines of plain JavaScript and the style sheet embedded
// files; all of it is in the binary, with no build step.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Action is an operation a button runs.
type Action string

// The operations of the buttons, named as the plugin's commands.
const (
	Promote Action = "promote"
	Abort   Action = "abort"
	Pause   Action = "pause"
	Resume  Action = "resume"
	Approve Action = "approve"
	Reject  Action = "reject"
)

// Actions lists the operations in the order of the buttons.
func Actions() []Action { return []Action{Promote, Approve, Pause, Resume, Abort, Reject} }

// Operator carries out the operations through the plugin's own commands,
// so that a button does exactly what the command does.
type Operator interface {
	// Needs lists the API permissions the operation needs on the canary;
	// ok is false when the operation does not apply to it (approve
	// without a gate webhook).
	Needs(c *flaggerv1.Canary, a Action) (attrs []authorizationv1.ResourceAttributes, ok bool)
	// Run carries the operation out with the user's credentials and
	// returns what the command printed.
	Run(ctx context.Context, c *flaggerv1.Canary, a Action) (string, error)
}

// Options configure a Server.
type Options struct {
	// Client reads, watches and reviews access with the user's
	// credentials.
	Client client.WithWatch
	// Namespace restricts the dashboard to one namespace; empty shows
	// every namespace the user can list canaries in.
	Namespace string
	// DefaultNamespace is shown when the user can list canaries in no
	// namespace beyond it (the kubeconfig context's).
	DefaultNamespace string
	// Operator runs the buttons' operations.
	Operator Operator
	// Hosts are the Host headers the server answers ("127.0.0.1:3100",
	// "localhost:3100"); a request for any other host is refused, which
	// keeps a web page that rebinds its DNS name to loopback out.
	Hosts []string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives errors of watches and of operations; discarded when
	// nil.
	Log *slog.Logger
}

// Server serves the dashboard.
type Server struct {
	o     Options
	token string

	weights *weightLog
	access  *accessCache
	scopes  *scopeCache
}

//go:embed static
var assets embed.FS

// tokenHeader carries the per-process token of an operation request.
const tokenHeader = "X-Warbler-Token"

// New returns a server; the token the pages carry for operation requests
// is new for every server.
func New(o Options) (*Server, error) {
	if o.Client == nil || o.Operator == nil || len(o.Hosts) == 0 {
		return nil, errors.New("dashboard: a client, an operator and the hosts served are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return &Server{o: o, token: base64.RawURLEncoding.EncodeToString(raw),
		weights: newWeightLog(), access: newAccessCache(o.Client, o.Now), scopes: &scopeCache{}}, nil
}

// Handler returns the dashboard's routes behind the host check.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.listPage)
	mux.HandleFunc("GET /live", s.listLive)
	mux.HandleFunc("GET /canaries/{namespace}/{name}", s.canaryPage)
	mux.HandleFunc("GET /canaries/{namespace}/{name}/live", s.canaryLive)
	mux.HandleFunc("POST /canaries/{namespace}/{name}/actions/{action}", s.act)
	return s.guard(mux)
}

// guard refuses requests for a host the server does not serve, and sets
// the headers that keep the pages out of other sites' frames and scripts.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(s.o.Hosts, r.Host) {
			http.Error(w, fmt.Sprintf("host %q is not served here; open http://%s/", r.Host, s.o.Hosts[0]), http.StatusMisdirectedRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// sameOrigin tells whether an operation request comes from a page of this
// server: the Origin a browser sets is this host, and the token is the one
// the pages carry. Another site can make the user's browser send a POST,
// but can neither set the header with the token nor read it from a page.
func (s *Server) sameOrigin(r *http.Request) error {
	if origin := r.Header.Get("Origin"); origin != "http://"+r.Host {
		return fmt.Errorf("origin %q is not this dashboard (http://%s)", origin, r.Host)
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(tokenHeader)), []byte(s.token)) != 1 {
		return errors.New("missing or wrong " + tokenHeader + ": reload the page")
	}
	return nil
}

// actionResult is the answer to an operation request.
type actionResult struct {
	OK     bool   `json:"ok"`
	Status int    `json:"status"`
	Output string `json:"output,omitempty"`
	Error  string `json:"error,omitempty"`
}

// act runs an operation with the user's credentials. It is not checked
// against the access review here: the API server decides, and its refusal
// is passed on as 403.
func (s *Server) act(w http.ResponseWriter, r *http.Request) {
	if err := s.sameOrigin(r); err != nil {
		writeJSON(w, actionResult{Status: http.StatusForbidden, Error: err.Error()})
		return
	}
	a := Action(r.PathValue("action"))
	if !slices.Contains(Actions(), a) {
		writeJSON(w, actionResult{Status: http.StatusNotFound, Error: fmt.Sprintf("unknown operation %q; valid: %v", a, Actions())})
		return
	}
	c, err := s.canary(r.Context(), r.PathValue("namespace"), r.PathValue("name"))
	if err != nil {
		writeJSON(w, actionResult{Status: apiStatus(err), Error: err.Error()})
		return
	}
	out, err := s.o.Operator.Run(r.Context(), c, a)
	res := actionResult{OK: err == nil, Status: http.StatusOK, Output: out}
	if err != nil {
		res.Status, res.Error = apiStatus(err), err.Error()
		s.o.Log.Info("dashboard operation failed", "canary", c.Key(), "operation", string(a), "error", err.Error())
	}
	writeJSON(w, res)
}

// apiStatus maps an error to the HTTP status the dashboard answers: the
// API server's own for its refusals, 502 for anything else.
func apiStatus(err error) int {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code >= 400 {
		return int(st.Status().Code)
	}
	return http.StatusBadGateway
}

func writeJSON(w http.ResponseWriter, res actionResult) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(res.Status)
	_ = json.NewEncoder(w).Encode(res)
}
