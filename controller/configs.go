package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// configTrackingAnnotation opts a ConfigMap or Secret out of tracking when
// its value starts with "disable".
const configTrackingAnnotation = "flagger.app/config-tracking"

// configRef is a ConfigMap or Secret the pod template uses.
type configRef struct {
	kind     string // "configmap" or "secret"
	name     string
	optional bool
}

func (r configRef) key() string { return r.kind + "/" + r.name }

// configRefs lists the ConfigMaps and Secrets referenced by volumes,
// projected volumes, env and envFrom of the containers and init containers.
func configRefs(spec *corev1.PodSpec) []configRef {
	seen := map[string]bool{}
	var refs []configRef
	add := func(kind, name string, optional *bool) {
		r := configRef{kind: kind, name: name, optional: optional != nil && *optional}
		if name != "" && !seen[r.key()] {
			seen[r.key()] = true
			refs = append(refs, r)
		}
	}
	for _, v := range spec.Volumes {
		if cm := v.ConfigMap; cm != nil {
			add("configmap", cm.Name, cm.Optional)
		}
		if s := v.Secret; s != nil {
			add("secret", s.SecretName, s.Optional)
		}
		if p := v.Projected; p != nil {
			for _, src := range p.Sources {
				if cm := src.ConfigMap; cm != nil {
					add("configmap", cm.Name, cm.Optional)
				}
				if s := src.Secret; s != nil {
					add("secret", s.Name, s.Optional)
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
		for _, e := range c.EnvFrom {
			if cm := e.ConfigMapRef; cm != nil {
				add("configmap", cm.Name, cm.Optional)
			}
			if s := e.SecretRef; s != nil {
				add("secret", s.Name, s.Optional)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if cm := e.ValueFrom.ConfigMapKeyRef; cm != nil {
				add("configmap", cm.Name, cm.Optional)
			}
			if s := e.ValueFrom.SecretKeyRef; s != nil {
				add("secret", s.Name, s.Optional)
			}
		}
	}
	return refs
}

// configTracker computes the checksums of tracked configs and keeps their
// <name>-primary copies. It reads metadata from the cache and the data only
// when an object's resourceVersion changed, so a steady tick costs no API
// request and the controller does not hold every Secret of the cluster in
// memory.
type configTracker struct {
	cache     client.Reader // metadata-only informers for ConfigMaps and Secrets
	api       client.Reader // direct reads of the data
	writer    client.Client
	labelsFor func(map[string]string) map[string]string

	mu   sync.Mutex
	memo map[types.UID]memoEntry
}

type memoEntry struct {
	rv, sum string
}

// checksums returns the tracked configs of a pod spec as
// "configmap/<name>" → checksum, skipping those opted out, Secrets of other
// types, and optional ones that are missing.
func (t *configTracker) checksums(ctx context.Context, ns string, spec *corev1.PodSpec) (map[string]string, error) {
	out := map[string]string{}
	for _, ref := range configRefs(spec) {
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(gvkOf(ref.kind))
		err := t.cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.name}, meta)
		if apierrors.IsNotFound(err) && ref.optional {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s.%s: %w", ref.kind, ref.name, ns, err)
		}
		if strings.HasPrefix(meta.Annotations[configTrackingAnnotation], "disable") {
			continue
		}
		sum, err := t.sum(ctx, ref, meta)
		if err != nil {
			return nil, err
		}
		if sum != "" {
			out[ref.key()] = sum
		}
	}
	return out, nil
}

func (t *configTracker) sum(ctx context.Context, ref configRef, meta *metav1.PartialObjectMetadata) (string, error) {
	t.mu.Lock()
	e, ok := t.memo[meta.UID]
	t.mu.Unlock()
	if ok && e.rv == meta.ResourceVersion {
		return e.sum, nil
	}
	obj, err := t.read(ctx, ref, meta.Namespace)
	if err != nil {
		return "", err
	}
	sum := dataChecksum(obj)
	t.mu.Lock()
	if t.memo == nil {
		t.memo = map[types.UID]memoEntry{}
	}
	t.memo[meta.UID] = memoEntry{rv: obj.GetResourceVersion(), sum: sum}
	t.mu.Unlock()
	return sum, nil
}

func (t *configTracker) read(ctx context.Context, ref configRef, ns string) (client.Object, error) {
	var obj client.Object = &corev1.ConfigMap{}
	if ref.kind == "secret" {
		obj = &corev1.Secret{}
	}
	if err := t.api.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.name}, obj); err != nil {
		return nil, fmt.Errorf("%s %s.%s: %w", ref.kind, ref.name, ns, err)
	}
	return obj, nil
}

