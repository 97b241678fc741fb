package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// These tests run the graphite and influxdb providers against real
// servers fed with known points: carbon-cache plus graphite-web (Debian),
// and influxd with Flux (built from the module proxy).

// eventually polls Evaluate until check accepts the outcome.
func eventually(t *testing.T, p Provider, query string, m Model, check func(v float64, err error) error) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, v, err := Evaluate(ctx, p, "server-test", query, m)
		return check(v, err)
	})
}

func value(want float64) func(float64, error) error {
	return func(v float64, err error) error {
		if err != nil {
			return err
		}
		if v != want {
			return fmt.Errorf("value %v, want %v", v, want)
		}
		return nil
	}
}

func errorClass(want string, msgs ...string) func(float64, error) error {
	return func(v float64, err error) error {
		if c := class(err); c != want {
			return fmt.Errorf("class %s (%v, value %v), want %s", c, err, v, want)
		}
		for _, m := range msgs {
			if !strings.Contains(err.Error(), m) {
				return fmt.Errorf("error %q does not say %q", err, m)
			}
		}
		return nil
	}
}

var serverModel = Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Interval: "1m"}

func TestGraphiteAgainstRealGraphite(t *testing.T) {
	g := testenv.StartGraphite(t)
	now := time.Now()
	if err := g.Send(
		stack.GraphiteLine("app.podinfo.prod.requests.ok", 45, now.Add(-3*time.Second)),
		stack.GraphiteLine("app.podinfo.prod.requests.total", 50, now.Add(-3*time.Second)),
		stack.GraphiteLine("app.podinfo.prod.latency", 120, now.Add(-3*time.Second)),
		stack.GraphiteLine("app.podinfo.prod.latency", 180, now.Add(-2*time.Second)),
	); err != nil {
		t.Fatal(err)
	}
	p, err := New(flaggerv1.MetricTemplateProvider{Type: TypeGraphite, Address: g.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.IsOnline(context.Background()); !ok {
		t.Fatalf("IsOnline: %v", err)
	}
	t.Run("the last point of a series", func(t *testing.T) {
		eventually(t, p, "target=app.{{ target }}.{{ namespace }}.latency&from=-5min", serverModel, value(180))
	})
	t.Run("Graphite functions, as in Flagger's example", func(t *testing.T) {
		eventually(t, p, `target=asPercent(
			sumSeries(app.{{ target }}.{{ namespace }}.requests.ok),
			sumSeries(app.{{ target }}.{{ namespace }}.requests.total))&from=-5min`, serverModel, value(90))
	})
	t.Run("a wildcard matching two series is refused", func(t *testing.T) {
		eventually(t, p, "target=app.podinfo.prod.requests.*&from=-5min", serverModel,
			errorClass("invalid query", "2 series", "app.podinfo.prod.requests.ok", "app.podinfo.prod.requests.total"))
	})
	t.Run("no series is no values", func(t *testing.T) {
		eventually(t, p, "target=app.nothing.here&from=-5min", serverModel, errorClass("no values"))
	})
	t.Run("an unknown function is an invalid query", func(t *testing.T) {
		eventually(t, p, "target=noSuchFunction(app.podinfo.prod.latency)", serverModel,
			errorClass("invalid query", "400 Bad Request", "unknown function"))
	})
	t.Run("a Go duration as offset is refused by Graphite", func(t *testing.T) {
		// Graphite's units are s, min, h, d…; "1m" is none
		eventually(t, p, "target=app.podinfo.prod.latency&from=-1m", serverModel, errorClass("invalid query", "400 Bad Request"))
	})
	t.Run("a stopped Graphite is a provider error", func(t *testing.T) {
		g.Stop()
		eventually(t, p, "target=app.podinfo.prod.latency&from=-5min", serverModel, errorClass("provider error", "connection refused"))
		if ok, err := p.IsOnline(context.Background()); ok || err == nil {
			t.Errorf("IsOnline after the stop = %v, %v", ok, err)
		}
	})
}

func TestInfluxDBAgainstRealInfluxDB(t *testing.T) {
	db := testenv.StartInfluxDB(t, "metrics")
	now := time.Now().Unix()
	if err := db.Write(context.Background(), "metrics",
		fmt.Sprintf("latency,namespace=prod,target=podinfo,status=200 value=100 %d", now-20),
		fmt.Sprintf("latency,namespace=prod,target=podinfo,status=200 value=200 %d", now-10),
		fmt.Sprintf("latency,namespace=prod,target=podinfo,status=500 value=900 %d", now-10),
	); err != nil {
		t.Fatal(err)
	}
	p, err := New(flaggerv1.MetricTemplateProvider{Type: TypeInfluxDB, Address: db.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := p.IsOnline(context.Background()); !ok {
		t.Fatalf("IsOnline: %v", err)
	}
	const from = `from(bucket: "metrics/autogen") |> range(start: -5m)
		|> filter(fn: (r) => r._measurement == "latency" and r.namespace == "{{ namespace }}" and r.target == "{{ target }}")`
	t.Run("the mean of one table", func(t *testing.T) {
		eventually(t, p, from+` |> filter(fn: (r) => r.status == "200") |> mean()`, serverModel, value(150))
	})
	t.Run("count() is an integer, read too", func(t *testing.T) {
		eventually(t, p, from+` |> group() |> count()`, serverModel, value(3))
	})
	t.Run("two tables are refused", func(t *testing.T) {
		eventually(t, p, from+` |> mean()`, serverModel, errorClass("invalid query", "2 series", "status=200", "status=500"))
	})
	t.Run("no records is no values", func(t *testing.T) {
		eventually(t, p, from+` |> filter(fn: (r) => r.status == "404") |> mean()`, serverModel, errorClass("no values"))
	})
	t.Run("a Flux syntax error is reported", func(t *testing.T) {
		// InfluxDB 1.7 answers 500 with the compiler's message (2.x: 400,
		// an invalid query; see the contract test)
		eventually(t, p, `from(bucket: "metrics/autogen") |> range(start: -5m) |>`, serverModel,
			errorClass("provider error", "500 Internal Server Error", "pipe destination is missing"))
	})
	t.Run("a stopped InfluxDB is a provider error", func(t *testing.T) {
		db.Stop()
		eventually(t, p, from+` |> mean()`, serverModel, errorClass("provider error", "connection refused"))
	})
}
