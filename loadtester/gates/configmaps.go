package gates

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Labels and data keys of a gate's ConfigMap.
const (
	// GateLabel marks the ConfigMaps that hold gates; the store watches
	// only those.
	GateLabel      = "warbler.dev/gate"
	managedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "warbler-loadtester"

	keyData       = "key"
	openData      = "open"
	changedByData = "changedBy"
	changedAtData = "changedAt"
	historyData   = "history"

	// historyLen bounds the audit trail kept in each ConfigMap.
	historyLen = 20
)

// ConfigMaps keeps each gate in a ConfigMap of its own in one namespace,
// named "warbler-gate-<key>". One object per gate, rather than one shared
// ConfigMap, means that changes to different canaries never conflict and
// there is no 1 MiB ceiling; a ConfigMap rather than a Lease because a gate
// is data to read, audit and edit with kubectl, not a heartbeat to renew.
//
// Reads come from a watch, so a check costs no API call; writes go to the
// API server and update the local view at once, so a replica reads its own
// writes, and other replicas see them as soon as their watch delivers the
// change (milliseconds). Editing the ConfigMap by hand works too.
type ConfigMaps struct {
	client    kubernetes.Interface
	namespace string

	mu     sync.RWMutex
	gates  map[string]observed
	synced chan struct{}
}

type observed struct {
	open bool
	rv   uint64 // resourceVersion, to ignore an event older than a write
}

// NewConfigMaps returns a store in namespace; it answers once Start has
// listed the existing gates.
func NewConfigMaps(client kubernetes.Interface, namespace string) *ConfigMaps {
	return &ConfigMaps{
		client: client, namespace: namespace,
		gates: map[string]observed{}, synced: make(chan struct{}),
	}
}

// Namespace is where the gates live.
func (s *ConfigMaps) Namespace() string { return s.namespace }

// Start watches the gate ConfigMaps until ctx ends.
func (s *ConfigMaps) Start(ctx context.Context) error {
	// one informer on labelled ConfigMaps, not client-go's informer
	// factory, which links an informer for every API group into the binary
	api := s.client.CoreV1().ConfigMaps(s.namespace)
	selector := GateLabel + "=true"
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return api.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return api.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.ConfigMap{}, 0, cache.Indexers{})
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.observe,
		UpdateFunc: func(_, obj any) { s.observe(obj) },
		DeleteFunc: s.forget,
	})
	if err != nil {
		return fmt.Errorf("watching gate ConfigMaps in %s: %w", s.namespace, err)
	}
	done := make(chan struct{})
	go func() { inf.RunWithContext(ctx); close(done) }()
	defer func() { <-done }()
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil // ctx ended first
	}
	close(s.synced)
	<-ctx.Done()
	return nil
}

// ErrNotSynced means the store has not yet listed the gates.
var ErrNotSynced = errors.New("gate store has not listed the gates from the API server yet")

// IsOpen reports whether key is open. Before the first list it waits, until
// ctx ends, rather than answer "closed" for a gate that may be open.
func (s *ConfigMaps) IsOpen(ctx context.Context, key string) (bool, error) {
	select {
	case <-s.synced:
	case <-ctx.Done():
		return false, fmt.Errorf("%w: %w", ErrNotSynced, ctx.Err())
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.gates[key].open, nil
}

// Set writes the change, retrying on conflicts with other writers.
func (s *ConfigMaps) Set(ctx context.Context, c Change) error {
	name := ObjectName(c.Key)
	var err error
	for range 5 {
		var cm *corev1.ConfigMap
		if cm, err = s.write(ctx, name, c); err == nil {
			s.observe(cm)
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	return fmt.Errorf("writing gate %s to ConfigMap %s/%s: %w", c.Key, s.namespace, name, err)
}

func (s *ConfigMaps) write(ctx context.Context, name string, c Change) (*corev1.ConfigMap, error) {
	api := s.client.CoreV1().ConfigMaps(s.namespace)
	cm, err := api.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace,
			Labels: map[string]string{GateLabel: "true", managedByLabel: managedBy}}}
		if err := record(cm, c); err != nil {
			return nil, err
		}
		return api.Create(ctx, cm, metav1.CreateOptions{FieldManager: managedBy})
	}
	if err != nil {
		return nil, err
	}
	if k := cm.Data[keyData]; k != "" && k != c.Key {
		return nil, fmt.Errorf("ConfigMap %s holds gate %q, not %q", name, k, c.Key)
	}
	if err := record(cm, c); err != nil {
		return nil, err
	}
	return api.Update(ctx, cm, metav1.UpdateOptions{FieldManager: managedBy})
}

// record writes the change into cm's data and appends it to the history,
// which keeps the last historyLen changes, one JSON object per line.
func record(cm *corev1.ConfigMap, c Change) error {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	line, err := json.Marshal(c)
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(cm.Data[historyData]), "\n")
	if lines[0] == "" {
		lines = nil
	}
	lines = append(lines, string(line))
	if len(lines) > historyLen {
		lines = lines[len(lines)-historyLen:]
	}
	cm.Data[keyData] = c.Key
	cm.Data[openData] = strconv.FormatBool(c.Open)
	cm.Data[changedByData] = c.By
	cm.Data[changedAtData] = c.At.UTC().Format(time.RFC3339)
	cm.Data[historyData] = strings.Join(lines, "\n") + "\n"
	return nil
}

// History returns the recorded changes of a gate, oldest first, read from
// the API server.
func (s *ConfigMaps) History(ctx context.Context, key string) ([]Change, error) {
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, ObjectName(key), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Change
	for line := range strings.SplitSeq(strings.TrimSpace(cm.Data[historyData]), "\n") {
		var c Change
		if json.Unmarshal([]byte(line), &c) == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *ConfigMaps) observe(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok || cm.Data[keyData] == "" {
		return
	}
	key, rv := cm.Data[keyData], resourceVersion(cm)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.gates[key]; ok && rv < cur.rv {
		return // an event older than what this replica wrote
	}
	s.gates[key] = observed{open: cm.Data[openData] == "true", rv: rv}
}

func (s *ConfigMaps) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	key, rv := cm.Data[keyData], resourceVersion(cm)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.gates[key]; ok && rv >= cur.rv {
		delete(s.gates, key)
	}
}

// resourceVersion parses the object's resourceVersion. The API promises
// only that it is opaque, but etcd-backed versions are increasing integers;
// when one is not, it reads as 0 and every event is applied in order.
func resourceVersion(cm *corev1.ConfigMap) uint64 {
	v, _ := strconv.ParseUint(cm.ResourceVersion, 10, 64)
	return v
}

// ObjectName is the name of the ConfigMap that holds key:
// "warbler-gate-<key>" when that is a valid object name, as it is for
// every Flagger key ("podinfo.prod", "rollback.podinfo.prod"), and
// "warbler-gate-<hash>" otherwise. Keys always contain a dot and hashes
// never do, so the two forms cannot collide.
func ObjectName(key string) string {
	name := "warbler-gate-" + key
	if strings.Contains(key, ".") && len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(key))
	return "warbler-gate-" + hex.EncodeToString(sum[:10])
}

var _ Store = (*ConfigMaps)(nil)
