package canarycli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// requestOptions are the flags of the request commands.
type requestOptions struct {
	wait    bool
	timeout time.Duration
	skip    bool
}

func (a *App) requestCmds() []*command {
	specs := []struct {
		op      flaggerv1.Request
		summary string
	}{
		{flaggerv1.RequestPromote, "promote a canary waiting for approval (Waiting, WaitingPromotion); with --skip-analysis promote a running one at once"},
		{flaggerv1.RequestAbort, "roll a running or waiting canary back"},
		{flaggerv1.RequestRetry, "run the analysis of a Failed canary again, without a change to the target"},
		{flaggerv1.RequestPause, "hold a canary where it is until resume"},
		{flaggerv1.RequestResume, "end a pause"},
	}
	var out []*command
	for _, s := range specs {
		out = append(out, a.requestCmd(s.op, s.summary))
	}
	return out
}

func (a *App) requestCmd(op flaggerv1.Request, summary string) *command {
	o := &requestOptions{}
	args := "CANARY [--wait=false] [--timeout 2m]"
	if op == flaggerv1.RequestPromote {
		args = "CANARY [--skip-analysis] [--wait=false] [--timeout 2m]"
	}
	return &command{
		name: string(op), args: args + " [-o json|yaml]", summary: summary, minArgs: 1, maxArgs: 1, output: true,
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&o.wait, "wait", true, "wait until the controller handled the request, and fail if it refused it")
			fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long --wait waits")
			if op == flaggerv1.RequestPromote {
				fs.BoolVar(&o.skip, "skip-analysis", false, "promote now, skipping the rest of the analysis")
			}
		},
		run: func(ctx context.Context, args []string) error {
			if o.skip {
				return a.request(ctx, args[0], flaggerv1.RequestPromoteNow, o)
			}
			return a.request(ctx, args[0], op, o)
		},
	}
}

func requestValue(op flaggerv1.Request, id string) string {
	if id == "" {
		return string(op)
	}
	return string(op) + "/" + id
}

// request sets the request annotation with a metadata-only merge patch,
// so neither the spec nor the pod template changes and GitOps tools have
// nothing to revert, then waits for the controller's answer.
func (a *App) request(ctx context.Context, name string, op flaggerv1.Request, o *requestOptions) error {
	cl, c, err := a.canary(ctx, name)
	if err != nil {
		return err
	}
	id := a.Now().UTC().Format("20060102-150405.000000")
	value := requestValue(op, id)
	if pending := c.Annotations[flaggerv1.RequestAnnotation]; pending != "" {
		fmt.Fprintf(a.Stderr, "kubectl-canary: replacing the request %q that the controller has not handled yet\n", pending)
	}
	annotations := map[string]any{flaggerv1.RequestAnnotation: value, flaggerv1.RequestedByAnnotation: nil}
	if by := a.whoAmI(ctx, cl); by != "" {
		annotations[flaggerv1.RequestedByAnnotation] = by
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err := cl.client.Patch(ctx, c, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return explainAPIError(fmt.Errorf("canary %s: setting %s=%s: %w", c.Key(), flaggerv1.RequestAnnotation, value, err), cl.config.Host)
	}
	res := RequestResult{Canary: c.Key(), Annotation: flaggerv1.RequestAnnotation + "=" + value}
	if !o.wait {
		if a.g.output != "" {
			return a.print(res)
		}
		fmt.Fprintf(a.Stdout, "canary %s: %s requested (%s)\n", c.Key(), op, res.Annotation)
		return nil
	}
	if res.Record, err = a.awaitRequest(ctx, cl, c.Key(), name, op, id, o.timeout); err != nil {
		return err
	}
	if a.g.output != "" {
		if err := a.print(res); err != nil {
			return err
		}
		if !res.Record.Accepted {
			return errReported
		}
		return nil
	}
	if !res.Record.Accepted {
		return fmt.Errorf("canary %s: %s refused: %s", c.Key(), op, res.Record.Message)
	}
	fmt.Fprintf(a.Stdout, "canary %s: %s accepted: %s\n", c.Key(), op, res.Record.Message)
	return nil
}

// RequestResult is what a request command prints with -o json|yaml: the
// annotation it set and, with --wait, how the controller handled it.
type RequestResult struct {
	Canary     string                   `json:"canary"`
	Annotation string                   `json:"annotation"`
	Record     *flaggerv1.RequestRecord `json:"record,omitempty"`
}

// awaitRequest polls status.lastRequest until it records the request.
func (a *App) awaitRequest(ctx context.Context, cl *cluster, key, name string, op flaggerv1.Request, id string, timeout time.Duration) (*flaggerv1.RequestRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := a.getCanary(ctx, cl, name)
		if err != nil && ctx.Err() == nil {
			return nil, err
		}
		if c != nil {
			if r := c.Status.LastRequest; r != nil && r.Operation == op && r.ID == id {
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("canary %s: %s/%s was not handled within %v: is the Warbler controller running and watching namespace %s? The annotation %s stays until it is",
				key, op, id, timeout, cl.namespace, flaggerv1.RequestAnnotation)
		case <-time.After(a.PollInterval):
		}
	}
}

// whoAmI names the user of the kubeconfig, as the API server knows it (a
// SelfSubjectReview), else as the kubeconfig names its user entry. The
// controller records it with the request.
func (a *App) whoAmI(ctx context.Context, cl *cluster) string {
	review := &authenticationv1.SelfSubjectReview{}
	if err := cl.client.Create(ctx, review); err == nil && review.Status.UserInfo.Username != "" {
		return review.Status.UserInfo.Username
	}
	return cl.authInfo
}
