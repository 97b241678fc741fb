package canarycli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli/dashboard"
	"github.com/warbler-dev/warbler/internal/httpserve"
)

// dashboardWait is how long a button waits for the controller to handle
// its request, as --wait does with --timeout.
const dashboardWait = 30 * time.Second

func (a *App) dashboardCmd() *command {
	var port int
	var address string
	return &command{
		name: "dashboard", args: "[--port 3100] [--address 127.0.0.1] [-n NAMESPACE]", minArgs: 0, maxArgs: 0,
		summary: "serve a live web dashboard of the canaries on this machine, with your kubeconfig's credentials (every namespace you can list, or -n's)",
		flags: func(fs *flag.FlagSet) {
			fs.IntVar(&port, "port", 3100, "port to serve on (0: any free port)")
			fs.StringVar(&address, "address", "127.0.0.1", "address to serve on; anyone who reaches a non-loopback address reads with your credentials")
		},
		run: func(ctx context.Context, _ []string) error {
			if port < 0 || port > 65535 {
				return usagef("--port %d: valid ports are 0 to 65535", port)
			}
			if net.ParseIP(address) == nil && address != "localhost" {
				return usagef("--address %q: give an IP address, such as 127.0.0.1", address)
			}
			return a.dashboard(ctx, address, port)
		},
	}
}

// dashboard serves the dashboard until ctx ends.
func (a *App) dashboard(ctx context.Context, address string, port int) error {
	only := a.g.namespace // before connect fills in the context's
	cl, err := a.connect()
	if err != nil {
		return err
	}
	// the shared client's timeout would cut every watch after it
	cfg := rest.CopyConfig(cl.config)
	cfg.Timeout = 0
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: cl.client.Scheme()})
	if err != nil {
		return explainAPIError(err, cfg.Host)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("serving the dashboard on %s: %w (choose another --port)", net.JoinHostPort(address, strconv.Itoa(port)), err)
	}
	hosts := dashboardHosts(address, ln.Addr().(*net.TCPAddr).Port)
	srv, err := dashboard.New(dashboard.Options{Client: wc, Namespace: only, DefaultNamespace: cl.namespace,
		Operator: &dashboardOperator{a: a, cl: cl}, Hosts: hosts, Now: a.Now, Log: slog.New(slog.NewTextHandler(a.Stderr, nil))})
	if err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	if ip := net.ParseIP(address); ip != nil && !ip.IsLoopback() {
		fmt.Fprintf(a.Stderr, "kubectl-canary: warning: --address %s is not loopback: whoever reaches it reads your canaries with your credentials\n", address)
	}
	fmt.Fprintf(a.Stdout, "Serving the Warbler dashboard on http://%s/ with the credentials of your kubeconfig; Ctrl-C stops it.\n", hosts[0])
	// live pages hold their streams until they are closed
	_, err = httpserve.Run(ctx, hs, ln, 5*time.Second)
	return err
}

// dashboardHosts are the Host headers the dashboard answers: the address
// it serves on, and localhost's names when that is loopback.
func dashboardHosts(address string, port int) []string {
	p := strconv.Itoa(port)
	hosts := []string{net.JoinHostPort(address, p)}
	if ip := net.ParseIP(address); address == "localhost" || (ip != nil && ip.IsLoopback()) {
		for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
			if hp := net.JoinHostPort(h, p); hp != hosts[0] {
				hosts = append(hosts, hp)
			}
		}
	}
	return hosts
}

// dashboardOperator runs the dashboard's buttons through the commands'
// own code: request (promote, abort, pause, resume) and gates (approve,
// reject), with the user's client, so the API server's RBAC decides.
type dashboardOperator struct {
	a  *App
	cl *cluster
}

var _ dashboard.Operator = (*dashboardOperator)(nil)

// Needs: the annotation requests patch the Canary; approve and reject
// create services/proxy for each gate reached through the API server,
// and need nothing of Kubernetes for a gate called directly (the
// loadtester's own authentication guards it, as for the CLI).
func (o *dashboardOperator) Needs(c *flaggerv1.Canary, act dashboard.Action) ([]authorizationv1.ResourceAttributes, bool) {
	if act != dashboard.Approve && act != dashboard.Reject {
		return []authorizationv1.ResourceAttributes{{Namespace: c.Namespace, Verb: "patch", Group: flaggerv1.GroupVersion.Group,
			Resource: "canaries", Name: c.Name}}, true
	}
	calls, err := gateCalls(c, act == dashboard.Approve, "")
	if err != nil {
		return nil, false
	}
	var attrs []authorizationv1.ResourceAttributes
	for _, call := range calls {
		if ns, name, ok := serviceProxyTarget(call.target, c.Namespace); ok {
			attrs = append(attrs, authorizationv1.ResourceAttributes{Namespace: ns, Verb: "create", Resource: "services", Subresource: "proxy", Name: name})
		}
	}
	return attrs, true
}

// Run runs the command's function in an App of the canary's namespace
// whose output is returned.
func (o *dashboardOperator) Run(ctx context.Context, c *flaggerv1.Canary, act dashboard.Action) (string, error) {
	var out bytes.Buffer
	sub := &App{Stdout: &out, Stderr: &out, Getenv: o.a.Getenv, Now: o.a.Now, PollInterval: o.a.PollInterval, g: o.a.g,
		cluster: &cluster{client: o.cl.client, config: o.cl.config, namespace: c.Namespace}}
	var err error
	switch act {
	case dashboard.Approve, dashboard.Reject:
		err = sub.gates(ctx, c.Name, act == dashboard.Approve, &gateOptions{})
	default:
		err = sub.request(ctx, c.Name, flaggerv1.Request(act), &requestOptions{wait: true, timeout: dashboardWait})
	}
	if errors.Is(err, errReported) {
		err = fmt.Errorf("canary %s: %s failed for some of its webhooks", c.Key(), act)
	}
	return out.String(), err
}
