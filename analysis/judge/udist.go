package judge

import "math"

// uDistribution is the exact null distribution of the Mann-Whitney U
// statistic for samples of sizes m and n without ties.
type uDistribution struct {
	m, n int
	// cdf[k] is P(U <= k), for k = 0 … m*n.
	cdf []float64
}

// newUDistribution counts, for every u, the orderings of m x-values and n
// y-values in which exactly u pairs have x > y, with the recurrence
// c(u; i, j) = c(u-j; i-1, j) + c(u; i, j-1) (the largest value is either
// an x, above all j y-values, or a y). Only additions: the counts, up to
// C(98, 49) ≈ 2.5e28, keep float64's relative precision.
func newUDistribution(m, n int) uDistribution {
	// prev[j][u] holds c(u; i-1, j); cur[j][u] holds c(u; i, j).
	size := m*n + 1
	prev := make([][]float64, n+1)
	for j := range prev {
		prev[j] = make([]float64, size)
		prev[j][0] = 1 // no x: one ordering, U = 0
	}
	cur := make([][]float64, n+1)
	for j := range cur {
		cur[j] = make([]float64, size)
	}
	for i := 1; i <= m; i++ {
		clear(cur[0])
		cur[0][0] = 1 // no y: one ordering, U = 0
		for j := 1; j <= n; j++ {
			clear(cur[j])
			for u := 0; u <= i*j; u++ {
				c := cur[j-1][u]
				if u >= j {
					c += prev[j][u-j]
				}
				cur[j][u] = c
			}
		}
		prev, cur = cur, prev
	}
	counts := prev[n]
	total := 0.0
	for _, c := range counts {
		total += c
	}
	cdf := make([]float64, size)
	sum := 0.0
	for u, c := range counts {
		sum += c
		cdf[u] = sum / total
	}
	return uDistribution{m: m, n: n, cdf: cdf}
}

// p is P(U <= u), R's pwilcox(u, m, n).
func (d uDistribution) p(u float64) float64 {
	k := math.Floor(u + 1e-7)
	switch {
	case k < 0:
		return 0
	case int(k) >= len(d.cdf)-1:
		return 1
	}
	return d.cdf[int(k)]
}

// q is the smallest u with P(U <= u) >= p, R's qwilcox(p, m, n).
func (d uDistribution) q(p float64) int {
	const fuzz = 1 - 64*2.220446049250313e-16
	for u, c := range d.cdf {
		if c >= p*fuzz {
			return u
		}
	}
	return len(d.cdf) - 1
}

// twoSided is the exact two-sided p-value of an observed u.
func (d uDistribution) twoSided(u float64) float64 {
	var p float64
	if u > float64(d.m*d.n)/2 {
		p = 1 - d.p(u-1) // P(U >= u)
	} else {
		p = d.p(u)
	}
	return math.Min(1, 2*p)
}

// interval is the exact confidence interval of the shift at level 1-alpha
// from the sorted differences, as R computes it.
func (d uDistribution) interval(diffs []float64, alpha float64) (lower, upper float64) {
	qu := d.q(alpha / 2)
	if qu == 0 {
		qu = 1
	}
	ql := d.m*d.n - qu
	return diffs[qu-1], diffs[ql]
}
