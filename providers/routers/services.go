package routers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ToolkitAnnotations keep Flux from reverting objects Warbler manages: its
// kustomize and helm controllers skip objects that carry them.
var ToolkitAnnotations = map[string]string{
	"kustomize.toolkit.fluxcd.io/reconcile": "disabled",
	"helm.toolkit.fluxcd.io/driftDetection": "disabled",
}

// Selector is how the services find the target's pods: the first of the
// controller's selector labels present in the target's selector, its value,
// and the container ports found on the pod template.
type Selector struct {
	Label, Value string
	// Ports discovered on the pod template (used with portDiscovery).
	Ports []corev1.ServicePort
}

// Services maintains the ClusterIP services every provider relies on:
// <svc>-canary selecting the target's pods, <svc>-primary selecting the
// primary's, and the apex <svc> that users call.
type Services struct {
	Deps
}

// Canary and primary services are created on the first tick; the apex
// service is reconciled once the primary exists.

// ReconcileCanaryAndPrimary creates or updates <svc>-canary and
// <svc>-primary.
func (s *Services) ReconcileCanaryAndPrimary(ctx context.Context, c *flaggerv1.Canary, sel Selector) error {
	_, primary, canary := c.ServiceNames()
	if err := s.reconcile(ctx, c, canary, map[string]string{sel.Label: sel.Value}, c.Spec.Service.Canary, sel); err != nil {
		return err
	}
	return s.reconcile(ctx, c, primary, map[string]string{sel.Label: sel.Value + flaggerv1.PrimarySuffix}, c.Spec.Service.Primary, sel)
}

// ReconcileBaseline creates or updates <svc>-baseline, which selects the
// baseline's pods (analysis.baseline).
func (s *Services) ReconcileBaseline(ctx context.Context, c *flaggerv1.Canary, sel Selector) error {
	return s.reconcile(ctx, c, c.BaselineServiceName(), map[string]string{sel.Label: sel.Value + flaggerv1.BaselineSuffix}, nil, sel)
}

// ReconcileApex creates or updates <svc>. It selects the primary's pods, or
// nothing when selector is nil (the replica-ratio router fills its
// endpoints). A Service that a user created is taken over: its ports and
// selector are overwritten, its metadata left alone.
func (s *Services) ReconcileApex(ctx context.Context, c *flaggerv1.Canary, sel Selector, selector map[string]string) error {
	apex, _, _ := c.ServiceNames()
	return s.reconcile(ctx, c, apex, selector, c.Spec.Service.Apex, sel)
}

func (s *Services) reconcile(ctx context.Context, c *flaggerv1.Canary, name string, selector map[string]string, meta *flaggerv1.CustomMetadata, sel Selector) error {
	want := s.serviceSpec(c, selector, sel)
	labels, annotations := serviceMetadata(meta, sel.Label, name)
	var have corev1.Service
	err := s.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, &have)
	if apierrors.IsNotFound(err) {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: name, Labels: labels, Annotations: annotations},
			Spec:       want,
		}
		if err := controllerutil.SetControllerReference(c, svc, s.Scheme); err != nil {
			return err
		}
		if err := s.Client.Create(ctx, svc); apierrors.IsAlreadyExists(err) {
			// created by a tick the cache has not caught up with yet; the
			// next tick compares it, an error would only back off
			return nil
		} else if err != nil {
			return fmt.Errorf("creating service %s.%s: %w", name, c.Namespace, err)
		}
		s.Log.Info(fmt.Sprintf("Service %s.%s created", name, c.Namespace), "canary", c.Key())
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading service %s.%s: %w", name, c.Namespace, err)
	}
	upd := have.DeepCopy()
	upd.Spec.Ports = want.Ports
	upd.Spec.Selector = want.Selector
	upd.Spec.TrafficDistribution = want.TrafficDistribution
	if metav1.IsControlledBy(&have, c) {
		upd.Labels = mergeManaged(have.Labels, labels, unmanaged(c, true))
		upd.Annotations = mergeManaged(have.Annotations, annotations, unmanaged(c, false))
	}
	if servicesEqual(&have, upd) {
		return nil
	}
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	maps.Copy(upd.Annotations, ToolkitAnnotations)
	if err := s.Client.Update(ctx, upd); err != nil {
		return fmt.Errorf("updating service %s.%s: %w", name, c.Namespace, err)
	}
	s.Log.Info(fmt.Sprintf("Service %s.%s updated", name, c.Namespace), "canary", c.Key())
	return nil
}

func servicesEqual(a, b *corev1.Service) bool {
	return equalPorts(a.Spec.Ports, b.Spec.Ports) && maps.Equal(a.Spec.Selector, b.Spec.Selector) &&
		maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations) &&
		ptrEqual(a.Spec.TrafficDistribution, b.Spec.TrafficDistribution)
}

// equalPorts compares what Warbler sets, ignoring the NodePort the API
// server may assign.
func equalPorts(a, b []corev1.ServicePort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.Port != y.Port || x.TargetPort != y.TargetPort || protocol(x.Protocol) != protocol(y.Protocol) || !ptrEqual(x.AppProtocol, y.AppProtocol) {
			return false
		}
	}
	return true
}

func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func (s *Services) serviceSpec(c *flaggerv1.Canary, selector map[string]string, sel Selector) corev1.ServiceSpec {
	svc := c.Spec.Service
	target := intstr.FromInt32(svc.Port)
	if svc.TargetPort != nil && (svc.TargetPort.Type == intstr.String && svc.TargetPort.StrVal != "" || svc.TargetPort.IntVal != 0) {
		target = *svc.TargetPort
	}
	ports := []corev1.ServicePort{{Name: svc.PortName, Protocol: corev1.ProtocolTCP, Port: svc.Port, TargetPort: target, AppProtocol: svc.AppProtocol}}
	if ports[0].Name == "" {
		ports[0].Name = "http"
	}
	if svc.PortDiscovery {
		for _, p := range sel.Ports {
			if p.Port != svc.Port && !slices.ContainsFunc(ports, func(q corev1.ServicePort) bool { return q.Name == p.Name }) {
				ports = append(ports, p)
			}
		}
	}
	spec := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: selector, Ports: ports, TrafficDistribution: svc.TrafficDistribution}
	if svc.Headless {
		spec.ClusterIP = corev1.ClusterIPNone
	}
	return spec
}

// serviceMetadata: the selector label set to the service name (as Flagger
// does, so NetworkPolicies can select it), plus the spec's metadata.
func serviceMetadata(meta *flaggerv1.CustomMetadata, label, name string) (map[string]string, map[string]string) {
	labels := map[string]string{label: name}
	var annotations map[string]string
	if meta != nil {
		maps.Copy(labels, meta.Labels)
		if len(meta.Annotations) > 0 {
			annotations = maps.Clone(meta.Annotations)
		}
	}
	return labels, annotations
}

// mergeManaged replaces the managed keys with want, keeping keys listed as
// unmanaged and the toolkit annotations.
func mergeManaged(have, want map[string]string, keep []string) map[string]string {
	out := maps.Clone(want)
	if out == nil {
		out = map[string]string{}
	}
	for k, v := range have {
		if slices.Contains(keep, k) || strings.Contains(k, "toolkit.fluxcd.io") {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func unmanaged(c *flaggerv1.Canary, labels bool) []string {
	u := c.Spec.Service.UnmanagedMetadata
	if u == nil {
		return nil
	}
	if labels {
		return u.Labels
	}
	return u.Annotations
}
