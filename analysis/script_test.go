package analysis

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata scripts")

// TestScripts runs the release stories in testdata/*.txt. Each block is a
// command, a "----" line and the expected output; a changed behaviour shows
// as a text diff of Flagger's messages. Run with -rewrite to regenerate, and
// read the diff before committing it.
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type block struct {
	comments []string
	cmd      string
	want     string
}

func parseScript(t *testing.T, path string) []block {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []block
	var cur block
	inWant := false
	var want []string
	flush := func() {
		if cur.cmd != "" {
			cur.want = strings.Join(want, "\n")
			blocks = append(blocks, cur)
		}
		cur, want, inWant = block{}, nil, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case inWant && line == "":
			flush()
		case inWant:
			want = append(want, line)
		case line == "----":
			inWant = true
		case strings.HasPrefix(line, "#") || (line == "" && cur.cmd == ""):
			cur.comments = append(cur.comments, line)
		case cur.cmd == "":
			cur.cmd = line
		default:
			t.Fatalf("%s: unexpected line %q after command %q", path, line, cur.cmd)
		}
	}
	flush()
	return blocks
}

func runScript(t *testing.T, path string) {
	blocks := parseScript(t, path)
	var s *sim
	var out strings.Builder
	for _, b := range blocks {
		got, err := runCommand(&s, b.cmd)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, b.cmd, err)
		}
		for _, c := range b.comments {
			out.WriteString(c + "\n")
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n\n", b.cmd, got)
		if !*rewrite && got != b.want {
			t.Errorf("%s: %s\n--- got\n%s\n--- want\n%s", path, b.cmd, got, b.want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runCommand(sp **sim, line string) (string, error) {
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	if cmd == "canary" {
		spec, err := parseSpec(args)
		if err != nil {
			return "error: " + err.Error(), nil
		}
		*sp = newSim(spec)
		out := fmt.Sprintf("strategy=%s interval=%s threshold=%d maxWeight=%d schedule=%v", spec.Strategy, spec.Interval, spec.Threshold, spec.MaxWeight, Schedule(spec))
		for _, n := range spec.Notes {
			out += "\nnote: " + n
		}
		return out, nil
	}
	s := *sp
	if s == nil {
		return "", fmt.Errorf("no canary yet")
	}
	switch cmd {
	case "tick": // tick [N] [after=DURATION]
		n, after := 1, s.spec.Interval
		for _, a := range args {
			if v, ok := strings.CutPrefix(a, "after="); ok {
				d, err := time.ParseDuration(v)
				if err != nil {
					return "", err
				}
				after = d
			} else if k, err := strconv.Atoi(a); err == nil {
				n = k
			}
		}
		var outs []string
		for range n {
			outs = append(outs, s.describe(s.tick(after)))
		}
		return strings.Join(outs, "\n"), nil
	case "run": // tick every interval until Succeeded or Failed, compactly
		limit := 60
		var outs []string
		for i := 0; i < limit; i++ {
			d := s.tick(s.spec.Interval)
			outs = append(outs, s.compact(d))
			if p := d.Status.Phase; p == PhaseSucceeded || p == PhaseFailed {
				return strings.Join(outs, "\n"), nil
			}
		}
		return strings.Join(outs, "\n") + "\n(stopped after 60 ticks)", nil
	case "revision":
		s.revision = args[0]
	case "config":
		if s.configs == nil {
			s.configs = map[string]string{}
		}
		k, v, _ := strings.Cut(args[0], "=")
		s.configs[k] = v
	case "hook": // hook NAME ok|fail [error text]
		s.hooks[args[0]] = args[1] == "ok"
		s.hookErr[args[0]] = strings.Join(args[2:], " ")
	case "metric": // metric NAME VALUE|nodata|error MSG|invalid MSG|clear
		if args[1] == "clear" {
			delete(s.metrics, args[0])
			return "ok", nil
		}
		r, err := parseResult(args)
		if err != nil {
			return "", err
		}
		s.metrics[args[0]] = r
	case "against": // against NAME VALUE|nodata|error MSG|clear: the other side of a relative check
		if args[1] == "clear" {
			delete(s.against, args[0])
			return "ok", nil
		}
		r, err := parseResult(args)
		if err != nil {
			return "", err
		}
		s.against[args[0]] = r
	case "baseline": // baseline up|down: the baseline Deployment exists or not
		s.baselineUp = args[0] == "up"
	case "samples": // samples NAME CANARY BASELINE: centres of a judged metric's samples
		c, err1 := strconv.ParseFloat(args[1], 64)
		b, err2 := strconv.ParseFloat(args[2], 64)
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("samples %v: not numbers", args)
		}
		s.samples[args[0]] = [2]float64{c, b}
	case "ready": // ready canary|primary|baseline yes|no|deadline [message]
		r := Readiness{Ready: args[1] == "yes", Deadline: args[1] == "deadline", Message: strings.Join(args[2:], " ")}
		switch args[0] {
		case "canary":
			s.canaryReady = r
		case "baseline":
			s.baselineReady = r
		default:
			s.primaryReady = r
		}
	case "status": // status key=value: seed the status
		for _, a := range args {
			k, v, _ := strings.Cut(a, "=")
			n, _ := strconv.Atoi(v)
			switch k {
			case "phase":
				s.status.Phase = Phase(v)
			case "lastApplied":
				s.status.LastAppliedSpec = v
			case "lastPromoted":
				s.status.LastPromotedSpec = v
			case "failedChecks":
				s.status.FailedChecks = n
			case "weight":
				s.status.CanaryWeight = n
			case "iterations":
				s.status.Iterations = n
			case "reason": // as Hold writes it
				s.status = Hold(s.status, Reason(v), "the controller could not run: "+v)
			default:
				return "", fmt.Errorf("unknown status field %q", k)
			}
		}
	case "primary": // primary REV: what the primary runs
		s.primaryRev = args[0]
	case "delete":
		s.deleting = true
	case "request": // request OP [ID [BY]]: an imperative operation for the next tick
		r := Request{Op: args[0]}
		if len(args) > 1 {
			r.ID = args[1]
		}
		if len(args) > 2 {
			r.By = args[2]
		}
		s.request = &r
	case "history": // the release history, oldest first
		var lines []string
		for _, r := range s.status.History {
			lines = append(lines, "#"+describeRelease(r))
		}
		if len(lines) == 0 {
			return "(none)", nil
		}
		return strings.Join(lines, "\n"), nil
	case "checks": // the release each recorded check belongs to
		var lines []string
		for _, c := range s.status.Checks {
			lines = append(lines, fmt.Sprintf("%s t=%s release #%d %s", c.Metric, c.Time.Sub(epoch), c.ReleaseID, c.Verdict))
		}
		return strings.Join(lines, "\n"), nil
	default:
		return "", fmt.Errorf("unknown command %q", cmd)
	}
	return "ok", nil
}

// parseResult reads "NAME VALUE|nodata|error MSG|invalid MSG".
func parseResult(args []string) (MetricResult, error) {
	r := MetricResult{Name: args[0]}
	switch args[1] {
	case "nodata":
		r.Outcome = QueryNoData
	case "error":
		r.Outcome, r.Err = QueryProviderError, strings.Join(args[2:], " ")
	case "invalid":
		r.Outcome, r.Err = QueryInvalid, strings.Join(args[2:], " ")
	default:
		v, err := strconv.ParseFloat(args[1], 64)
		if err != nil {
			return r, err
		}
		r.Value = v
	}
	return r, nil
}

// compact renders a tick on one line plus its messages.
func (s *sim) compact(d Decision) string {
	st := d.Status
	line := fmt.Sprintf("t=%s %s w=%d fc=%d it=%d", s.now.Sub(epoch), phaseName(st.Phase), st.CanaryWeight, st.FailedChecks, st.Iterations)
	for _, e := range d.Events {
		if !e.LogOnly {
			line += " | " + e.Message
		}
	}
	return line
}
