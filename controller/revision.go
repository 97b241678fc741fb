package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scaleToZeroKey is the nodeSelector that parks a DaemonSet at zero pods;
// Warbler sets it, so it is not part of a revision.
const scaleToZeroKey = "flagger.app/scale-to-zero"

// primaryIDKey is the pod annotation the primary carries; Flagger sets a
// random value, Warbler the revision. Neither is part of a revision.
const primaryIDKey = "flagger-id"

// revision identifies a pod template by its content. The template is
// reduced to a canonical JSON document — maps with sorted keys, and null,
// empty and zero values dropped — so the value depends on what the user
// wrote and the API server defaulted, not on the Go types of the
// k8s.io/api version Warbler was built with. Flagger hashes a dump of the Go
// struct, which changes on every library upgrade and starts spurious
// releases (#1673).
func revision(tmpl *corev1.PodTemplateSpec) string {
	t := tmpl.DeepCopy()
	delete(t.Annotations, primaryIDKey)
	delete(t.Spec.NodeSelector, scaleToZeroKey)
	t.CreationTimestamp = metav1.Time{}
	return canonicalHash(t)
}

// canonicalHash hashes the canonical JSON document of v (see revision).
func canonicalHash(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		// API types always marshal; keep the signature honest
		return "unhashable"
	}
	var doc any
	_ = json.Unmarshal(raw, &doc)
	canon, _ := json.Marshal(prune(doc))
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:8])
}

// prune drops nulls, empty strings, false, zero numbers, and empty maps and
// lists, recursively. encoding/json writes map keys sorted.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := map[string]any{}
		for _, k := range keys {
			if p := prune(x[k]); p != nil {
				out[k] = p
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, e := range x {
			p := prune(e)
			if p == nil {
				p = map[string]any{} // keep positions in lists
			}
			out = append(out, p)
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case string:
		if x == "" {
			return nil
		}
	case bool:
		if !x {
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

// checksum identifies a revision under analysis for webhook payloads: the
// template revision and the tracked configs.
func checksum(rev string, configs map[string]string) string {
	h := sha256.New()
	h.Write([]byte(rev))
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte("\x00" + k + "=" + configs[k]))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// revisionCache remembers revisions by object and generation: a pod
// template only changes with its object's generation, and hashing every
// template of every canary on every tick is most of an idle controller's
// work. It is a memo, not state: an empty cache only costs CPU, so it is
// simply emptied when it grows past maxRevisions.
type revisionCache struct {
	mu sync.Mutex
	m  map[string]cachedRevision
}

type cachedRevision struct {
	generation int64
	revision   string
}

const maxRevisions = 20000

// of returns the revision of a template that obj (with extra inputs, such
// as config renames) determines, computing it once per generation.
func (rc *revisionCache) of(obj client.Object, extra string, compute func() string) string {
	if obj.GetUID() == "" {
		return compute() // not stored yet: nothing stable to key on
	}
	key := string(obj.GetUID()) + "|" + extra
	rc.mu.Lock()
	e, ok := rc.m[key]
	rc.mu.Unlock()
	if ok && e.generation == obj.GetGeneration() {
		return e.revision
	}
	v := compute()
	rc.mu.Lock()
	if rc.m == nil || len(rc.m) >= maxRevisions {
		rc.m = map[string]cachedRevision{}
	}
	rc.m[key] = cachedRevision{generation: obj.GetGeneration(), revision: v}
	rc.mu.Unlock()
	return v
}
