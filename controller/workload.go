package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

type ownerScheme = *runtime.Scheme

func gvkOf(kind string) schema.GroupVersionKind {
	if kind == "secret" {
		return corev1.SchemeGroupVersion.WithKind("Secret")
	}
	return corev1.SchemeGroupVersion.WithKind("ConfigMap")
}

// workload is a Deployment or a DaemonSet, seen through what releases need.
type workload struct {
	obj      client.Object
	kind     string
	template *corev1.PodTemplateSpec
	selector *metav1.LabelSelector
	replicas *int32 // nil for DaemonSets
}

func asWorkload(obj client.Object) *workload {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &workload{obj: o, kind: "Deployment", template: &o.Spec.Template, selector: o.Spec.Selector, replicas: o.Spec.Replicas}
	case *appsv1.DaemonSet:
		return &workload{obj: o, kind: "DaemonSet", template: &o.Spec.Template, selector: o.Spec.Selector}
	}
	return nil
}

func newObject(kind string) (client.Object, error) {
	switch kind {
	case "Deployment":
		return &appsv1.Deployment{}, nil
	case "DaemonSet":
		return &appsv1.DaemonSet{}, nil
	}
	return nil, fmt.Errorf("spec.targetRef.kind %q is not supported by Warbler; valid kinds: Deployment, DaemonSet, Service", kind)
}

// getWorkload reads a workload of the target's kind from the cache; a
// missing one is (nil, nil).
func getWorkload(ctx context.Context, r client.Reader, kind, ns, name string) (*workload, error) {
	obj, err := newObject(kind)
	if err != nil {
		return nil, err
	}
	if err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s.%s: %w", strings.ToLower(kind), name, ns, err)
	}
	return asWorkload(obj), nil
}

// selectorLabel is the first of the -selector-labels found in the target's
// selector, with its value.
func selectorLabel(w *workload, labels []string) (string, string, error) {
	if w.selector != nil {
		for _, l := range labels {
			if v, ok := w.selector.MatchLabels[l]; ok {
				return l, v, nil
			}
		}
	}
	return "", "", fmt.Errorf("%s %s.%s spec.selector.matchLabels must contain one of %v",
		strings.ToLower(w.kind), w.obj.GetName(), w.obj.GetNamespace(), labels)
}

// primaryBuilder turns a target into its primary copy.
type primaryBuilder struct {
	label, value  string
	includeLabels []string // -include-label-prefix
	renames       map[string]string
	revision      string
}

// filterLabels keeps the labels whose key starts with one of the prefixes
// ("*" keeps all), never the toolkit ones.
func filterLabels(in map[string]string, prefixes []string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if strings.Contains(k, "toolkit.fluxcd.io") {
			continue
		}
		for _, p := range prefixes {
			if p == "*" || (p != "" && strings.HasPrefix(k, p)) {
				out[k] = v
				break
			}
		}
	}
	return out
}

func withoutToolkit(in map[string]string) map[string]string {
	out := maps.Clone(in)
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.Contains(k, "toolkit.fluxcd.io") })
	if len(out) == 0 {
		return nil
	}
	return out
}

// template rewrites the target's pod template for the primary: the selector
// label's value gets -primary, tracked configs are renamed to their copies,
// affinity and topology selectors that point at the target point at the
// primary, and the pod annotation flagger-id carries the revision. Flagger
// uses a random id there, which restarts the primary on every promotion;
// the revision does so only when something changed.
func (b primaryBuilder) template(target *corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	t := *target.DeepCopy()
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[b.label] = b.value + flaggerv1.PrimarySuffix
	if t.Annotations == nil {
		t.Annotations = map[string]string{}
	}
	t.Annotations[primaryIDKey] = b.revision
	renameConfigs(&t.Spec, b.renames)
	b.retargetSelectors(&t.Spec)
	return t
}

func (b primaryBuilder) primaryLabels(target map[string]string) map[string]string {
	l := filterLabels(target, b.includeLabels)
	l[b.label] = b.value + flaggerv1.PrimarySuffix
	return l
}

func (b primaryBuilder) primarySelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{b.label: b.value + flaggerv1.PrimarySuffix}}
}

