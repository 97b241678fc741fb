package canarycli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/webhooks"
)

// gateOptions are the flags of approve and reject.
type gateOptions struct {
	hook   string
	direct bool
}

func (a *App) approveCmd() *command { return a.gateCmd(true) }
func (a *App) rejectCmd() *command  { return a.gateCmd(false) }

func (a *App) gateCmd(approve bool) *command {
	o := &gateOptions{}
	name, summary := "approve", "open the loadtester gates of a canary's confirm-* webhooks (/gate/open)"
	if !approve {
		name, summary = "reject", "close the gates (/gate/close) and signal the rollback webhooks (/rollback/open)"
	}
	return &command{
		name: name, args: "CANARY [--hook NAME] [--direct] [-o json|yaml]", summary: summary, minArgs: 1, maxArgs: 1, output: true,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&o.hook, "hook", "", "only the webhook with this name")
			fs.BoolVar(&o.direct, "direct", false, "call the loadtester URLs directly instead of through the API server's service proxy")
		},
		run: func(ctx context.Context, args []string) error { return a.gates(ctx, args[0], approve, o) },
	}
}

// gateCall is one POST to a loadtester.
type gateCall struct {
	hook   flaggerv1.CanaryWebhook
	target *url.URL
	action string // "gate opened", ...
}

// gateCalls finds the calls for approve or reject: the gate URLs of the
// confirm-* webhooks ending in /gate/check, and for reject the rollback
// webhooks ending in /rollback/check.
func gateCalls(c *flaggerv1.Canary, approve bool, only string) ([]gateCall, error) {
	var calls []gateCall
	seen := map[string]bool{}
	add := func(h flaggerv1.CanaryWebhook, check, endpoint, action string) {
		u, err := url.Parse(h.URL)
		if err != nil || !strings.HasSuffix(strings.TrimRight(u.Path, "/"), check) || (only != "" && h.Name != only) {
			return
		}
		t := *u
		t.Path = strings.TrimSuffix(strings.TrimRight(u.Path, "/"), check) + endpoint
		t.RawQuery = ""
		if !seen[t.String()] {
			seen[t.String()] = true
			calls = append(calls, gateCall{hook: h, target: &t, action: action})
		}
	}
	var hooks []flaggerv1.CanaryWebhook
	if c.Spec.Analysis != nil {
		hooks = c.Spec.Analysis.Webhooks
	}
	for _, h := range hooks {
		switch h.Type {
		case flaggerv1.ConfirmRolloutHook, flaggerv1.ConfirmPromotionHook, flaggerv1.ConfirmTrafficIncreaseHook:
			if approve {
				add(h, "/gate/check", "/gate/open", "gate opened")
			} else {
				add(h, "/gate/check", "/gate/close", "gate closed")
			}
		case flaggerv1.RollbackHook:
			if !approve {
				add(h, "/rollback/check", "/rollback/open", "rollback signalled")
			}
		}
	}
	if len(calls) == 0 {
		return nil, noGates(c, approve, only)
	}
	return calls, nil
}

func noGates(c *flaggerv1.Canary, approve bool, only string) error {
	what := "no gate webhooks: approve needs a confirm-rollout, confirm-promotion or confirm-traffic-increase webhook whose URL ends in /gate/check"
	if !approve {
		what = "no gate or rollback webhooks: reject needs a confirm-* webhook whose URL ends in /gate/check or a rollback webhook whose URL ends in /rollback/check"
	}
	if only != "" {
		what = fmt.Sprintf("no webhook named %q among its gate webhooks", only)
	}
	return fmt.Errorf("canary %s has %s", c.Key(), what)
}

func (a *App) gates(ctx context.Context, name string, approve bool, o *gateOptions) error {
	cl, c, err := a.canary(ctx, name)
	if err != nil {
		return err
	}
	calls, err := gateCalls(c, approve, o.hook)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"name": c.Name, "namespace": c.Namespace})
	failed := 0
	results := []GateResult{}
	for _, call := range calls {
		via, err := a.postGate(ctx, cl, c, call, body, o.direct)
		res := GateResult{Hook: call.hook.Name, Type: hookType(call.hook), URL: call.target.String(), Action: call.action,
			ViaServiceProxy: via != ""}
		if err != nil {
			failed++
			res.Error = oneLine(err.Error())
			fmt.Fprintf(a.Stderr, "kubectl-canary: canary %s: webhook %s: %s\n", c.Key(), call.hook.Name, res.Error)
		} else if a.g.output == "" {
			fmt.Fprintf(a.Stdout, "canary %s: %s: POST %s (%s webhook %s%s)\n", c.Key(), call.action, call.target, hookType(call.hook), call.hook.Name, via)
		}
		results = append(results, res)
	}
	if a.g.output != "" {
		if err := a.print(results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return errReported
	}
	return nil
}

