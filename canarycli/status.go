package canarycli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ExitTimeout is the exit code of `status` when --timeout passes before the
// release ends.
const ExitTimeout = 2

// StatusResult is what `status -o json|yaml` prints once the release ended.
type StatusResult struct {
	Name      string                   `json:"name"`
	Namespace string                   `json:"namespace"`
	Phase     string                   `json:"phase"`
	Reason    string                   `json:"reason,omitempty"`
	Message   string                   `json:"message,omitempty"`
	Release   *flaggerv1.CanaryRelease `json:"release,omitempty"`
}

func (a *App) statusCmd() *command {
	var timeout time.Duration
	return &command{
		name: "status", args: "CANARY [--timeout 10m] [-o json|yaml]", minArgs: 1, maxArgs: 1, output: true,
		summary: "wait for the canary's current release to end, for CI: exit 0 when it succeeded, 1 when it failed, 2 when --timeout passed first",
		flags: func(fs *flag.FlagSet) {
			fs.DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait; 0 waits as long as it takes")
		},
		run: func(ctx context.Context, args []string) error { return a.status(ctx, args[0], timeout) },
	}
}

// status polls the canary until its release ended, printing a line each
// time its progress changes.
func (a *App) status(ctx context.Context, name string, timeout time.Duration) error {
	cl, c, err := a.canary(ctx, name)
	if err != nil {
		return err
	}
	wait := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	last := ""
	for {
		ended, progress, err := a.releaseState(wait, cl, c)
		if err != nil && wait.Err() == nil {
			return err
		}
		if progress != last && a.g.output == "" {
			fmt.Fprintf(a.Stdout, "canary %s: %s\n", c.Key(), progress)
			last = progress
		}
		if ended {
			return a.statusOutcome(c)
		}
		select {
		case <-wait.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &exitError{code: ExitTimeout, msg: fmt.Sprintf("canary %s: the release did not end within %v: %s", c.Key(), timeout, progress)}
		case <-time.After(a.PollInterval):
		}
		next, err := a.getCanary(wait, cl, name)
		if err != nil && wait.Err() == nil {
			return err
		}
		if next != nil {
			c = next
		}
	}
}

// releaseState tells whether the canary's current release ended, and
// describes where it is. A release has not ended while the target holds a
// change the controller has not seen yet (a CI job runs status right after
// it changed the image), while a request waits, or while the history has an
// open release.
func (a *App) releaseState(ctx context.Context, cl *cluster, c *flaggerv1.Canary) (bool, string, error) {
	st := c.Status
	where := fmt.Sprintf("%s, weight %d, failed checks %d", phaseName(st.Phase), st.CanaryWeight, st.FailedChecks)
	if r := reasonText(string(st.Reason), st.Message); r != "" {
		where += " (" + oneLine(r) + ")"
	}
	if st.Paused {
		where += ", paused"
	}
	if c.Spec.Suspend {
		where += ", suspended"
	}
	ref := c.Spec.TargetRef
	gen, err := targetGeneration(ctx, cl, c)
	if err != nil {
		return false, where, err
	}
	if st.ObservedTargetGeneration > 0 && gen > st.ObservedTargetGeneration {
		return false, fmt.Sprintf("%s; the controller has not seen generation %d of %s %s yet", where, gen, ref.Kind, ref.Name), nil
	}
	if v := c.Annotations[flaggerv1.RequestAnnotation]; v != "" {
		return false, where + "; request " + v + " not handled yet", nil
	}
	if r := st.LatestRelease(); r != nil && r.EndTime == nil {
		return false, fmt.Sprintf("%s; release %d of %s running", where, r.ID, r.Revision), nil
	}
	switch st.Phase {
	case flaggerv1.CanaryPhaseSucceeded, flaggerv1.CanaryPhaseFailed, flaggerv1.CanaryPhaseInitialized:
		return true, where, nil
	}
	return false, where, nil
}

// statusOutcome reports how the release ended: exit 0 when it succeeded
// (or, on a canary just initialized, when there is none), 1 when it failed.
func (a *App) statusOutcome(c *flaggerv1.Canary) error {
	st := c.Status
	res := StatusResult{Name: c.Name, Namespace: c.Namespace, Phase: string(st.Phase), Reason: string(st.Reason), Message: st.Message,
		Release: st.LatestRelease()}
	if a.g.output != "" {
		if err := a.print(res); err != nil {
			return err
		}
	} else {
		what := "no release has run yet"
		if r := res.Release; r != nil {
			what = fmt.Sprintf("release %d (%s) %s", r.ID, r.Revision, r.Outcome)
		}
		fmt.Fprintf(a.Stdout, "canary %s: %s: %s\n", c.Key(), what, oneLine(reasonText(res.Reason, res.Message)))
	}
	if st.Phase == flaggerv1.CanaryPhaseFailed {
		return errReported
	}
	return nil
}

// targetGeneration reads the metadata.generation of the canary's target,
// whatever its kind (Deployment, DaemonSet, Service, Knative Service).
func targetGeneration(ctx context.Context, cl *cluster, c *flaggerv1.Canary) (int64, error) {
	ref := c.Spec.TargetRef
	apiVersion := ref.APIVersion
	if apiVersion == "" {
		apiVersion = "apps/v1"
	}
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, ref.Kind))
	err := cl.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}, m)
	if apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("canary %s: its target %s %s is not found", c.Key(), ref.Kind, ref.Name)
	}
	if err != nil {
		return 0, explainAPIError(fmt.Errorf("reading %s %s.%s: %w", strings.ToLower(ref.Kind), ref.Name, c.Namespace, err), cl.config.Host)
	}
	return m.GetGeneration(), nil
}
