package lifecycle

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQuantileOfHistogramDelta(t *testing.T) {
	before, err := parseMetrics(strings.NewReader(`# HELP x lateness
warbler_tick_lateness_seconds_bucket{le="0.1"} 10
warbler_tick_lateness_seconds_bucket{le="1"} 10
warbler_tick_lateness_seconds_bucket{le="+Inf"} 10
`))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseMetrics(strings.NewReader(`warbler_tick_lateness_seconds_bucket{le="0.1"} 60
warbler_tick_lateness_seconds_bucket{le="1"} 110
warbler_tick_lateness_seconds_bucket{le="+Inf"} 110
`))
	if err != nil {
		t.Fatal(err)
	}
	h := after.histogram("warbler_tick_lateness_seconds", nil).minus(before.histogram("warbler_tick_lateness_seconds", nil))
	if h.count() != 100 {
		t.Fatalf("count = %v, want the 100 observations between the scrapes", h.count())
	}
	// 50 in (0, 0.1], 50 in (0.1, 1]: the median is the top of the first
	// bucket, p99 interpolates to 0.1 + 0.9*49/50
	if got := h.quantile(0.5); got != 0.1 {
		t.Errorf("p50 = %v, want 0.1", got)
	}
	if got, want := h.quantile(0.99), 0.1+0.9*49.0/50; math.Abs(got-want) > 1e-9 {
		t.Errorf("p99 = %v, want %v", got, want)
	}
	if !math.IsNaN(histogram{}.quantile(0.5)) {
		t.Error("an empty histogram has no quantile")
	}
}

func TestParseLabelsWithEscapes(t *testing.T) {
	s, err := parseMetrics(strings.NewReader(`rest_client_requests_total{code="200",host="127.0.0.1:6443",method="GET"} 7
rest_client_requests_total{code="409",host="127.0.0.1:6443",method="PATCH"} 2
x{msg="a \"quoted\", value"} 1`))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.sum("rest_client_requests_total", nil); got != 9 {
		t.Errorf("sum = %v, want 9", got)
	}
	if got := s.sum("rest_client_requests_total", map[string]string{"method": "PATCH"}); got != 2 {
		t.Errorf("PATCH = %v, want 2", got)
	}
	if s[2].labels["msg"] != `a "quoted", value` {
		t.Errorf("escaped label = %q", s[2].labels["msg"])
	}
}

// The count reads rotated files and selects by time: a rotation in the
// middle of the window loses nothing, and what is outside it is not
// counted.
func TestAuditCountAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	from := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	line := func(at time.Time, agent, verb string) string {
		return `{"stage":"ResponseComplete","verb":"` + verb + `","userAgent":"` + agent + `","objectRef":{"resource":"canaries","subresource":"status"},"stageTimestamp":"` + at.Format(time.RFC3339Nano) + `"}` + "\n"
	}
	rotated := line(from.Add(-time.Second), "warbler/dev", "get") + line(from.Add(time.Second), "warbler/dev", "patch") + line(from.Add(2*time.Second), "kubectl/v1.36", "get")
	current := line(from.Add(3*time.Second), "warbler/dev", "patch") + line(from.Add(time.Hour), "warbler/dev", "get")
	for name, data := range map[string]string{"audit-2026-01-01T10-00-02.000.log": rotated, "audit.log": current} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := countAudit(dir, from, from.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.total != 2 || c.by["patch canaries/status"] != 2 || c.files != 2 {
		t.Errorf("counted %d requests (%v) in %d files, want the 2 status patches in both files", c.total, c.by, c.files)
	}
}
