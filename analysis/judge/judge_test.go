package judge

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// spread returns n values around center, deterministic and without ties.
func spread(center, width float64, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		// a low-discrepancy walk over [-width/2, width/2)
		f := math.Mod(float64(i)*0.6180339887498949, 1)
		v[i] = center + (f-0.5)*width
	}
	return v
}

func TestClassify(t *testing.T) {
	base := spread(100, 20, 30)
	for _, c := range []struct {
		name       string
		metric     Metric
		canary     []float64
		baseline   []float64
		class      Class
		failed     bool
		reasonHas  string
		effectSize float64
	}{
		{name: "identical samples pass", metric: Metric{Direction: Increase},
			canary: base, baseline: base, class: Pass, reasonHas: "no significant difference"},
		{name: "a canary twice as slow is high and fails", metric: Metric{Direction: Increase},
			canary: spread(200, 40, 30), baseline: base, class: High, failed: true, reasonHas: "canary higher than baseline", effectSize: 2},
		{name: "a faster canary is low but not a failure for direction Increase", metric: Metric{Direction: Increase},
			canary: spread(50, 10, 30), baseline: base, class: Low, reasonHas: "not a failure for direction Increase", effectSize: 0.5},
		{name: "a lower success rate fails for direction Decrease", metric: Metric{Direction: Decrease},
			canary: spread(90, 2, 30), baseline: spread(99.5, 1, 30), class: Low, failed: true},
		{name: "either direction fails on a rise", metric: Metric{},
			canary: spread(130, 20, 30), baseline: base, class: High, failed: true},
		{name: "a rise within the allowed effect size passes", metric: Metric{Direction: Increase, AllowedIncrease: 1.5},
			canary: spread(120, 4, 30), baseline: spread(100, 4, 30), class: High, reasonHas: "within the allowed effect size"},
		{name: "a fall within the allowed effect size passes", metric: Metric{Direction: Decrease, AllowedDecrease: 0.8},
			canary: spread(90, 2, 30), baseline: spread(100, 2, 30), class: Low},
		{name: "no canary samples", metric: Metric{}, canary: nil, baseline: base, class: NoData, reasonHas: "the canary has no samples"},
		{name: "only NaN and Inf baseline samples", metric: Metric{},
			canary: base, baseline: []float64{math.NaN(), math.Inf(1)}, class: NoData, reasonHas: "the baseline has no samples"},
		{name: "the same constant on both sides passes", metric: Metric{},
			canary: []float64{0, 0, 0}, baseline: []float64{0, 0}, class: Pass, reasonHas: "same constant"},
		{name: "errors appearing over a zero baseline fail with an infinite effect", metric: Metric{Direction: Increase},
			canary: spread(5, 2, 30), baseline: make([]float64, 30), class: High, failed: true, effectSize: math.Inf(1)},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Classify(Settings{}, Input{Metric: c.metric, Canary: c.canary, Baseline: c.baseline})
			if r.Class != c.class || r.Failed != c.failed {
				t.Fatalf("class %s failed %v, want %s failed %v (%s)", r.Class, r.Failed, c.class, c.failed, r.Reason)
			}
			if !strings.Contains(r.Reason, c.reasonHas) {
				t.Errorf("reason %q does not say %q", r.Reason, c.reasonHas)
			}
			if c.effectSize != 0 && !(math.Abs(r.EffectSize-c.effectSize) < 0.05*c.effectSize || r.EffectSize == c.effectSize) {
				t.Errorf("effect size %g, want about %g", r.EffectSize, c.effectSize)
			}
			if r.PValue < 0 || r.PValue > 1 {
				t.Errorf("p-value %g", r.PValue)
			}
		})
	}
}

func TestJudgeScores(t *testing.T) {
	same, slow := spread(100, 20, 30), spread(200, 40, 30)
	in := func(name string, weight float64, critical bool, canary []float64) Input {
		return Input{Metric: Metric{Name: name, Direction: Increase, Weight: weight, Critical: critical}, Canary: canary, Baseline: same}
	}
	for _, c := range []struct {
		name    string
		inputs  []Input
		score   float64
		verdict Verdict
		reason  string
	}{
		{"all pass", []Input{in("latency", 1, false, same), in("errors", 1, false, same)}, 100, VerdictPass, "0 of 2 metrics failed"},
		{"a light metric fails: marginal", []Input{in("a", 1, false, slow), in("b", 1, false, same), in("c", 2, false, same)}, 75, VerdictMarginal, "1 of 3 metrics failed"},
		{"a heavy metric fails", []Input{in("a", 1, false, same), in("b", 1, false, same), in("c", 2, false, slow)}, 50, VerdictFail, "1 of 3"},
		{"a critical metric fails the whole judgement", []Input{in("a", 1, true, slow), in("b", 9, false, same)}, 0, VerdictFail, "critical metric a failed"},
		{"half without data scores 0", []Input{in("a", 1, false, nil), in("b", 1, false, same)}, 0, VerdictFail, "1 of 2 metrics have no data"},
		{"a metric without data does not count", []Input{in("a", 1, false, nil), in("b", 1, false, same), in("c", 1, false, same)}, 100, VerdictPass, "1 without data"},
		{"no metrics", nil, 0, VerdictFail, "0 of 0 metrics have no data"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := Judge(Settings{}, c.inputs)
			if r.Score != c.score || r.Verdict != c.verdict || !strings.Contains(r.Reason, c.reason) {
				t.Fatalf("score %v %s (%s), want %v %s (%s)", r.Score, r.Verdict, r.Reason, c.score, c.verdict, c.reason)
			}
			if len(r.Metrics) != len(c.inputs) {
				t.Errorf("%d metric results for %d inputs", len(r.Metrics), len(c.inputs))
			}
		})
	}
}

