package analysis

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func f64(v float64) *float64 { return &v }

func TestJudge(t *testing.T) {
	rate := Metric{Name: BuiltinSuccessRate, Kind: MetricSuccessRate, Min: f64(99), NoData: NoDataFail, Provider: "linkerd"}
	dur := Metric{Name: BuiltinDuration, Kind: MetricDuration, Max: f64(500), NoData: NoDataFail, Provider: "linkerd"}
	custom := Metric{Name: "error-rate", Kind: MetricCustom, Max: f64(1), NoData: NoDataFail}
	ok := func(v float64) MetricResult { return MetricResult{Outcome: QueryOK, Value: v} }
	cases := []struct {
		name    string
		m       Metric
		r       MetricResult
		verdict Verdict
		failed  bool
		msg     string
	}{
		{"success rate below min fails with Flagger's wording", rate, ok(69.1712), VerdictFail, true, "Halt podinfo.prod advancement success rate 69.17% < 99%"},
		{"success rate at min passes", rate, ok(99), VerdictPass, false, "success rate 99.00%"},
		{"success rate above max fails", Metric{Name: BuiltinSuccessRate, Kind: MetricSuccessRate, Max: f64(50)}, ok(60), VerdictFail, true, "Halt podinfo.prod advancement success rate 60.00% > 50%"},
		{"duration above max fails in Go durations", dur, ok(1200.7), VerdictFail, true, "Halt podinfo.prod advancement request duration 1.2s > 500ms"},
		{"duration is truncated to whole ms before comparing", dur, ok(500.9), VerdictPass, false, "request duration 500ms"},
		{"duration below min fails", Metric{Name: BuiltinDuration, Kind: MetricDuration, Min: f64(10)}, ok(2), VerdictFail, true, "Halt podinfo.prod advancement request duration 2ms < 10ms"},
		{"custom above max fails", custom, ok(5), VerdictFail, true, "Halt podinfo.prod advancement error-rate 5.00 > 1"},
		{"custom below min fails", Metric{Name: "rps", Min: f64(10)}, ok(3.5), VerdictFail, true, "Halt podinfo.prod advancement rps 3.50 < 10"},
		{"custom within range passes", custom, ok(0.5), VerdictPass, false, "error-rate 0.50"},
		{"no bounds always pass", Metric{Name: "x"}, ok(1e9), VerdictPass, false, "x 1000000000.00"},
		{"no data fails by default, builtin wording", rate, MetricResult{Outcome: QueryNoData}, VerdictNoData, true,
			"Halt advancement no values found for linkerd metric request-success-rate probably podinfo-svc.prod is not receiving traffic: running query failed: no values found"},
		{"no data of a custom metric", custom, MetricResult{Outcome: QueryNoData, Err: "no values found"}, VerdictNoData, true,
			"Halt advancement no values found for custom metric: error-rate: no values found"},
		{"no data passes with policy Pass", Metric{Name: "x", NoData: NoDataPass}, MetricResult{Outcome: QueryNoData}, VerdictNoData, false,
			"Halt advancement no values found for custom metric: x: no values found"},
		{"no data does not fail with policy Skip", Metric{Name: "x", NoData: NoDataSkip}, MetricResult{Outcome: QueryNoData}, VerdictNoData, false,
			"Halt advancement no values found for custom metric: x: no values found"},
		{"provider error is told apart", rate, MetricResult{Outcome: QueryProviderError, Err: "connection refused"}, VerdictError, true,
			"Metric query failed for request-success-rate: connection refused"},
		{"invalid query is an error", custom, MetricResult{Outcome: QueryInvalid, Err: `template: map has no entry for key "route"`}, VerdictError, true,
			`Metric query failed for error-rate: template: map has no entry for key "route"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Judge(c.m, c.r, "podinfo.prod", "podinfo-svc.prod", epoch)
			if got.Verdict != c.verdict || got.Failed != c.failed || got.Message != c.msg {
				t.Errorf("Judge = %s failed=%v %q\nwant   %s failed=%v %q", got.Verdict, got.Failed, got.Message, c.verdict, c.failed, c.msg)
			}
		})
	}
}

func TestValidateDefaults(t *testing.T) {
	cases := []struct {
		name  string
		in    Canary
		check func(Spec) string
	}{
		{"empty interval is 60s", Canary{StepWeight: 5}, func(s Spec) string { return want(s.Interval, time.Minute) }},
		{"interval below the minimum is raised", Canary{Interval: "2s", StepWeight: 5}, func(s Spec) string { return want(s.Interval, 10*time.Second) }},
		{"threshold 0 means 1", Canary{StepWeight: 5}, func(s Spec) string { return want(s.Threshold, 1) }},
		{"maxWeight defaults to 100", Canary{StepWeight: 5}, func(s Spec) string { return want(s.MaxWeight, 100) }},
		{"stepWeights override maxWeight", Canary{StepWeights: []int{5, 10, 40}, MaxWeight: 80}, func(s Spec) string { return want(s.MaxWeight, 40) }},
		{"iterations select blue/green", Canary{Iterations: 5}, func(s Spec) string { return want(s.Strategy, StrategyBlueGreen) }},
		{"iterations with match select A/B", Canary{Iterations: 5, Match: true}, func(s Spec) string { return want(s.Strategy, StrategyABTesting) }},
		{"kubernetes forces 10 iterations", Canary{Provider: "kubernetes", StepWeight: 5}, func(s Spec) string { return want(s.Iterations, 10) }},
		{"kubernetes:replicas keeps weights", Canary{Provider: "kubernetes:replicas", StepWeight: 5}, func(s Spec) string { return want(s.Strategy, StrategyCanary) }},
		{"deprecated threshold is the min of a success rate", Canary{StepWeight: 5, Metrics: []MetricSpec{{Name: BuiltinSuccessRate, Threshold: 99}}},
			func(s Spec) string { return want(*s.Metrics[0].Min, 99.0) }},
		{"deprecated threshold is the max of other metrics", Canary{StepWeight: 5, Metrics: []MetricSpec{{Name: "latency", Threshold: 300, HasQuery: true}}},
			func(s Spec) string { return want(*s.Metrics[0].Max, 300.0) }},
		{"empty webhook type is rollout", Canary{StepWeight: 5, Webhooks: []Webhook{{Name: "load"}}}, func(s Spec) string { return want(s.Hooks[0].Type, HookRollout) }},
		{"no-data policy defaults to Fail", Canary{StepWeight: 5, Metrics: []MetricSpec{{Name: BuiltinDuration}}}, func(s Spec) string { return want(s.Metrics[0].NoData, NoDataFail) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Validate(c.in, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if msg := c.check(s); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func want[T comparable](got, want T) string {
	if got != want {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	return ""
}

func TestValidateRejects(t *testing.T) {
	cases := map[string]Canary{
		"spec.analysis.interval":                {Interval: "soon", StepWeight: 5},
		"spec.analysis.stepWeights":             {StepWeights: []int{10, 10}},
		"spec.analysis.webhooks[1].type":        {StepWeight: 5, Webhooks: []Webhook{{Name: "a"}, {Name: "b", Type: "pre-deploy"}}},
		"spec.analysis.metrics[0]":              {StepWeight: 5, Metrics: []MetricSpec{{Name: "error-rate"}}},
		"spec.analysis.metrics[0].noDataPolicy": {StepWeight: 5, Metrics: []MetricSpec{{Name: BuiltinDuration, NoDataPolicy: "Ignore"}}},
		"spec.analysis.webhooks[0].gateTimeout": {StepWeight: 5, Webhooks: []Webhook{{Name: "load", Type: "rollout", GateTimeout: "1m"}}},
		"spec.analysis.webhooks[1].gateTimeout": {StepWeight: 5, Webhooks: []Webhook{{Name: "a", Type: "confirm-rollout"}, {Name: "b", Type: "confirm-promotion", GateTimeout: "0s"}}},
	}
	for field, c := range cases {
		_, err := Validate(c, DefaultLimits)
		se, ok := err.(*SpecError)
		if !ok || se.Field != field {
			t.Errorf("%s: err = %v, want a SpecError naming the field", field, err)
		}
	}
}

// naiveWeights replays Flagger's weight steps one at a time, capped at
// maxWeight: the oracle for NextWeight and Schedule.
func naiveWeights(stepWeight int, steps []int, maxW int) []int {
	var out []int
	w := 0
	for i := 0; i < 200 && w < maxW; i++ {
		var next int
		if stepWeight > 0 || len(steps) == 0 {
			next = w + stepWeight
		} else {
			next = maxW
			for _, s := range steps {
				if s > w {
					next = s
					break
				}
			}
		}
		if next > maxW {
			next = maxW
		}
		if next <= w {
			break
		}
		out = append(out, next)
		w = next
	}
	return out
}

func TestScheduleMatchesNaiveOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		c := Canary{Interval: "1m"}
		if r.IntN(2) == 0 {
			c.StepWeight = 1 + r.IntN(60)
			c.MaxWeight = r.IntN(101)
		} else {
			w := 0
			for n := 1 + r.IntN(6); n > 0 && w < 100; n-- {
				w += 1 + r.IntN(40)
				c.StepWeights = append(c.StepWeights, min(w, 100))
				if w >= 100 {
					break
				}
			}
		}
		s, err := Validate(c, DefaultLimits)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		got, want := Schedule(s), naiveWeights(s.StepWeight, s.StepWeights, s.MaxWeight)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("spec %+v: schedule %v, oracle %v", c, got, want)
		}
		for _, w := range got {
			if w > s.MaxWeight || w > 100 {
				t.Fatalf("spec %+v: weight %d exceeds maxWeight %d", c, w, s.MaxWeight)
			}
		}
	}
}

// TestInvariants drives random releases with random hook and metric
// failures and checks after every tick that: the weight stays within
// [0, maxWeight] while analysing and never decreases during a run; reaching
// the threshold rolls back on that very tick; Succeeded and Failed stay put
// until the target differs from the revision they recorded; the routes
// always add up to 100.
func TestInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for run := 0; run < 300; run++ {
		args := []string{"hooks=pre-rollout:pre,rollout:load,confirm-promotion:gate", "metrics=request-success-rate:99"}
		switch r.IntN(4) {
		case 3:
			args = append(args, "stepWeight="+strconv.Itoa(1+r.IntN(25)), "maxWeight="+strconv.Itoa(10+r.IntN(41)), "baseline=true")
		case 0:
			args = append(args, "stepWeight="+strconv.Itoa(1+r.IntN(50)), "maxWeight="+strconv.Itoa(10+r.IntN(91)))
		case 1:
			args = append(args, "stepWeights=5,20,45", "stepWeightPromotion="+strconv.Itoa(r.IntN(60)))
		default:
			args = append(args, "iterations="+strconv.Itoa(1+r.IntN(5)))
		}
		args = append(args, "threshold="+strconv.Itoa(1+r.IntN(4)), "historyLimit="+strconv.Itoa(1+r.IntN(3)))
		spec, err := parseSpec(args)
		if err != nil {
			t.Fatal(err)
		}
		s := newSim(spec)
		s.tick(spec.Interval)
		rev := 2
		s.revision = "rev2"
		prevWeight, prevPhase, prevApplied := 0, s.status.Phase, s.status.LastAppliedSpec
		for tick := 0; tick < 80; tick++ {
			s.hooks["load"] = r.IntN(6) != 0
			s.hooks["pre"] = r.IntN(8) != 0
			s.hooks["gate"] = r.IntN(3) != 0
			if r.IntN(7) == 0 {
				s.metrics[BuiltinSuccessRate] = MetricResult{Outcome: QueryOK, Value: 90}
			} else {
				delete(s.metrics, BuiltinSuccessRate)
			}
			changed := false
			if r.IntN(15) == 0 {
				rev++
				s.revision = "rev" + strconv.Itoa(rev)
				changed = true
			}
			d := s.tick(spec.Interval)
			st := d.Status
			s.baselineReady = Readiness{Ready: r.IntN(5) != 0, Message: "baseline not ready"}
			if s.routes.Primary+s.routes.Canary+s.routes.Baseline != 100 {
				t.Fatalf("run %d tick %d: routes %d/%d/%d do not add up to 100", run, tick, s.routes.Primary, s.routes.Canary, s.routes.Baseline)
			}
			if b := s.routes.Baseline; b > 0 && (b != s.routes.Canary || !s.baselineUp || !spec.Baseline) {
				t.Fatalf("run %d tick %d: baseline share %d, canary %d, baseline up %v", run, tick, b, s.routes.Canary, s.baselineUp)
			}
			if s.baselineUp && !baselineRuns(st.Phase) {
				t.Fatalf("run %d tick %d: the baseline runs in phase %s", run, tick, st.Phase)
			}
			if spec.Strategy == StrategyCanary && (st.Phase == PhaseProgressing || st.Phase == PhaseWaitingPromotion) {
				if st.CanaryWeight > spec.MaxWeight {
					t.Fatalf("run %d tick %d: weight %d > maxWeight %d", run, tick, st.CanaryWeight, spec.MaxWeight)
				}
				if st.CanaryWeight < prevWeight && !changed {
					t.Fatalf("run %d tick %d: weight went down %d -> %d during a run", run, tick, prevWeight, st.CanaryWeight)
				}
			}
			if st.FailedChecks >= spec.Threshold && (st.Phase == PhaseProgressing || st.Phase == PhaseWaitingPromotion) {
				t.Fatalf("run %d tick %d: %d failed checks (threshold %d) but still %s", run, tick, st.FailedChecks, spec.Threshold, st.Phase)
			}
			if (prevPhase == PhaseSucceeded || prevPhase == PhaseFailed) && st.Phase != prevPhase && s.revision == prevApplied {
				t.Fatalf("run %d tick %d: left terminal phase %s for %s without a new revision", run, tick, prevPhase, st.Phase)
			}
			if msg := historyInvariants(spec, st); msg != "" {
				t.Fatalf("run %d tick %d: %s: %+v", run, tick, msg, st.History)
			}
			prevWeight, prevPhase, prevApplied = st.CanaryWeight, st.Phase, st.LastAppliedSpec
			if st.Phase != PhaseProgressing && st.Phase != PhaseWaitingPromotion {
				prevWeight = 0
			}
		}
	}
}

// historyInvariants: the history is bounded, numbered without gaps, open
// only in its last entry, open exactly while a release runs (for the
// revision under analysis), and ended releases agree with the phase.
func historyInvariants(spec Spec, st Status) string {
	h := st.History
	if len(h) > spec.HistoryLimit {
		return fmt.Sprintf("%d entries, limit %d", len(h), spec.HistoryLimit)
	}
	for i, r := range h {
		if i > 0 && r.ID != h[i-1].ID+1 {
			return fmt.Sprintf("entry %d has id %d after %d", i, r.ID, h[i-1].ID)
		}
		if r.End.IsZero() && i != len(h)-1 {
			return fmt.Sprintf("entry %d is open but not the last", r.ID)
		}
	}
	if len(h) == 0 {
		return "no history after a release"
	}
	last := h[len(h)-1]
	switch st.Phase {
	case PhaseWaiting, PhaseProgressing, PhaseWaitingPromotion, PhasePromoting, PhaseFinalising:
		if !last.End.IsZero() {
			return fmt.Sprintf("phase %s with no open release", st.Phase)
		}
		if st.Phase != PhaseWaiting && last.Revision != st.LastAppliedSpec {
			return fmt.Sprintf("open release of %s while analysing %s", last.Revision, st.LastAppliedSpec)
		}
	case PhaseSucceeded, PhaseFailed:
		if last.End.IsZero() || string(last.Outcome) != string(st.Phase) || last.Reason != st.Reason {
			return fmt.Sprintf("phase %s (%s) but the last release is %q (%s)", st.Phase, st.Reason, last.Outcome, last.Reason)
		}
	}
	for _, c := range st.Checks {
		if c.ReleaseID < 1 || c.ReleaseID > last.ID {
			return fmt.Sprintf("check %s at %s belongs to release %d", c.Metric, c.Time, c.ReleaseID)
		}
	}
	return ""
}

func TestPromotedCondition(t *testing.T) {
	cases := map[Phase]ConditionStatus{
		PhaseInitializing: ConditionUnknown, PhaseInitialized: ConditionTrue, PhaseWaiting: ConditionUnknown,
		PhaseProgressing: ConditionUnknown, PhaseWaitingPromotion: ConditionUnknown, PhasePromoting: ConditionUnknown,
		PhaseFinalising: ConditionUnknown, PhaseSucceeded: ConditionTrue, PhaseFailed: ConditionFalse,
	}
	for p, want := range cases {
		if got, _ := Promoted(p, "Deployment"); got != want {
			t.Errorf("%s: %s, want %s", p, got, want)
		}
	}
	if _, msg := Promoted(PhaseFailed, "Deployment"); msg != "Canary analysis failed, Deployment scaled to zero." {
		t.Errorf("Failed message %q", msg)
	}
}

// TestPurity keeps the package free of I/O and of hidden inputs.
func TestPurity(t *testing.T) {
	// the judge's statistics are part of the analysis: pure as well
	out, err := exec.Command("go", "list", "-deps", ".", "./judge").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"k8s.io/client-go", "k8s.io/apimachinery", "net/http", "os/exec", "math/rand"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("analysis depends on %s", dep)
			}
		}
	}
	files, _ := filepath.Glob("*.go")
	judgeFiles, _ := filepath.Glob("judge/*.go")
	files = append(files, judgeFiles...)
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "time" && (sel.Sel.Name == "Now" || sel.Sel.Name == "Since" || sel.Sel.Name == "Until") {
					t.Errorf("%s: calls time.%s; time is an input of Decide", fset.Position(sel.Pos()), sel.Sel.Name)
				}
			}
			return true
		})
	}
}