func renameConfigs(spec *corev1.PodSpec, renames map[string]string) {
	rn := func(kind string, name *string) {
		if n, ok := renames[kind+"/"+*name]; ok {
			*name = n
		}
	}
	for i := range spec.Volumes {
		v := &spec.Volumes[i]
		if v.ConfigMap != nil {
			rn("configmap", &v.ConfigMap.Name)
		}
		if v.Secret != nil {
			rn("secret", &v.Secret.SecretName)
		}
		if v.Projected != nil {
			for j := range v.Projected.Sources {
				s := &v.Projected.Sources[j]
				if s.ConfigMap != nil {
					rn("configmap", &s.ConfigMap.Name)
				}
				if s.Secret != nil {
					rn("secret", &s.Secret.Name)
				}
			}
		}
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			for j := range cs[i].EnvFrom {
				e := &cs[i].EnvFrom[j]
				if e.ConfigMapRef != nil {
					rn("configmap", &e.ConfigMapRef.Name)
				}
				if e.SecretRef != nil {
					rn("secret", &e.SecretRef.Name)
				}
			}
			for j := range cs[i].Env {
				vf := cs[i].Env[j].ValueFrom
				if vf == nil {
					continue
				}
				if vf.ConfigMapKeyRef != nil {
					rn("configmap", &vf.ConfigMapKeyRef.Name)
				}
				if vf.SecretKeyRef != nil {
					rn("secret", &vf.SecretKeyRef.Name)
				}
			}
		}
	}
}

// retargetSelectors appends -primary to affinity and topology-spread label
// selector values that equal the target's selector value.
func (b primaryBuilder) retargetSelectors(spec *corev1.PodSpec) {
	fix := func(sel *metav1.LabelSelector) {
		if sel == nil {
			return
		}
		for k, v := range sel.MatchLabels {
			if v == b.value {
				sel.MatchLabels[k] = v + flaggerv1.PrimarySuffix
			}
		}
		for i := range sel.MatchExpressions {
			for j, v := range sel.MatchExpressions[i].Values {
				if v == b.value {
					sel.MatchExpressions[i].Values[j] = v + flaggerv1.PrimarySuffix
				}
			}
		}
	}
	for i := range spec.TopologySpreadConstraints {
		fix(spec.TopologySpreadConstraints[i].LabelSelector)
	}
	if a := spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for i := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			fix(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[i].LabelSelector)
		}
		for i := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			fix(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm.LabelSelector)
		}
	}
}

// buildPrimary returns the primary object for a target.
func (b primaryBuilder) buildPrimary(c *flaggerv1.Canary, target *workload) client.Object {
	meta := metav1.ObjectMeta{
		Name: c.PrimaryName(), Namespace: c.Namespace,
		Labels: b.primaryLabels(target.obj.GetLabels()), Annotations: withoutToolkit(target.obj.GetAnnotations()),
	}
	switch t := target.obj.(type) {
	case *appsv1.Deployment:
		replicas := int32(1)
		if t.Spec.Replicas != nil && *t.Spec.Replicas > 0 {
			replicas = *t.Spec.Replicas
		}
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: b.primarySelector(), Template: b.template(&t.Spec.Template),
			Strategy: t.Spec.Strategy, MinReadySeconds: t.Spec.MinReadySeconds,
			RevisionHistoryLimit: t.Spec.RevisionHistoryLimit, ProgressDeadlineSeconds: t.Spec.ProgressDeadlineSeconds,
		}}
	case *appsv1.DaemonSet:
		tmpl := b.template(&t.Spec.Template)
		delete(tmpl.Spec.NodeSelector, scaleToZeroKey)
		return &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{
			Selector: b.primarySelector(), Template: tmpl, UpdateStrategy: t.Spec.UpdateStrategy,
			MinReadySeconds: t.Spec.MinReadySeconds, RevisionHistoryLimit: t.Spec.RevisionHistoryLimit,
		}}
	}
	return nil
}

