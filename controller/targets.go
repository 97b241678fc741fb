package controller

import (
	"context"
	"fmt"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// A release moves traffic from a primary to a canary. For Deployments and
// DaemonSets (workload.go) the primary is a -primary copy of the pod
// template that Warbler creates, scales and promotes. Flagger also takes two
// targets without pods of their own, handled by objectTarget:
//   - a Service (core/v1): <target>-canary follows the Service as the user
//     changes it, <target>-primary holds the promoted copy (Flagger's
//     ServiceController);
//   - a Knative Service (serving.knative.dev/v1): its latest revision is the
//     canary, the revision recorded in flagger.app/primary-revision is the
//     primary (Flagger's KnativeController).
//
// Neither has replicas to scale, config references to track or an
// autoscaler of Warbler's.

// objectTarget is a target without a -primary workload.
type objectTarget interface {
	// find reads the target and its primary; a missing target wraps
	// errTargetMissing. It returns the target's revision.
	find(ctx context.Context) (string, error)
	// generation is the target's metadata.generation, as read by find.
	generation() int64
	// images are those of the target's containers (none for a Service),
	// for the release history.
	images() []string
	// created tells whether the primary exists.
	created() bool
	// ensure creates or corrects what the release relies on, before the
	// router reconciles.
	ensure(ctx context.Context) error
	// readiness of the primary and the canary, as read by find.
	readiness() (primary, canary analysis.Readiness)
	// matchesPrimary: the canary is what the primary runs.
	matchesPrimary() bool
	// promote makes the canary the primary.
	promote(ctx context.Context) error
}

// knativeAPIVersion is the apiVersion of Knative Service targets.
const knativeAPIVersion = "serving.knative.dev/v1"

// isKnative tells a Knative Service target from a core Service.
func isKnative(ref flaggerv1.LocalObjectReference) bool {
	return ref.Kind == "Service" && ref.APIVersion == knativeAPIVersion
}

// newObjectTarget returns the objectTarget of a Service or Knative Service
// target, or nil for workloads.
func (t *tick) newObjectTarget() objectTarget {
	ref := t.c.Spec.TargetRef
	switch {
	case isKnative(ref):
		return &knativeTarget{t: t}
	case ref.Kind == "Service":
		return &serviceTarget{t: t}
	}
	return nil
}

// checkTarget refuses target, provider and autoscaler combinations that
// cannot work, as Flagger does for Knative, naming the field.
func checkTarget(c *flaggerv1.Canary, provider string) error {
	ref := c.Spec.TargetRef
	switch {
	case isKnative(ref) && provider != routers.Knative:
		return &analysis.SpecError{Field: "spec.provider", Msg: fmt.Sprintf("a Knative Service target (%s) needs provider knative, not %q", knativeAPIVersion, provider)}
	case !isKnative(ref) && provider == routers.Knative:
		return &analysis.SpecError{Field: "spec.targetRef", Msg: fmt.Sprintf("provider knative needs a Knative Service target (apiVersion %s, kind Service), not %s %s", knativeAPIVersion, ref.APIVersion, ref.Kind)}
	case ref.Kind == "Service" && c.BaselineEnabled():
		return &analysis.SpecError{Field: "spec.analysis.baseline", Msg: "a baseline is a copy of the primary Deployment: a Service target has none; compare against: Primary instead"}
	case ref.Kind == "Service" && c.Spec.AutoscalerRef != nil:
		return &analysis.SpecError{Field: "spec.autoscalerRef", Msg: "a Service target has no pods of Warbler's to scale; remove autoscalerRef (Knative scales its revisions itself)"}
	case ref.Kind == "Service" && !isKnative(ref) && c.Spec.Service.Name != "" && c.Spec.Service.Name != ref.Name:
		return &analysis.SpecError{Field: "spec.service.name", Msg: fmt.Sprintf("with a Service target the routes use %s-primary and %s-canary: leave spec.service.name empty or set it to %q", ref.Name, ref.Name, ref.Name)}
	case ref.Kind == "Service" && !isKnative(ref) && ref.APIVersion != "v1":
		return &analysis.SpecError{Field: "spec.targetRef.apiVersion", Msg: fmt.Sprintf("%q: a Service target is apiVersion v1 (a core Service) or %s (a Knative Service)", ref.APIVersion, knativeAPIVersion)}
	}
	return nil
}
