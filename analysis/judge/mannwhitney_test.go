package judge

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestMannWhitneyMatchesR checks the test against R's wilcox.test on the
// samples in testdata/mannwhitney.golden (made by testdata/mannwhitney.R).
func TestMannWhitneyMatchesR(t *testing.T) {
	f, err := os.Open("testdata/mannwhitney.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cases := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		col := strings.Split(sc.Text(), "\t")
		if len(col) != 10 {
			t.Fatalf("golden line has %d columns: %q", len(col), sc.Text())
		}
		cases++
		name := col[0]
		level, x, y := num(t, col[1]), nums(t, col[2]), nums(t, col[3])
		want := MannWhitneyResult{U: num(t, col[4]), PValue: num(t, col[5]), Estimate: num(t, col[6]),
			Lower: num(t, col[7]), Upper: num(t, col[8]), Exact: col[9] == "TRUE"}
		got, err := MannWhitney(x, y, level)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.Exact != want.Exact {
			t.Errorf("%s: exact = %v, R used exact = %v", name, got.Exact, want.Exact)
		}
		for _, c := range []struct {
			what      string
			got, want float64
			tol       float64
		}{
			{"U", got.U, want.U, 1e-9},
			{"p-value", got.PValue, want.PValue, 1e-9 * want.PValue},
			{"estimate", got.Estimate, want.Estimate, 1e-9 * math.Abs(want.Estimate)},
			// R finds the bounds of the approximate interval with uniroot
			// and an absolute tolerance of 1e-4; the exact ones are
			// differences of the data.
			{"lower bound", got.Lower, want.Lower, boundTol(want)},
			{"upper bound", got.Upper, want.Upper, boundTol(want)},
		} {
			if math.Abs(c.got-c.want) > c.tol+1e-15 {
				t.Errorf("%s: %s = %.17g, R: %.17g", name, c.what, c.got, c.want)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cases < 10 {
		t.Fatalf("only %d cases in the golden file", cases)
	}
}

func boundTol(r MannWhitneyResult) float64 {
	if r.Exact {
		return 1e-9 * math.Max(math.Abs(r.Lower), math.Abs(r.Upper))
	}
	return 1.5e-4
}

func TestMannWhitneyRefusesWhatItCannotTest(t *testing.T) {
	for _, c := range []struct {
		name  string
		x, y  []float64
		level float64
	}{
		{"empty canary", nil, []float64{1}, 0.98},
		{"empty baseline", []float64{1}, nil, 0.98},
		{"level 1", []float64{1}, []float64{2}, 1},
		{"level 0", []float64{1}, []float64{2}, 0},
	} {
		if _, err := MannWhitney(c.x, c.y, c.level); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	if _, err := MannWhitney([]float64{3, 3, 3}, []float64{3, 3}, 0.98); err != ErrAllTied {
		t.Errorf("all tied: err = %v, want ErrAllTied", err)
	}
}

// Two constant samples at different levels: R cannot compute an interval
// (every shifted observation ties), the judge still sees the shift.
func TestMannWhitneyConstantSides(t *testing.T) {
	r, err := MannWhitney([]float64{7, 7, 7, 7, 7, 7, 7, 7, 7, 7}, []float64{5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 0.98)
	if err != nil {
		t.Fatal(err)
	}
	if r.U != 120 || r.Estimate != 2 || r.Lower != 2 || r.Upper != 2 || !(r.PValue < 1e-4) {
		t.Errorf("got %+v, want U 120, shift 2 within [2, 2], p < 1e-4", r)
	}
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		t.Fatalf("golden number %q: %v", s, err)
	}
	return v
}

func nums(t *testing.T, s string) []float64 {
	t.Helper()
	var out []float64
	for _, f := range strings.Split(s, ",") {
		out = append(out, num(t, f))
	}
	return out
}

func TestMinSamples(t *testing.T) {
	for level, want := range map[float64]int{0.98: 5, 0.95: 4, 0.99: 5, 0.999: 7, 0: 5} {
		if got := MinSamples(level); got != want {
			t.Errorf("MinSamples(%v) = %d, want %d", level, got, want)
		}
	}
	// at the minimum, fully separated samples are significant; one fewer
	// value and they are not
	for _, n := range []int{MinSamples(0.98), MinSamples(0.98) - 1} {
		x, y := make([]float64, n), make([]float64, n)
		for i := range n {
			x[i], y[i] = float64(100+i), float64(i)
		}
		r, err := MannWhitney(x, y, 0.98)
		if err != nil {
			t.Fatal(err)
		}
		if significant := r.PValue < 0.02; significant != (n == MinSamples(0.98)) {
			t.Errorf("n=%d: p=%g", n, r.PValue)
		}
	}
}
