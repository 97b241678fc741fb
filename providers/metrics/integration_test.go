package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// These tests run a real Prometheus scraping real podinfo processes every
// second. Each podinfo poses as one pod of namespace prod through the
// labels Flagger's bundled Prometheus puts on pods.

// asPod scrapes a podinfo process as if it were the named pod in prod.
func asPod(p *testenv.Podinfo, pod string) testenv.ScrapeTarget {
	return testenv.ScrapeTarget{
		Address: fmt.Sprintf("127.0.0.1:%d", p.Port),
		Labels:  map[string]string{"kubernetes_namespace": "prod", "kubernetes_pod_name": pod},
	}
}

// drive sends GET base+path(i) at rate requests per second until the test
// ends. Requests run concurrently, so slow ones do not lower the rate.
func drive(t testing.TB, base string, rate int, path func(i int) string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				get(ctx, client, base+path(i))
			}()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func get(ctx context.Context, c *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return
	}
	resp, err := c.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func every(path string) func(int) string { return func(int) string { return path } }

// settle polls a query until check accepts its value, and returns it.
func settle(t *testing.T, p Provider, query string, check func(v float64) error) float64 {
	t.Helper()
	var v float64
	testenv.Eventually(t, 90*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if v, err = p.Query(ctx, query); err != nil {
			return err
		}
		return check(v)
	})
	return v
}

func below(limit float64) func(float64) error {
	return func(v float64) error {
		if v >= limit {
			return fmt.Errorf("value %v is not below %v yet", v, limit)
		}
		return nil
	}
}

func above(limit float64) func(float64) error {
	return func(v float64) error {
		if v <= limit {
			return fmt.Errorf("value %v is not above %v yet", v, limit)
		}
		return nil
	}
}

