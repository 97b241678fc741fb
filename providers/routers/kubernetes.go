package routers

import (
	"context"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// KubernetesBlueGreen is Flagger's kubernetes provider: no traffic object.
// The apex service always selects the primary; the switch to the new version
// happens when the primary is re-templated at promotion. Test traffic
// reaches the canary through <svc>-canary.
type KubernetesBlueGreen struct{}

var _ Router = KubernetesBlueGreen{}

// NewKubernetesBlueGreen returns the kubernetes router.
func NewKubernetesBlueGreen(Deps) Router { return KubernetesBlueGreen{} }

// Reconcile has nothing to do: the services are kept by Services.
func (KubernetesBlueGreen) Reconcile(context.Context, *flaggerv1.Canary) error { return nil }

// SetRoutes has nothing to do: this provider cannot split traffic.
func (KubernetesBlueGreen) SetRoutes(context.Context, *flaggerv1.Canary, int, int, bool) error {
	return nil
}

// GetRoutes reports all traffic on the primary, or on the canary once the
// blue/green run went past its iterations, as Flagger does.
func (KubernetesBlueGreen) GetRoutes(_ context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	if a := c.Spec.Analysis; a != nil && a.Iterations > 0 && c.Status.Iterations > a.Iterations {
		return 0, 100, false, nil
	}
	return 100, 0, false, nil
}

// Finalize has nothing to revert.
func (KubernetesBlueGreen) Finalize(context.Context, *flaggerv1.Canary) error { return nil }
