package loadtester

import (
	"sync"

	"github.com/warbler-dev/warbler/webhooks"
)

// Generators of results.
const (
	GeneratorLoad = "load"
	GeneratorHey  = "hey"
)

// Results keeps the latest load result of each canary and generator, for
// GET /results/{namespace}/{name}. They live in memory: a result answers
// "how did the last run go", and the loadtest metric provider reads it
// right after the run, from the instance that ran it (see docs).
type Results struct {
	mu     sync.RWMutex
	latest map[string]map[string]webhooks.LoadResult // canary → generator → result
}

// NewResults returns an empty store.
func NewResults() *Results {
	return &Results{latest: map[string]map[string]webhooks.LoadResult{}}
}

// Put records r as the latest of its canary and generator.
func (s *Results) Put(r webhooks.LoadResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest[r.Canary] == nil {
		s.latest[r.Canary] = map[string]webhooks.LoadResult{}
	}
	s.latest[r.Canary][r.Generator] = r
}

// Get returns the latest result of a canary from generator; with generator
// empty, the load task's if there is one, else hey's.
func (s *Results) Get(canary, generator string) (webhooks.LoadResult, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	byGen := s.latest[canary]
	if generator != "" {
		r, found := byGen[generator]
		return r, found
	}
	if r, found := byGen[GeneratorLoad]; found {
		return r, true
	}
	r, found := byGen[GeneratorHey]
	return r, found
}