// GateResult is one call of approve or reject, as -o json|yaml prints it.
type GateResult struct {
	Hook            string `json:"hook"`
	Type            string `json:"type"`
	URL             string `json:"url"`
	Action          string `json:"action"`
	ViaServiceProxy bool   `json:"viaServiceProxy,omitempty"`
	Error           string `json:"error,omitempty"`
}

func hookType(h flaggerv1.CanaryWebhook) string {
	if h.Type == "" {
		return string(flaggerv1.RolloutHook)
	}
	return string(h.Type)
}

// gateTimeout bounds one call to a loadtester.
const gateTimeout = 10 * time.Second

// postGate POSTs to the loadtester: through the API server's service proxy
// when the host names a Service, so it works from a laptop; directly for
// an IP, localhost or an outside host. It returns how it got there.
func (a *App) postGate(ctx context.Context, cl *cluster, c *flaggerv1.Canary, call gateCall, body []byte, direct bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, gateTimeout)
	defer cancel()
	token, key := a.hookSecret(ctx, cl, c, call.hook)
	target, via := call.target.String(), ""
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if path, ok := serviceProxyPath(call.target, c.Namespace); ok && !direct {
		var err error
		if hc, err = rest.HTTPClientFor(cl.config); err != nil {
			return "", err
		}
		target, via = strings.TrimRight(cl.config.Host, "/")+path, ", via the API server's service proxy"
		if token != "" {
			fmt.Fprintf(a.Stderr, "kubectl-canary: webhook %s: its bearer token cannot pass the API server proxy; use --direct with a port-forward if the loadtester requires it\n", call.hook.Name)
		}
		token = ""
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if len(key) > 0 {
		// signed with the loadtester's own path, which is what it sees
		// also behind the service proxy
		req.Header.Set(webhooks.SignatureHeader, webhooks.Sign(key, a.Now(), call.target.EscapedPath(), body))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", call.target, rootCause(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if !webhooks.Succeeded(resp.StatusCode) {
		return "", fmt.Errorf("POST %s%s answered %s: %s", call.target, via, resp.Status, strings.TrimSpace(string(msg)))
	}
	return via, nil
}

// serviceProxyPath maps a URL whose host names a Service ("<svc>",
// "<svc>.<ns>", "<svc>.<ns>.svc[.<cluster domain>]") to its path under the
// API server's service proxy. IPs, localhost and other hosts are called
// directly.
func serviceProxyPath(u *url.URL, canaryNS string) (string, bool) {
	ns, name, ok := serviceProxyTarget(u, canaryNS)
	if !ok {
		return "", false
	}
	return "/api/v1/namespaces/" + ns + "/services/" + name + "/proxy" + u.EscapedPath(), true
}

// serviceProxyTarget is the namespace and the name ("[https:]<svc>:<port>")
// through which the service proxy reaches the URL; RBAC authorizes "create"
// on services/proxy under that name.
func serviceProxyTarget(u *url.URL, canaryNS string) (ns, name string, ok bool) {
	host := u.Hostname()
	if host == "" || host == "localhost" || net.ParseIP(host) != nil {
		return "", "", false
	}
	labels := strings.Split(host, ".")
	svc := labels[0]
	ns = canaryNS
	switch {
	case len(labels) == 1:
	case len(labels) == 2, len(labels) >= 3 && labels[2] == "svc":
		ns = labels[1]
	default:
		return "", "", false
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	name = svc + ":" + port
	if u.Scheme == "https" {
		name = "https:" + name
	}
	return ns, name, true
}

// hookSecret reads the token and HMAC key of a webhook's secretRef; the
// loadtester may require them. Without access to the Secret the call is
// made without them.
func (a *App) hookSecret(ctx context.Context, cl *cluster, c *flaggerv1.Canary, h flaggerv1.CanaryWebhook) (string, []byte) {
	if h.SecretRef == nil {
		return "", nil
	}
	var s corev1.Secret
	if err := cl.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: h.SecretRef.Name}, &s); err != nil {
		fmt.Fprintf(a.Stderr, "kubectl-canary: webhook %s: cannot read secret %s.%s, calling without its token and signature: %s\n",
			h.Name, h.SecretRef.Name, c.Namespace, oneLine(rootCause(err).Error()))
		return "", nil
	}
	return strings.TrimSpace(string(s.Data["token"])), s.Data["hmacKey"]
}
