package charts_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// The arguments a chart gives its container are flags the binary knows,
// with values it parses: the binary is run with them followed by -h, which
// stops it after parsing, successfully only when every flag before it was
// accepted.
func TestBinariesAcceptChartArgs(t *testing.T) {
	bin := binaries(t)
	for chart, sets := range valueSets(t) {
		for set, values := range sets {
			r := render(t, chart, "rel", "ns", values)
			for _, u := range r.kinds("Deployment") {
				d := typed[appsv1.Deployment](t, u)
				c := container(t, d)
				if len(c.Command) > 0 {
					t.Errorf("%s (%s): container command %q; the image's entrypoint is the binary", chart, set, c.Command)
				}
				cmd := exec.Command(filepath.Join(bin, chart), append(append([]string{}, c.Args...), "-h")...)
				out, err := cmd.CombinedOutput()
				if err != nil || strings.Contains(string(out), "provided but not defined") || strings.Contains(string(out), "invalid value") {
					t.Errorf("%s (%s): %s %s refuses the chart's arguments: %v\n%s", chart, set, chart, strings.Join(c.Args, " "), err, lastLine(out))
				}
			}
		}
	}
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		if strings.Contains(l, "provided but not defined") || strings.Contains(l, "invalid value") {
			return l
		}
	}
	return lines[len(lines)-1]
}
