package dashboard

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/alerts"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// plot is an SVG chart over time, laid out here and drawn by the template
// (no script, no plotting library).
type plot struct {
	Title string
	// the view box and the plot area inside it
	Width, Height            float64
	Left, Right, Top, Bottom float64
	Lines                    []line
	Dots                     []dot
	XTicks, YTicks           []tick
	// Legend names the lines' classes.
	Legend []legendItem

	from, to time.Time
	lo, hi   float64
}

// line is a polyline; Class styles it (weight, value, threshold).
type line struct {
	Class, Points, Label string
}

// dot is one recorded check.
type dot struct {
	X, Y                         float64
	Class, Title                 string
	Metric, Value, Time, Verdict string
	Threshold                    string
}

type tick struct {
	Pos           float64
	Label, Anchor string
}

type legendItem struct{ Class, Label string }

const (
	plotWidth  = 760
	plotHeight = 170
)

func newPlot(title string, from, to time.Time, lo, hi float64) *plot {
	if !to.After(from) {
		from = to.Add(-time.Minute)
	}
	if hi <= lo {
		lo, hi = lo-1, hi+1
	}
	p := &plot{Title: title, Width: plotWidth, Height: plotHeight, Left: 56, Right: plotWidth - 12, Top: 10, Bottom: plotHeight - 24,
		from: from, to: to, lo: lo, hi: hi}
	p.ticks()
	return p
}

func (p *plot) x(t time.Time) float64 {
	f := float64(t.Sub(p.from)) / float64(p.to.Sub(p.from))
	return round1(p.Left + f*(p.Right-p.Left))
}

func (p *plot) y(v float64) float64 {
	f := (v - p.lo) / (p.hi - p.lo)
	return round1(p.Bottom - f*(p.Bottom-p.Top))
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// ticks puts five labels on each axis.
func (p *plot) ticks() {
	span := p.to.Sub(p.from)
	layout := "15:04:05"
	if span > 24*time.Hour {
		layout = "Jan 2 15:04"
	}
	for i := range 5 {
		t := p.from.Add(span * time.Duration(i) / 4)
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		p.XTicks = append(p.XTicks, tick{Pos: p.x(t), Label: t.Local().Format(layout), Anchor: anchor})
		v := p.lo + (p.hi-p.lo)*float64(i)/4
		p.YTicks = append(p.YTicks, tick{Pos: p.y(v), Label: alerts.FormatValue(v)})
	}
}

// points joins (time, value) pairs as polyline points.
func (p *plot) points(ts []time.Time, vs []float64) string {
	var b strings.Builder
	for i := range ts {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%g,%g", p.x(ts[i]), p.y(vs[i]))
	}
	return b.String()
}

// weightPlot draws the weight as steps, up to now.
func weightPlot(pts []weightPoint, from, now time.Time) *plot {
	p := newPlot("Canary weight (%)", from, now, 0, 100)
	var ts []time.Time
	var vs []float64
	for i, w := range pts {
		if i > 0 {
			ts, vs = append(ts, w.Time), append(vs, vs[len(vs)-1])
		}
		ts, vs = append(ts, w.Time), append(vs, float64(w.Weight))
	}
	if len(pts) > 0 {
		ts, vs = append(ts, now), append(vs, vs[len(vs)-1])
	}
	p.Lines = []line{{Class: "weight", Points: p.points(ts, vs), Label: "weight"}}
	for _, w := range pts {
		p.Dots = append(p.Dots, dot{X: p.x(w.Time), Y: p.y(float64(w.Weight)), Class: "weight",
			Value: strconv.Itoa(w.Weight), Time: w.Time.UTC().Format(time.RFC3339),
			Title: fmt.Sprintf("%s weight %d%%", w.Time.Local().Format("15:04:05"), w.Weight)})
	}
	p.Legend = []legendItem{{Class: "weight", Label: "status.canaryWeight"}}
	return p
}

// checkPlot draws one metric's recorded checks: each value as a dot (red
// when the check failed), joined by a line, and the bounds it was judged
// against as dashed steps. A check without a value (no data, provider
// error) is a hollow mark on the lower edge.
func checkPlot(metric string, checks []flaggerv1.CheckResult, from, now time.Time) *plot {
	lo, hi := math.Inf(1), math.Inf(-1)
	widen := func(v *float64) {
		if v != nil {
			lo, hi = min(lo, *v), max(hi, *v)
		}
	}
	for _, ch := range checks {
		widen(ch.Value)
		widen(ch.Min)
		widen(ch.Max)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	pad := (hi - lo) * 0.1
	p := newPlot(metric, from, now, lo-pad, hi+pad)
	var vt []time.Time
	var vv []float64
	for _, ch := range checks {
		d := dot{Metric: ch.Metric, Time: ch.Time.UTC().Format(time.RFC3339), Verdict: string(ch.Verdict),
			Threshold: thresholdText(ch), X: p.x(ch.Time.Time), Class: "check " + strings.ToLower(string(ch.Verdict))}
		if ch.Failed {
			d.Class += " failed"
		}
		value := "no value"
		if ch.Value != nil {
			d.Value, d.Y = alerts.FormatValue(*ch.Value), p.y(*ch.Value)
			value = d.Value
			vt, vv = append(vt, ch.Time.Time), append(vv, *ch.Value)
		} else {
			d.Y, d.Class = p.Bottom, d.Class+" novalue"
		}
		d.Title = fmt.Sprintf("%s %s: %s (%s) %s", ch.Time.Local().Format("15:04:05"), ch.Metric, value, d.Threshold, ch.Verdict)
		if ch.Message != "" {
			d.Title += ": " + ch.Message
		}
		p.Dots = append(p.Dots, d)
	}
	p.Lines = append(p.Lines, line{Class: "value", Points: p.points(vt, vv), Label: "value"})
	p.Legend = append(p.Legend, legendItem{Class: "value", Label: "value"})
	for _, b := range []struct {
		name string
		get  func(flaggerv1.CheckResult) *float64
	}{{"min", func(c flaggerv1.CheckResult) *float64 { return c.Min }}, {"max", func(c flaggerv1.CheckResult) *float64 { return c.Max }}} {
		if pts := p.bound(checks, b.get, now); pts != "" {
			p.Lines = append(p.Lines, line{Class: "threshold " + b.name, Points: pts, Label: b.name})
			p.Legend = append(p.Legend, legendItem{Class: "threshold " + b.name, Label: "threshold " + b.name})
		}
	}
	return p
}

// bound is the step line of one bound of the threshold range, as the
// checks recorded it, held until now.
func (p *plot) bound(checks []flaggerv1.CheckResult, get func(flaggerv1.CheckResult) *float64, now time.Time) string {
	var ts []time.Time
	var vs []float64
	for _, ch := range checks {
		v := get(ch)
		if v == nil {
			continue
		}
		if n := len(vs); n > 0 {
			ts, vs = append(ts, ch.Time.Time), append(vs, vs[n-1])
		}
		ts, vs = append(ts, ch.Time.Time), append(vs, *v)
	}
	if len(ts) == 0 {
		return ""
	}
	ts, vs = append(ts, now), append(vs, vs[len(vs)-1])
	return p.points(ts, vs)
}

// thresholdText is a check's accepted range in words.
func thresholdText(ch flaggerv1.CheckResult) string {
	if r := alerts.Range(ch.Min, ch.Max); r != "" {
		return r
	}
	return "no threshold"
}
