package routers

import (
	"context"
	"fmt"
	"maps"
	"math"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ReplicaRatio realises the canary weight as a replica ratio, for
// clusters without a mesh or gateway (what seeds 001 and 002 do by hand).
// The apex service has no selector; Warbler fills its EndpointSlice with the
// endpoints of <svc>-primary and, once the weight is above zero, of
// <svc>-canary, and scales the two Deployments so that the canary holds
// weight% of the pods. kube-proxy then spreads connections over them
// evenly. It is chosen with provider "kubernetes:replicas".
type ReplicaRatio struct {
	Deps
}

var _ BaselineRouter = (*ReplicaRatio)(nil)

// NewReplicaRatio returns the replica-ratio router.
func NewReplicaRatio(d Deps) Router { return &ReplicaRatio{Deps: d} }

const (
	// BaseReplicasAnnotation on the primary Deployment remembers its
	// replica count before the run, the pool the weight divides.
	BaseReplicasAnnotation = "warbler.dev/base-replicas"
	// WeightAnnotation on the apex EndpointSlice records the canary weight.
	WeightAnnotation = "warbler.dev/canary-weight"
	// BaselineWeightAnnotation on the apex EndpointSlice records the
	// baseline's weight (analysis.baseline).
	BaselineWeightAnnotation = "warbler.dev/baseline-weight"
	// endpointSliceManager marks the slices Warbler owns, so the
	// EndpointSlice controller leaves them alone.
	endpointSliceManager = "warbler.dev"
)

// Reconcile keeps the apex EndpointSlice in step with the primary's,
// canary's and baseline's endpoints.
func (r *ReplicaRatio) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	w, b, err := r.weights(ctx, c)
	if err != nil {
		return err
	}
	return r.syncEndpoints(ctx, c, w, b)
}

// SetRoutes scales the primary and the canary to the ratio and updates the
// apex endpoints.
func (r *ReplicaRatio) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	return r.split(ctx, c, primaryWeight, canaryWeight, 0)
}

// SetBaselineRoutes gives the baseline as many replicas as the canary, out
// of the primary's: seed 001's layout of sampleapp, sampleapp-baseline and
// sampleapp-canary behind one service.
func (r *ReplicaRatio) SetBaselineRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight, baselineWeight int) error {
	if err := checkWeights(c, primaryWeight, canaryWeight, baselineWeight); err != nil {
		return err
	}
	return r.split(ctx, c, primaryWeight, canaryWeight, baselineWeight)
}

func (r *ReplicaRatio) split(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight, baselineWeight int) error {
	primary, canary, err := r.deployments(ctx, c)
	if err != nil {
		return err
	}
	base := baseReplicas(primary)
	if canaryWeight == 0 {
		// back to the pool: the primary serves alone; the canary keeps
		// running for checks until the controller scales it down
		if err := r.setReplicas(ctx, primary, base, ""); err != nil {
			return err
		}
		return r.syncEndpoints(ctx, c, 0, 0)
	}
	canaryReplicas := int32(math.Ceil(float64(base) * float64(canaryWeight) / 100))
	canaryReplicas = min(max(canaryReplicas, 1), base)
	primaryReplicas := base - canaryReplicas
	if baselineWeight > 0 {
		baseline, err := r.deployment(ctx, c.Namespace, c.BaselineName())
		if err != nil {
			return err
		}
		if err := r.setReplicas(ctx, baseline, canaryReplicas, "-"); err != nil {
			return err
		}
		primaryReplicas -= canaryReplicas
	}
	if primaryWeight > 0 {
		primaryReplicas = max(primaryReplicas, 1)
	}
	if err := r.setReplicas(ctx, canary, canaryReplicas, "-"); err != nil {
		return err
	}
	if err := r.setReplicas(ctx, primary, max(primaryReplicas, 0), strconv.Itoa(int(base))); err != nil {
		return err
	}
	return r.syncEndpoints(ctx, c, canaryWeight, baselineWeight)
}

// GetRoutes reads the weights recorded on the apex EndpointSlice.
func (r *ReplicaRatio) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	w, b, err := r.weights(ctx, c)
	return 100 - w - b, w, false, err
}

// GetBaselineRoute reads the baseline's weight recorded on the apex
// EndpointSlice.
func (r *ReplicaRatio) GetBaselineRoute(ctx context.Context, c *flaggerv1.Canary) (int, error) {
	_, b, err := r.weights(ctx, c)
	return b, err
}

// weights reads the canary's and the baseline's weights recorded on the
// apex EndpointSlice.
func (r *ReplicaRatio) weights(ctx context.Context, c *flaggerv1.Canary) (canary, baseline int, err error) {
	var s discoveryv1.EndpointSlice
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: sliceName(c)}, &s)
	if apierrors.IsNotFound(err) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	canary, _ = strconv.Atoi(s.Annotations[WeightAnnotation])
	baseline, _ = strconv.Atoi(s.Annotations[BaselineWeightAnnotation])
	return canary, baseline, nil
}

// Finalize restores the primary to its full replica count.
func (r *ReplicaRatio) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	primary, _, err := r.deployments(ctx, c)
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	return r.setReplicas(ctx, primary, baseReplicas(primary), "")
}