// dataChecksum is the first 8 bytes of sha256 over the JSON of the data, as
// Flagger computes it; "" for Secrets of types Flagger does not track.
func dataChecksum(obj client.Object) string {
	var raw []byte
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		raw, _ = json.Marshal(struct {
			Data       map[string]string `json:"data,omitempty"`
			BinaryData map[string][]byte `json:"binaryData,omitempty"`
		}{o.Data, o.BinaryData})
	case *corev1.Secret:
		switch o.Type {
		case corev1.SecretTypeOpaque, corev1.SecretTypeBasicAuth, corev1.SecretTypeSSHAuth, corev1.SecretTypeTLS, "":
		default:
			return ""
		}
		raw, _ = json.Marshal(o.Data)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:8])
}

// renames maps each tracked config to its primary copy, per kind.
func renames(tracked map[string]string) map[string]string {
	out := make(map[string]string, len(tracked))
	for k := range tracked {
		out[k] = strings.SplitN(k, "/", 2)[1] + flaggerv1.PrimarySuffix
	}
	return out
}

// copyToPrimary creates or updates <name>-primary for every tracked config
// of the pod spec, owned by the Canary.
func (t *configTracker) copyToPrimary(ctx context.Context, c *flaggerv1.Canary, spec *corev1.PodSpec, tracked map[string]string, scheme ownerScheme) error {
	for _, ref := range configRefs(spec) {
		if _, ok := tracked[ref.key()]; !ok {
			continue
		}
		src, err := t.read(ctx, ref, c.Namespace)
		if err != nil {
			return err
		}
		if err := t.writeCopy(ctx, c, src, scheme); err != nil {
			return err
		}
	}
	return nil
}

func (t *configTracker) writeCopy(ctx context.Context, c *flaggerv1.Canary, src client.Object, scheme ownerScheme) error {
	name := src.GetName() + flaggerv1.PrimarySuffix
	var dst client.Object
	switch s := src.(type) {
	case *corev1.ConfigMap:
		dst = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace}}
		_, err := controllerutil.CreateOrUpdate(ctx, t.writer, dst, func() error {
			cm := dst.(*corev1.ConfigMap)
			cm.Data, cm.BinaryData = maps.Clone(s.Data), maps.Clone(s.BinaryData)
			return t.ownCopy(c, dst, src, scheme)
		})
		return wrapCopy(err, "configmap", name, c.Namespace)
	case *corev1.Secret:
		dst = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace}}
		_, err := controllerutil.CreateOrUpdate(ctx, t.writer, dst, func() error {
			sec := dst.(*corev1.Secret)
			sec.Type, sec.Data = s.Type, maps.Clone(s.Data)
			return t.ownCopy(c, dst, src, scheme)
		})
		return wrapCopy(err, "secret", name, c.Namespace)
	}
	return nil
}

func wrapCopy(err error, kind, name, ns string) error {
	if err != nil {
		return fmt.Errorf("copying %s %s.%s: %w", kind, name, ns, err)
	}
	return nil
}

// ownCopy sets the copy's labels (filtered by -include-label-prefix) and
// makes the Canary its controller; other owners of the source are kept as
// non-controller owners.
func (t *configTracker) ownCopy(c *flaggerv1.Canary, dst, src client.Object, scheme ownerScheme) error {
	dst.SetLabels(t.labelsFor(src.GetLabels()))
	var owners []metav1.OwnerReference
	for _, o := range src.GetOwnerReferences() {
		o.Controller = nil
		owners = append(owners, o)
	}
	dst.SetOwnerReferences(owners)
	return controllerutil.SetControllerReference(c, dst, scheme)
}
