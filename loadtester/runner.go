package loadtester

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Limiter bounds the tasks that run at the same time.
type Limiter struct {
	slots chan struct{}
}

// NewLimiter allows n tasks at once (at least one).
func NewLimiter(n int) *Limiter { return &Limiter{slots: make(chan struct{}, max(n, 1))} }

// TryAcquire takes a slot if one is free.
func (l *Limiter) TryAcquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// Acquire waits for a slot until ctx ends.
func (l *Limiter) Acquire(ctx context.Context) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// Release frees a slot.
func (l *Limiter) Release() { <-l.slots }

// Cap is the number of slots.
func (l *Limiter) Cap() int { return cap(l.slots) }

// Runner runs the asynchronous tasks (cmd) in the background, one at a time
// per key: a task submitted while one with the same key is queued or running
// is skipped, which is Flagger's de-duplication of canary + command.
type Runner struct {
	limiter *Limiter
	timeout time.Duration
	grace   time.Duration
	// maxQueued bounds the tasks waiting for a Limiter slot.
	maxQueued int

	mu     sync.Mutex
	active map[string]bool
	queued int
	closed bool
	ctx    context.Context // parent of every job
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRunner runs each job with timeout, within limiter's bound. It accepts
// jobs at once; Start decides when it stops.
func NewRunner(limiter *Limiter, timeout, grace time.Duration) *Runner {
	jobs, cancel := context.WithCancel(context.Background())
	return &Runner{limiter: limiter, timeout: timeout, grace: grace,
		maxQueued: 4 * limiter.Cap(), active: map[string]bool{}, ctx: jobs, cancel: cancel}
}

// Start returns when ctx ends, after the runner stopped taking jobs and the
// running ones finished, or were cancelled when they outlived the grace
// period given to NewRunner.
func (r *Runner) Start(ctx context.Context) error {
	<-ctx.Done()
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(r.grace):
		r.cancel()
		<-done
	}
	r.cancel()
	return nil
}

// Submit starts job in the background unless a job with the same key is
// queued or running, in which case it reports false.
func (r *Runner) Submit(key string, job func(ctx context.Context)) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return false, statusError(http.StatusServiceUnavailable, "the loadtester is shutting down and accepts no new task")
	case r.active[key]:
		return false, nil
	case r.queued >= r.maxQueued:
		return false, statusError(http.StatusTooManyRequests,
			"%d tasks are already waiting for one of the %d task slots (-max-concurrent-tasks)", r.queued, r.limiter.Cap())
	}
	r.active[key] = true
	r.queued++
	ctx := r.ctx
	r.wg.Go(func() {
		defer r.finish(key)
		acquired := r.limiter.Acquire(ctx)
		r.mu.Lock()
		r.queued--
		r.mu.Unlock()
		if !acquired {
			return
		}
		defer r.limiter.Release()
		ctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		job(ctx)
	})
	return true, nil
}

func (r *Runner) finish(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.active, key)
}
