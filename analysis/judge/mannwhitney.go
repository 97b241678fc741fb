package judge

import (
	"errors"
	"math"
	"slices"
	"sort"
)

// MannWhitneyResult is a two-sided Mann-Whitney U (Wilcoxon rank-sum) test
// of x against y, with the Hodges-Lehmann estimate of the shift in location
// of x relative to y and its confidence interval. The numbers are those of
// R's wilcox.test(x, y, conf.int = TRUE, conf.level = level, correct = TRUE):
// exact when both samples have fewer than 50 values and no ties, a normal
// approximation with tie and continuity corrections otherwise.
type MannWhitneyResult struct {
	// U is the Mann-Whitney statistic of x (R's W): the number of pairs
	// (x[i], y[j]) with x[i] > y[j], ties counting one half.
	U float64
	// PValue of the two-sided test that x and y come from one distribution.
	PValue float64
	// Estimate is the Hodges-Lehmann estimate of location(x) - location(y):
	// the median of every difference x[i] - y[j].
	Estimate float64
	// Lower and Upper bound the confidence interval of the shift.
	Lower, Upper float64
	// Exact tells whether the exact distribution of U was used.
	Exact bool
}

// ErrAllTied is returned when every value of both samples is the same:
// there is no ranking to test and no interval to compute.
var ErrAllTied = errors.New("every value of both samples is equal")

// exactLimit is the sample size from which R switches to the normal
// approximation.
const exactLimit = 50

// MannWhitney tests x against y at the given confidence level (0.98 is
// Kayenta's). Both samples must be non-empty and hold finite values.
func MannWhitney(x, y []float64, level float64) (MannWhitneyResult, error) {
	if len(x) == 0 || len(y) == 0 {
		return MannWhitneyResult{}, errors.New("both samples need at least one value")
	}
	if !(level > 0 && level < 1) {
		return MannWhitneyResult{}, errors.New("the confidence level must lie between 0 and 1")
	}
	nx, ny := len(x), len(y)
	ranks, ties := rank(slices.Concat(x, y))
	u := 0.0
	for _, r := range ranks[:nx] {
		u += r
	}
	u -= float64(nx*(nx+1)) / 2
	diffs := differences(x, y)
	res := MannWhitneyResult{U: u, Estimate: median(diffs)}
	if nx < exactLimit && ny < exactLimit && len(ties) == 0 {
		res.Exact = true
		d := newUDistribution(nx, ny)
		res.PValue = d.twoSided(u)
		res.Lower, res.Upper = d.interval(diffs, 1-level)
		return res, nil
	}
	sigma := tiedSigma(nx, ny, ties)
	if sigma == 0 {
		return MannWhitneyResult{}, ErrAllTied
	}
	z := u - float64(nx*ny)/2
	z = (z - sign(z)*0.5) / sigma
	res.PValue = math.Min(1, 2*math.Min(normalCDF(z), normalCDF(-z)))
	zq := normalQuantile(1 - (1-level)/2)
	res.Lower = shiftRoot(x, y, diffs, zq)
	res.Upper = shiftRoot(x, y, diffs, -zq)
	return res, nil
}

// rank returns the ranks of v (1-based, ties share their mean rank) and the
// size of every group of tied values.
func rank(v []float64) (ranks []float64, ties []int) {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	ranks = make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && v[idx[j]] == v[idx[i]] {
			j++
		}
		mean := float64(i+j+1) / 2 // ranks i+1 … j
		for k := i; k < j; k++ {
			ranks[idx[k]] = mean
		}
		if j-i > 1 {
			ties = append(ties, j-i)
		}
		i = j
	}
	return ranks, ties
}

// tiedSigma is the standard deviation of U under the null hypothesis,
// corrected for ties.
func tiedSigma(nx, ny int, ties []int) float64 {
	n := float64(nx + ny)
	t := 0.0
	for _, k := range ties {
		f := float64(k)
		t += f*f*f - f
	}
	return math.Sqrt(float64(nx*ny) / 12 * ((n + 1) - t/(n*(n-1))))
}

// differences returns every x[i] - y[j], sorted.
func differences(x, y []float64) []float64 {
	d := make([]float64, 0, len(x)*len(y))
	for _, a := range x {
		for _, b := range y {
			d = append(d, a-b)
		}
	}
	slices.Sort(d)
	return d
}

// shiftRoot finds the shift s at which the normal-approximation statistic
// of x-s against y equals zq: a bound of the confidence interval. The
// statistic only changes where s crosses a difference x[i]-y[j], so the
// root is one of those differences; R's uniroot lands within its 1e-4
// tolerance of the same point.
func shiftRoot(x, y, diffs []float64, zq float64) float64 {
	f := func(s float64) float64 { return shiftedZ(x, y, s) - zq }
	lo, hi := diffs[0], diffs[len(diffs)-1]
	if f(lo) <= 0 {
		return lo
	}
	if f(hi) >= 0 {
		return hi
	}
	// f falls as s grows: find the first difference at which it is <= 0
	// and the last before it at which it is > 0; the root is the jump
	// between them.
	distinct := slices.Compact(slices.Clone(diffs))
	k := sort.Search(len(distinct), func(i int) bool { return f(distinct[i]) <= 0 })
	// f(distinct[k]) <= 0 < f(distinct[k-1]); between the two the
	// statistic is constant, so the sign changes either at distinct[k-1]
	// (just after it) or at distinct[k].
	mid := distinct[k-1] + (distinct[k]-distinct[k-1])/2
	if f(mid) > 0 {
		return distinct[k]
	}
	return distinct[k-1]
}

// shiftedZ is the continuity-corrected normal statistic of x-s against y.
func shiftedZ(x, y []float64, s float64) float64 {
	nx, ny := len(x), len(y)
	v := make([]float64, 0, nx+ny)
	for _, a := range x {
		v = append(v, a-s)
	}
	v = append(v, y...)
	ranks, ties := rank(v)
	dz := -float64(nx*(nx+1))/2 - float64(nx*ny)/2
	for _, r := range ranks[:nx] {
		dz += r
	}
	sigma := tiedSigma(nx, ny, ties)
	if sigma == 0 {
		return 0
	}
	return (dz - sign(dz)*0.5) / sigma
}

func sign(v float64) float64 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return sorted[n/2-1] + (sorted[n/2]-sorted[n/2-1])/2
}

func normalCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// normalQuantile inverts normalCDF for p in (0, 1).
func normalQuantile(p float64) float64 { return -math.Sqrt2 * math.Erfcinv(2*p) }

// MinSamples is the smallest size n of two samples (n values each) whose
// exact two-sided test can reach significance at the confidence level:
// the smallest p-value of such a test is 2/C(2n, n). Below it every shift
// passes for lack of evidence (n = 4 at 0.98: p ≥ 0.029).
func MinSamples(level float64) int {
	alpha := 1 - level
	if !(alpha > 0 && alpha < 1) {
		alpha = 0.02
	}
	for n := 1; ; n++ {
		// C(2n, n) by the product formula, in float64
		c := 1.0
		for k := 1; k <= n; k++ {
			c = c * float64(n+k) / float64(k)
		}
		if 2/c < alpha {
			return n
		}
	}
}