func (r *ReplicaRatio) deployments(ctx context.Context, c *flaggerv1.Canary) (*appsv1.Deployment, *appsv1.Deployment, error) {
	primary, err := r.deployment(ctx, c.Namespace, c.PrimaryName())
	if err != nil {
		return nil, nil, err
	}
	canary, err := r.deployment(ctx, c.Namespace, c.Spec.TargetRef.Name)
	if err != nil {
		return nil, nil, err
	}
	return primary, canary, nil
}

func (r *ReplicaRatio) deployment(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	var d appsv1.Deployment
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &d); err != nil {
		return nil, fmt.Errorf("reading deployment %s.%s: %w", name, ns, err)
	}
	return &d, nil
}

// baseReplicas is the primary's replica count before the run started.
func baseReplicas(primary *appsv1.Deployment) int32 {
	if v, err := strconv.Atoi(primary.Annotations[BaseReplicasAnnotation]); err == nil && v > 0 {
		return int32(v)
	}
	if primary.Spec.Replicas != nil && *primary.Spec.Replicas > 0 {
		return *primary.Spec.Replicas
	}
	return 1
}

// setReplicas patches the replica count; base "" removes the annotation,
// "-" leaves it alone.
func (r *ReplicaRatio) setReplicas(ctx context.Context, d *appsv1.Deployment, n int32, base string) error {
	upd := d.DeepCopy()
	upd.Spec.Replicas = &n
	switch base {
	case "-":
	case "":
		delete(upd.Annotations, BaseReplicasAnnotation)
	default:
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[BaseReplicasAnnotation] = base
	}
	if d.Spec.Replicas != nil && *d.Spec.Replicas == n && maps.Equal(d.Annotations, upd.Annotations) {
		return nil
	}
	if err := r.Client.Patch(ctx, upd, client.MergeFrom(d)); err != nil {
		return fmt.Errorf("scaling %s.%s to %d: %w", d.Name, d.Namespace, n, err)
	}
	return nil
}

func sliceName(c *flaggerv1.Canary) string { return c.ApexServiceName() + "-warbler" }

// syncEndpoints writes the apex EndpointSlice: the primary's endpoints, plus
// the canary's and the baseline's when their weight is above zero.
func (r *ReplicaRatio) syncEndpoints(ctx context.Context, c *flaggerv1.Canary, weight, baseline int) error {
	apex, primary, canary := c.ServiceNames()
	want := discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4}
	sources := []string{primary}
	if weight > 0 {
		sources = append(sources, canary)
	}
	if baseline > 0 {
		sources = append(sources, c.BaselineServiceName())
	}
	for _, svc := range sources {
		var list discoveryv1.EndpointSliceList
		if err := r.Client.List(ctx, &list, client.InNamespace(c.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc}); err != nil {
			return fmt.Errorf("listing endpoints of %s.%s: %w", svc, c.Namespace, err)
		}
		for _, s := range list.Items {
			if s.AddressType != discoveryv1.AddressTypeIPv4 {
				continue
			}
			want.Endpoints = append(want.Endpoints, s.Endpoints...)
			if len(want.Ports) == 0 {
				want.Ports = s.Ports
			}
		}
	}
	var have discoveryv1.EndpointSlice
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: sliceName(c)}, &have)
	if apierrors.IsNotFound(err) {
		s := want.DeepCopy()
		s.ObjectMeta = metav1.ObjectMeta{Namespace: c.Namespace, Name: sliceName(c),
			Labels:      map[string]string{discoveryv1.LabelServiceName: apex, discoveryv1.LabelManagedBy: endpointSliceManager},
			Annotations: weightAnnotations(weight, baseline)}
		if err := controllerutil.SetControllerReference(c, s, r.Scheme); err != nil {
			return err
		}
		return r.Client.Create(ctx, s)
	}
	if err != nil {
		return err
	}
	upd := have.DeepCopy()
	upd.Endpoints, upd.Ports = want.Endpoints, want.Ports
	upd.Annotations = merged(upd.Annotations, weightAnnotations(weight, baseline))
	if baseline == 0 {
		delete(upd.Annotations, BaselineWeightAnnotation)
	}
	if maps.Equal(upd.Annotations, have.Annotations) && equalEndpoints(have.Endpoints, upd.Endpoints) && len(have.Ports) == len(upd.Ports) {
		return nil
	}
	return r.Client.Update(ctx, upd)
}

// weightAnnotations record the weights on the apex EndpointSlice; the
// baseline's only while it has one.
func weightAnnotations(weight, baseline int) map[string]string {
	a := map[string]string{WeightAnnotation: strconv.Itoa(weight)}
	if baseline > 0 {
		a[BaselineWeightAnnotation] = strconv.Itoa(baseline)
	}
	return a
}

func equalEndpoints(a, b []discoveryv1.Endpoint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if fmt.Sprint(a[i].Addresses, ptrEqual(a[i].Conditions.Ready, b[i].Conditions.Ready)) != fmt.Sprint(b[i].Addresses, true) {
			return false
		}
	}
	return true
}
