package alerts

import (
	"sync"
	"time"
)

// limiter keeps a chat channel readable: an identical alert (same canary
// revision, provider and text) is sent once per repeat interval, and each
// provider has a token bucket, so a canary stuck at a gate that alerts on
// every tick, or many canaries failing at once, cannot flood a receiver or
// trip its own rate limit.
type limiter struct {
	repeat time.Duration
	// rate is the refill in tokens per second; burst the bucket size.
	rate, burst float64

	mu      sync.Mutex
	seen    map[string]time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Bucket defaults: Slack's incoming webhooks accept about one message per
// second; a burst of ten covers a release's alerts of one tick.
const (
	bucketRate  = 1.0
	bucketBurst = 10.0
)

func newLimiter(repeat time.Duration) *limiter {
	return &limiter{repeat: repeat, rate: bucketRate, burst: bucketBurst, seen: map[string]time.Time{}, buckets: map[string]*bucket{}}
}

// verdict of the limiter.
type verdict int

const (
	allowed verdict = iota
	repeated
	throttled
)

// allow decides whether an alert with the dedupe key may go to provider
// now, and records it if so.
func (l *limiter) allow(provider, key string, now time.Time) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.seen[key]; ok && l.repeat > 0 && now.Sub(last) < l.repeat {
		return repeated
	}
	b := l.buckets[provider]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[provider] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return throttled
	}
	b.tokens--
	l.seen[key] = now
	l.forget(now)
	return allowed
}

// forget drops dedupe entries older than the repeat interval once the map
// grows, so it stays bounded by the alerts of one interval.
func (l *limiter) forget(now time.Time) {
	if len(l.seen) < 1024 {
		return
	}
	for k, t := range l.seen {
		if now.Sub(t) >= l.repeat {
			delete(l.seen, k)
		}
	}
}
