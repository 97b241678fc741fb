package lifecycle

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// table prints the figures of every fleet size side by side.
func table(rs []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nlifecycle benchmark: interval %s, iterations 3, provider kubernetes; schedule of a release %s (%d ticks, from kubectl canary simulate)\n",
		interval, rs[0].schedule.duration, rs[0].schedule.ticks)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(label string, f func(r result) string) {
		cells := []string{label}
		for _, r := range rs {
			cells = append(cells, f(r))
		}
		fmt.Fprintln(w, strings.Join(cells, "\t")+"\t")
	}
	row("canaries (namespaces)", func(r result) string { return fmt.Sprintf("%d (%d)", r.n, r.namespaces) })
	row("create Deployments+Canaries", func(r result) string { return r.created.Round(time.Second).String() })
	row("all Initialized (from the first create)", func(r result) string { return r.initialized.Round(time.Second).String() })
	row("  each canary: p50 / p99 / max", func(r result) string { return durations(r.initEach) })
	for _, ph := range []struct {
		name string
		get  func(r result) phase
	}{{"steady", func(r result) phase { return r.steady }}, {"release", func(r result) phase { return r.release }}} {
		if ph.name == "release" {
			row("release: all Succeeded", func(r result) string {
				return fmt.Sprintf("%s (%.2f× schedule)", r.release.took.Round(time.Second), r.release.took.Seconds()/r.schedule.duration.Seconds())
			})
			row("  each canary: p50 / p99 / max", func(r result) string { return durations(r.releaseEach) })
			row("  pods Ready after a rollout: p50 / p99 / max", func(r result) string { return durations(r.rolloutEach) })
			row("  per canary waiting for pods: p50 / p99 / max", func(r result) string { return durations(r.rolloutPerCanary) })
			row("  kube-controller-manager queues", func(r result) string { return r.kcm })
		} else {
			row("steady: "+(steadyTicks*interval).String(), func(result) string { return "" })
		}
		p := func(r result) phase { return ph.get(r) }
		row("  tick lateness p50 / p99", func(r result) string {
			return seconds(p(r).lateness.quantile(0.5)) + " / " + seconds(p(r).lateness.quantile(0.99))
		})
		row("  queue wait p99; tick duration p99", func(r result) string {
			return seconds(p(r).queueWait.quantile(0.99)) + "; " + seconds(p(r).tickDuration.quantile(0.99))
		})
		row("  ticks run per scheduled tick (watch wake-ups)", func(r result) string {
			return fmt.Sprintf("%.2f (%d ticks)", p(r).tickDuration.count()/p(r).ticks, int(p(r).tickDuration.count()))
		})
		row("  client-side throttling, total; API latency p99", func(r result) string {
			return seconds(p(r).throttle) + "; " + seconds(p(r).apiLatency.quantile(0.99))
		})
		row("  API requests per tick: audit log / client", func(r result) string {
			return fmt.Sprintf("%.3f / %.3f (%d / %d)", float64(p(r).audit.total)/p(r).ticks, p(r).clientRequests/p(r).ticks, p(r).audit.total, int(p(r).clientRequests))
		})
		row("  top requests (audit)", func(r result) string { return p(r).audit.top(4) })
		row("  requests not answered 2xx (conflicts are 409)", func(r result) string { return codes(p(r).failed) })
		row("  controller CPU (% of a core); RSS MiB", func(r result) string {
			return fmt.Sprintf("%.1f%%; %.0f", p(r).cpu, p(r).rss)
		})
		row("  CPU seconds by process", func(r result) string { return cpuByProcess(p(r).processesCPUSec) })
	}
	row("canaries with a release phase never seen", func(r result) string {
		return strings.TrimSpace(fmt.Sprintf("%d of %d (phases %v) %s", r.missedPhases, r.n, r.schedule.phases, r.missedExample))
	})
	row("controller peak RSS MiB", func(r result) string { return fmt.Sprintf("%.0f", r.peakRSS) })
	row("Events written / expected / lost", func(r result) string {
		s := fmt.Sprintf("%d / %d / %d", r.events.written, r.events.expected, r.events.lost)
		if len(r.events.missing) > 0 {
			s += " (" + strings.Join(r.events.missing, "; ") + ")"
		}
		return s
	})
	w.Flush()
	b.WriteString("Flagger 1.44 at 500 with the same harness: release 445 s (80 s schedule) at default settings, about 14 API requests per tick\n")
	return b.String()
}

func codes(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for code, n := range m {
		parts = append(parts, fmt.Sprintf("%s: %.0f", code, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func cpuByProcess(m map[string]float64) string {
	var parts []string
	for _, name := range []string{"warbler", "kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok", "benchmark"} {
		if v, ok := m[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", name, v))
		}
	}
	return strings.Join(parts, ", ")
}

func seconds(s float64) string {
	if math.IsNaN(s) {
		return "-"
	}
	return strconv.FormatFloat(s, 'f', 3, 64) + "s"
}

func itoa(n int) string { return strconv.Itoa(n) }