// promoteInto copies the target's template, strategy and deadlines into the
// primary, and its replicas when no autoscaler owns them.
func (b primaryBuilder) promoteInto(c *flaggerv1.Canary, target, primary *workload, copyReplicas bool) client.Object {
	p := primary.obj.DeepCopyObject().(client.Object)
	p.SetLabels(b.primaryLabels(target.obj.GetLabels()))
	p.SetAnnotations(mergeKeep(withoutToolkit(target.obj.GetAnnotations()), p.GetAnnotations(), routers.BaseReplicasAnnotation))
	switch t := target.obj.(type) {
	case *appsv1.Deployment:
		d := p.(*appsv1.Deployment)
		d.Spec.Template = b.template(&t.Spec.Template)
		d.Spec.Strategy, d.Spec.MinReadySeconds = t.Spec.Strategy, t.Spec.MinReadySeconds
		d.Spec.RevisionHistoryLimit, d.Spec.ProgressDeadlineSeconds = t.Spec.RevisionHistoryLimit, t.Spec.ProgressDeadlineSeconds
		if copyReplicas && t.Spec.Replicas != nil && *t.Spec.Replicas > 0 {
			d.Spec.Replicas = t.Spec.Replicas
		}
	case *appsv1.DaemonSet:
		ds := p.(*appsv1.DaemonSet)
		ds.Spec.Template = b.template(&t.Spec.Template)
		delete(ds.Spec.Template.Spec.NodeSelector, scaleToZeroKey)
		ds.Spec.UpdateStrategy, ds.Spec.MinReadySeconds = t.Spec.UpdateStrategy, t.Spec.MinReadySeconds
		ds.Spec.RevisionHistoryLimit = t.Spec.RevisionHistoryLimit
	}
	return p
}

// mergeKeep returns want plus the listed keys of have.
func mergeKeep(want, have map[string]string, keep ...string) map[string]string {
	out := maps.Clone(want)
	for _, k := range keep {
		if v, ok := have[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
}

// createPrimary creates the primary, owned by the Canary.
func createPrimary(ctx context.Context, w client.Writer, scheme *runtime.Scheme, c *flaggerv1.Canary, obj client.Object) error {
	if err := controllerutil.SetControllerReference(c, obj, scheme); err != nil {
		return err
	}
	if err := w.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s.%s: %w", obj.GetName(), obj.GetNamespace(), err)
	}
	return nil
}

// scale sets a Deployment's replicas with a merge patch, or parks a
// DaemonSet on no node (n == 0) with the scale-to-zero nodeSelector.
func scale(ctx context.Context, w client.Writer, wl *workload, n int32) error {
	var patch []byte
	switch o := wl.obj.(type) {
	case *appsv1.Deployment:
		if o.Spec.Replicas != nil && *o.Spec.Replicas == n {
			return nil
		}
		patch = fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	case *appsv1.DaemonSet:
		_, parked := o.Spec.Template.Spec.NodeSelector[scaleToZeroKey]
		switch {
		case n == 0 && !parked:
			patch = fmt.Appendf(nil, `{"spec":{"template":{"spec":{"nodeSelector":{%q:"true"}}}}}`, scaleToZeroKey)
		case n > 0 && parked:
			patch = fmt.Appendf(nil, `{"spec":{"template":{"spec":{"nodeSelector":{%q:null}}}}}`, scaleToZeroKey)
		default:
			return nil
		}
	}
	if err := w.Patch(ctx, wl.obj, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		return fmt.Errorf("scaling %s %s.%s to %d: %w", strings.ToLower(wl.kind), wl.obj.GetName(), wl.obj.GetNamespace(), n, err)
	}
	return nil
}

// containerPorts lists the ports of the pod template for port discovery;
// sidecars of meshes are skipped.
func containerPorts(t *corev1.PodTemplateSpec, primaryPort int32) []corev1.ServicePort {
	var out []corev1.ServicePort
	for _, c := range t.Spec.Containers {
		if c.Name == "istio-proxy" || c.Name == "envoy" {
			continue
		}
		for i, p := range c.Ports {
			if p.ContainerPort == primaryPort {
				continue
			}
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("tcp-%s-%d", c.Name, i)
			}
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			sp := corev1.ServicePort{Name: name, Protocol: proto, Port: p.ContainerPort}
			sp.TargetPort.IntVal = p.ContainerPort
			if !slices.ContainsFunc(out, func(q corev1.ServicePort) bool { return q.Name == name }) {
				out = append(out, sp)
			}
		}
	}
	return out
}

// images lists the container images of a pod template, which a release
// records.
func images(t corev1.PodTemplateSpec) []string {
	out := make([]string, 0, len(t.Spec.Containers))
	for _, c := range t.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}
