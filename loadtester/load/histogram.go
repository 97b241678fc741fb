package load

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records durations in log-linear buckets, as HdrHistogram does:
// exact to the microsecond below 256 µs, then 128 buckets per power of two,
// so any recorded value is reported within 1/128 (0.8%) of itself, with a
// memory cost that grows with the largest value (35 KiB at most) rather than
// with the number of samples. Count, Min, Max and Mean are exact.
//
// The zero value is ready to use. It is not safe for concurrent use: the
// engine records from a single goroutine.
type Histogram struct {
	counts []int64
	count  int64
	sum    float64 // microseconds
	min    uint64
	max    uint64
}

const (
	subBits = 7
	sub     = 1 << subBits // buckets per power of two above the exact range
	exact   = 2 * sub      // values below this many microseconds are exact
	// maxMicros caps what can be recorded (about 12.7 days); larger values
	// are counted as maxMicros rather than dropped.
	maxMicros = 1 << 40
)

// bucket returns the index of the bucket holding v microseconds.
func bucket(v uint64) int {
	if v < exact {
		return int(v)
	}
	e := bits.Len64(v) - (subBits + 1) // v>>e lies in [sub, 2*sub)
	return exact + (e-1)*sub + int(v>>e-sub)
}

// lowest returns the smallest value that falls into bucket i.
func lowest(i int) uint64 {
	if i < exact {
		return uint64(i)
	}
	k := i - exact
	e := k/sub + 1
	return uint64(k%sub+sub) << e
}

// highest returns the largest value that falls into bucket i.
func highest(i int) uint64 { return lowest(i+1) - 1 }

// Record adds one duration. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d.Microseconds(), 0))
	v = min(v, maxMicros)
	i := bucket(v)
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	if h.count == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.count++
	h.sum += float64(v)
}

// Merge adds every sample of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]int64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.count == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.count += o.count
	h.sum += o.sum
}

// Count is the number of recorded durations.
func (h *Histogram) Count() int64 { return h.count }

// Min and Max are the smallest and largest recorded durations; zero when
// empty.
func (h *Histogram) Min() time.Duration { return micros(h.min) }
func (h *Histogram) Max() time.Duration { return micros(h.max) }

// Mean is the exact average; zero when empty.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.count) * float64(time.Microsecond))
}

// Quantile returns the duration below or at which a fraction q (0..1) of the
// samples fall: the highest value of the bucket holding the sample of rank
// ceil(q*count), clamped to the recorded range. Quantile(1) is Max. It is
// zero when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := max(int64(math.Ceil(q*float64(h.count))), 1)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return micros(min(max(highest(i), h.min), h.max))
		}
	}
	return micros(h.max)
}

func micros(v uint64) time.Duration { return time.Duration(v) * time.Microsecond }