func TestScoreNoDataRules(t *testing.T) {
	same := spread(100, 20, 30)
	pass := Classify(Settings{}, Input{Canary: same, Baseline: same})
	none := NoDataResult("b", "2 canary samples", 2, 30)
	for _, c := range []struct {
		rule    NoDataRule
		score   float64
		verdict Verdict
		failed  bool
	}{
		{NoDataExclude, 0, VerdictFail, false}, // half the metrics without data
		{NoDataFail, 50, VerdictFail, true},
		{NoDataPass, 100, VerdictPass, false},
	} {
		r := Score(Settings{}, []Metric{{Name: "a"}, {Name: "b", NoData: c.rule}}, []MetricResult{pass, none})
		if r.Score != c.score || r.Verdict != c.verdict || r.Metrics[1].Failed != c.failed || r.Metrics[1].Class != NoData {
			t.Errorf("rule %q: score %v %s, metric %+v", c.rule, r.Score, r.Verdict, r.Metrics[1])
		}
	}
	critical := Score(Settings{}, []Metric{{Name: "a", Weight: 9}, {Name: "b", NoData: NoDataFail, Critical: true}}, []MetricResult{pass, none})
	if critical.Score != 0 || !strings.Contains(critical.Reason, "critical metric b failed") {
		t.Errorf("a critical metric without data that must have it: %v %s", critical.Score, critical.Reason)
	}
}

func TestJudgeThresholds(t *testing.T) {
	same, slow := spread(100, 20, 30), spread(200, 40, 30)
	inputs := []Input{
		{Metric: Metric{Name: "a", Direction: Increase}, Canary: slow, Baseline: same},
		{Metric: Metric{Name: "b", Direction: Increase}, Canary: same, Baseline: same},
	}
	if r := Judge(Settings{PassScore: 50, MarginalScore: 25}, inputs); r.Verdict != VerdictPass || r.Score != 50 {
		t.Errorf("pass score 50: %v %s", r.Score, r.Verdict)
	}
	if r := Judge(Settings{PassScore: 90, MarginalScore: 50}, inputs); r.Verdict != VerdictMarginal {
		t.Errorf("marginal score 50: %v %s", r.Score, r.Verdict)
	}
}

// FuzzJudge feeds the judge arbitrary samples: empty, constant, NaN, Inf and
// huge values. It must not panic, and what it returns must be well formed.
func FuzzJudge(f *testing.F) {
	f.Add([]byte{}, uint8(3))
	f.Add(make([]byte, 80), uint8(5))
	f.Add(binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.NaN())), uint8(1))
	huge := binary.LittleEndian.AppendUint64(nil, math.Float64bits(math.MaxFloat64))
	huge = binary.LittleEndian.AppendUint64(huge, math.Float64bits(-math.MaxFloat64))
	f.Add(huge, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		var v []float64
		for len(data) >= 8 && len(v) < 200 {
			v = append(v, math.Float64frombits(binary.LittleEndian.Uint64(data)))
			data = data[8:]
		}
		k := min(int(split), len(v))
		canary, baseline := v[:k], v[k:]
		rule := []NoDataRule{NoDataExclude, NoDataFail, NoDataPass}[int(split)%3]
		r := Judge(Settings{}, []Input{
			{Metric: Metric{Name: "x", Direction: Increase}, Canary: canary, Baseline: baseline},
			{Metric: Metric{Name: "y", Direction: Either, Critical: true, NoData: rule}, Canary: baseline, Baseline: canary},
		})
		if !(r.Score >= 0 && r.Score <= 100) {
			t.Fatalf("score %v", r.Score)
		}
		switch r.Verdict {
		case VerdictPass, VerdictMarginal, VerdictFail:
		default:
			t.Fatalf("verdict %q", r.Verdict)
		}
		for _, m := range r.Metrics {
			switch m.Class {
			case Pass, High, Low, NoData:
			default:
				t.Fatalf("class %q", m.Class)
			}
			if !(m.PValue >= 0 && m.PValue <= 1) || m.Reason == "" {
				t.Fatalf("metric %+v", m)
			}
			if m.Failed && m.Class != High && m.Class != Low && !(m.Class == NoData && m.Name == "y" && rule == NoDataFail) {
				t.Fatalf("failed with class %s", m.Class)
			}
		}
	})
}
