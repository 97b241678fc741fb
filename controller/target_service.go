package controller

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// serviceTarget is a core Service target, for progressive delivery between
// Services (an ExternalName, a selector that moves to new pods, pods Warbler
// does not manage). As in Flagger, <target>-canary is a copy of the
// Service kept in step with it, and <target>-primary a copy made once and
// replaced at promotion; routers split traffic between the two. The
// Service itself is the apex and is never changed. Services are always
// ready; nothing is scaled.
type serviceTarget struct {
	t       *tick
	target  *corev1.Service
	primary *corev1.Service
}

func (s *serviceTarget) generation() int64 { return s.target.Generation }

// images: a Service runs none of its own.
func (s *serviceTarget) images() []string { return nil }

func (s *serviceTarget) find(ctx context.Context) (string, error) {
	c := s.t.c
	s.target, s.primary = &corev1.Service{}, &corev1.Service{}
	if err := s.t.r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.TargetRef.Name}, s.target); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("service %s.%s %w (spec.targetRef)", c.Spec.TargetRef.Name, c.Namespace, errTargetMissing)
		}
		return "", fmt.Errorf("reading service %s.%s: %w", c.Spec.TargetRef.Name, c.Namespace, err)
	}
	if err := s.t.r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.PrimaryName()}, s.primary); err != nil {
		if !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("reading service %s.%s: %w", c.PrimaryName(), c.Namespace, err)
		}
		s.primary = nil
	}
	return serviceRevision(&s.target.Spec), nil
}

func (s *serviceTarget) created() bool { return s.primary != nil }

// ensure keeps <target>-canary a copy of the target and creates
// <target>-primary once.
func (s *serviceTarget) ensure(ctx context.Context) error {
	c := s.t.c
	if err := s.write(ctx, c.Spec.TargetRef.Name+flaggerv1.CanarySuffix, false); err != nil {
		return err
	}
	if s.primary != nil {
		return nil
	}
	return s.write(ctx, c.PrimaryName(), false)
}

func (s *serviceTarget) readiness() (analysis.Readiness, analysis.Readiness) {
	return analysis.Readiness{Ready: true}, analysis.Readiness{Ready: true}
}

func (s *serviceTarget) matchesPrimary() bool {
	return s.primary != nil && serviceRevision(&s.primary.Spec) == serviceRevision(&s.target.Spec)
}

// promote copies the target's spec into <target>-primary, with the
// target's labels and annotations filtered by -include-label-prefix, as
// Flagger does.
func (s *serviceTarget) promote(ctx context.Context) error {
	return s.write(ctx, s.t.c.PrimaryName(), true)
}

// write creates or updates the copy name of the target. The copy gets
// the target's spec without what the API server allocates (cluster IPs,
// node ports), which it keeps across updates; an unchanged copy is not
// written.
func (s *serviceTarget) write(ctx context.Context, name string, promoting bool) error {
	c := s.t.c
	labels, annotations := maps.Clone(s.target.Labels), withoutToolkit(s.target.Annotations)
	if promoting {
		labels = filterLabels(s.target.Labels, s.t.r.Options.IncludeLabelPrefix)
		annotations = filterLabels(s.target.Annotations, s.t.r.Options.IncludeLabelPrefix)
	}
	delete(annotations, lastAppliedConfig)
	var have corev1.Service
	err := s.t.r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, &have)
	if apierrors.IsNotFound(err) {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: name, Labels: labels, Annotations: annotations},
			Spec: *unallocated(&s.target.Spec)}
		if err := controllerutil.SetControllerReference(c, svc, s.t.r.Scheme); err != nil {
			return err
		}
		if err := s.t.r.Client.Create(ctx, svc); err != nil {
			return fmt.Errorf("creating service %s.%s: %w", name, c.Namespace, err)
		}
		s.t.log.Info(fmt.Sprintf("Service %s.%s created", name, c.Namespace))
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading service %s.%s: %w", name, c.Namespace, err)
	}
	upd := have.DeepCopy()
	upd.Spec = *unallocated(&s.target.Spec)
	keepAllocated(&upd.Spec, &have.Spec)
	upd.Labels = labels
	upd.Annotations = annotations
	if equality.Semantic.DeepEqual(unallocated(&have.Spec), unallocated(&upd.Spec)) &&
		maps.Equal(have.Labels, upd.Labels) && maps.Equal(have.Annotations, upd.Annotations) {
		return nil
	}
	if err := s.t.r.Client.Update(ctx, upd); err != nil {
		return fmt.Errorf("updating service %s.%s: %w", name, c.Namespace, err)
	}
	s.t.log.Info(fmt.Sprintf("Service %s.%s updated", name, c.Namespace))
	return nil
}

// lastAppliedConfig is kubectl's copy of the applied manifest; a copy of
// it on another object would mislead kubectl apply.
const lastAppliedConfig = "kubectl.kubernetes.io/last-applied-configuration"

// unallocated is a copy of spec without what the API server allocates or
// defaults per object: cluster IPs and IP families, node ports, the health
// check node port. A headless Service keeps clusterIP None.
func unallocated(spec *corev1.ServiceSpec) *corev1.ServiceSpec {
	out := spec.DeepCopy()
	if out.ClusterIP != corev1.ClusterIPNone {
		out.ClusterIP, out.ClusterIPs = "", nil
	} else {
		out.ClusterIPs = nil
	}
	out.IPFamilies, out.IPFamilyPolicy = nil, nil
	out.HealthCheckNodePort = 0
	for i := range out.Ports {
		out.Ports[i].NodePort = 0
	}
	return out
}

// keepAllocated puts the allocated values of have back into spec, so that
// an update does not ask for new ones.
func keepAllocated(spec, have *corev1.ServiceSpec) {
	if spec.ClusterIP != corev1.ClusterIPNone && have.ClusterIP != corev1.ClusterIPNone {
		spec.ClusterIP, spec.ClusterIPs = have.ClusterIP, have.ClusterIPs
	}
	spec.IPFamilies, spec.IPFamilyPolicy = have.IPFamilies, have.IPFamilyPolicy
	if spec.Type == have.Type {
		spec.HealthCheckNodePort = have.HealthCheckNodePort
		for i := range spec.Ports {
			for _, p := range have.Ports {
				if p.Port == spec.Ports[i].Port && p.Protocol == spec.Ports[i].Protocol {
					spec.Ports[i].NodePort = p.NodePort
				}
			}
		}
	}
}

// serviceRevision identifies a Service spec by what users set, so that the
// target and its primary copy compare equal.
func serviceRevision(spec *corev1.ServiceSpec) string {
	return canonicalHash(unallocated(spec))
}