func TestBuiltinAndTemplateQueriesAgainstRealPrometheus(t *testing.T) {
	canary := testenv.StartPodinfo(t, "podinfo-canary")
	primary := testenv.StartPodinfo(t, "podinfo-primary")
	faulty := testenv.StartPodinfo(t, "faulty-canary")
	slow := testenv.StartPodinfo(t, "slow-canary")
	prom := testenv.StartPrometheus(t, time.Second,
		asPod(canary, "podinfo-7d9c5f-x2x1z"),
		// Same namespace and a name that starts with the target: the
		// builtin query must tell the primary's pods apart.
		asPod(primary, "podinfo-primary-5b8d7-k2j4q"),
		asPod(faulty, "faulty-6c8b9-q7w2e"),
		asPod(slow, "slow-58f4d-h9zt2"))

	// Exactly 37 teapots, before any other traffic, for the template check.
	client := &http.Client{Timeout: 5 * time.Second}
	for range 37 {
		get(context.Background(), client, canary.URL+"/status/418")
	}
	drive(t, canary.URL, 20, every("/"))
	drive(t, primary.URL, 20, every("/status/500"))
	drive(t, faulty.URL, 20, func(i int) string {
		if i%4 == 0 {
			return "/status/500"
		}
		return "/"
	})
	drive(t, slow.URL, 5, every("/delay/1"))

	p, err := New(flaggerv1.MetricTemplateProvider{Type: TypePrometheus, Address: prom.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	builtin := func(target, metric string) string {
		q, err := BuiltinQuery("kubernetes", metric, Model{Name: target, Namespace: "prod", Target: target, Interval: "10s"})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}

	t.Run("success rate is 100 with good traffic while the primary fails", func(t *testing.T) {
		settle(t, p, builtin("podinfo-primary", RequestSuccessRate), below(50))
		v := settle(t, p, builtin("podinfo", RequestSuccessRate), func(v float64) error {
			if v != 100 {
				return fmt.Errorf("success rate %v, want 100", v)
			}
			return nil
		})
		t.Logf("podinfo success rate %.2f%%", v)
	})
	t.Run("success rate drops below 99 when a quarter of the requests fail", func(t *testing.T) {
		v := settle(t, p, builtin("faulty", RequestSuccessRate), below(99))
		t.Logf("faulty success rate %.2f%%", v)
	})
	t.Run("request duration rises above 500 ms with 1 s requests", func(t *testing.T) {
		v := settle(t, p, builtin("slow", RequestDuration), above(500))
		t.Logf("slow P99 %.0f ms", v)
		fast := settle(t, p, builtin("podinfo", RequestDuration), below(500))
		t.Logf("podinfo P99 %.1f ms", fast)
	})
	t.Run("a MetricTemplate query renders namespace, target and variables", func(t *testing.T) {
		tmpl := `sum(http_request_duration_seconds_count{
			kubernetes_namespace="{{ namespace }}",
			kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)",
			status="{{ variables.status }}"})`
		m := Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Variables: map[string]string{"status": "418"}}
		var q string
		var v float64
		testenv.Eventually(t, 60*time.Second, func() error {
			var err error
			q, v, err = Evaluate(context.Background(), p, "teapots.prod", tmpl, m)
			if err == nil && v != 37 {
				err = fmt.Errorf("value %v, want 37", v)
			}
			return err
		})
		want := `sum(http_request_duration_seconds_count{ kubernetes_namespace="prod", kubernetes_pod_name=~"podinfo-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)", status="418"})`
		if q != want {
			t.Errorf("rendered %s\nwant     %s", q, want)
		}
	})
	t.Run("every builtin query parses", func(t *testing.T) {
		for _, provider := range BuiltinProviders() {
			for _, metric := range []string{RequestSuccessRate, RequestDuration} {
				q, err := BuiltinQuery(provider, metric, goldenModel)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.Query(context.Background(), q); class(err) == "invalid query" || class(err) == "provider error" {
					t.Errorf("%s %s: %v", provider, metric, err)
				}
			}
		}
	})
	t.Run("a stopped Prometheus is a provider error, not no values", func(t *testing.T) {
		if ok, err := p.IsOnline(context.Background()); !ok {
			t.Fatalf("IsOnline before the stop: %v", err)
		}
		prom.Stop()
		_, err := p.Query(context.Background(), builtin("podinfo", RequestSuccessRate))
		if c := class(err); c != "provider error" {
			t.Fatalf("class %s (%v), want provider error", c, err)
		}
		t.Logf("error: %v", err)
		if ok, err := p.IsOnline(context.Background()); ok || err == nil {
			t.Errorf("IsOnline after the stop = %v, %v", ok, err)
		}
	})
}

// BenchmarkPrometheusQuery measures one builtin query against a local
// Prometheus, with the provider reused from a Cache and with a provider
// built for every query as Flagger does.
func BenchmarkPrometheusQuery(b *testing.B) {
	pod := testenv.StartPodinfo(b, "podinfo-bench")
	prom := testenv.StartPrometheus(b, time.Second, asPod(pod, "podinfo-7d9c5f-x2x1z"))
	spec := flaggerv1.MetricTemplateProvider{Type: TypePrometheus, Address: prom.URL}
	q, err := BuiltinQuery("kubernetes", RequestSuccessRate, Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Interval: "10s"})
	if err != nil {
		b.Fatal(err)
	}
	var cache Cache
	warm, _ := cache.Get(spec, nil)
	// Prometheus' own scrapes of /metrics are the traffic.
	testenv.Eventually(b, 60*time.Second, func() error {
		_, err := warm.Query(context.Background(), q)
		return err
	})
	ctx := context.Background()
	b.Run("cached provider", func(b *testing.B) {
		for b.Loop() {
			p, err := cache.Get(spec, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Query(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new provider per query", func(b *testing.B) {
		for b.Loop() {
			p, err := New(spec, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Query(ctx, q); err != nil {
				b.Fatal(err)
			}
			p.(*Prometheus).closeIdle()
		}
	})
	b.Run("render only", func(b *testing.B) {
		m := Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Interval: "10s"}
		for b.Loop() {
			if _, err := BuiltinQuery("kubernetes", RequestSuccessRate, m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
