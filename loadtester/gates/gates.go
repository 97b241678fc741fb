// Package gates keeps the loadtester's manual gates: the confirm-* gates
// keyed "<name>.<namespace>" and the rollback gates keyed
// "rollback.<name>.<namespace>", as in Flagger.
//
// Flagger keeps them in process memory, so a restart closes every gate and
// two replicas disagree. Here they live in the Kubernetes API (ConfigMaps)
// when a cluster is available, with who changed them and when; Memory is the
// fallback for a loadtester that runs without one.
package gates

import (
	"context"
	"sync"
	"time"
)

// Change is one opening or closing of a gate.
type Change struct {
	Key  string    `json:"key"`
	Open bool      `json:"open"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Store reads and writes gates. A gate that was never set is closed.
type Store interface {
	IsOpen(ctx context.Context, key string) (bool, error)
	Set(ctx context.Context, c Change) error
}

// Memory is a Store that forgets everything when the process ends.
type Memory struct {
	mu    sync.RWMutex
	gates map[string]bool
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{gates: map[string]bool{}} }

// IsOpen reports whether key is open.
func (m *Memory) IsOpen(_ context.Context, key string) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.gates[key], nil
}

// Set opens or closes a gate.
func (m *Memory) Set(_ context.Context, c Change) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gates[c.Key] = c.Open
	return nil
}

var _ Store = (*Memory)(nil)
