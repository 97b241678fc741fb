package load

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBoundsHoldEveryValue(t *testing.T) {
	values := []uint64{0, 1, 127, 255, 256, 257, 383, 384, 511, 512, 1000, 1 << 20, 123456789, maxMicros - 1, maxMicros}
	for range 2000 {
		values = append(values, rand.Uint64N(maxMicros))
	}
	for _, v := range values {
		i := bucket(v)
		lo, hi := lowest(i), highest(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		// the width of a bucket is at most 1/128 of its values
		if width := hi - lo + 1; v >= exact && float64(width) > float64(lo)/128+1e-9 {
			t.Fatalf("bucket %d = [%d, %d] is wider than 1/128 of %d", i, lo, hi, lo)
		}
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	for i := range bucket(maxMicros) {
		if highest(i)+1 != lowest(i+1) {
			t.Fatalf("bucket %d ends at %d, bucket %d starts at %d", i, highest(i), i+1, lowest(i+1))
		}
		if bucket(lowest(i)) != i || bucket(highest(i)) != i {
			t.Fatalf("bucket %d's bounds map to %d and %d", i, bucket(lowest(i)), bucket(highest(i)))
		}
	}
}

// The quantiles agree with the exact ones of a sorted slice within the
// histogram's precision.
func TestQuantilesAgreeWithSortedSamples(t *testing.T) {
	cases := []struct {
		name   string
		sample func() time.Duration
	}{
		{"uniform 0-10ms", func() time.Duration { return time.Duration(rand.Int64N(int64(10 * time.Millisecond))) }},
		{"exponential around 2ms", func() time.Duration { return time.Duration(rand.ExpFloat64() * float64(2*time.Millisecond)) }},
		{"bimodal with a 1s stall", func() time.Duration {
			if rand.IntN(100) < 3 {
				return time.Second + time.Duration(rand.Int64N(int64(100*time.Millisecond)))
			}
			return 300*time.Microsecond + time.Duration(rand.Int64N(int64(time.Millisecond)))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Histogram
			var all []time.Duration
			for range 20000 {
				d := c.sample().Truncate(time.Microsecond)
				h.Record(d)
				all = append(all, d)
			}
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := max(int(math.Ceil(q*float64(len(all)))), 1)
				want := all[rank-1]
				got := h.Quantile(q)
				if got < want || float64(got-want) > float64(want)/128+float64(time.Microsecond) {
					t.Errorf("p%v = %v, exact %v", q*100, got, want)
				}
			}
			if h.Max() != all[len(all)-1] || h.Min() != all[0] || h.Count() != int64(len(all)) {
				t.Errorf("min/max/count = %v/%v/%d, want %v/%v/%d", h.Min(), h.Max(), h.Count(), all[0], all[len(all)-1], len(all))
			}
		})
	}
}

func TestHistogramEdges(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Fatal("an empty histogram reports non-zero values")
	}
	h.Record(-time.Second)
	h.Record(1000 * time.Hour) // beyond the range: counted at the cap
	if h.Count() != 2 || h.Min() != 0 || h.Max() != micros(maxMicros) {
		t.Fatalf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
	if h.Quantile(math.NaN()) != 0 || h.Quantile(2) != h.Max() || h.Quantile(-1) != 0 {
		t.Fatal("out-of-range quantiles are not clamped")
	}
}

func TestMergeEqualsRecordingEverything(t *testing.T) {
	var a, b, all Histogram
	for i := range 5000 {
		d := time.Duration(rand.Int64N(int64(time.Second)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged p%v = %v, want %v", q*100, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Mean() != all.Mean() {
		t.Errorf("merged count/mean %d/%v, want %d/%v", a.Count(), a.Mean(), all.Count(), all.Mean())
	}
}
