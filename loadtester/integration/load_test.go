package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/webhooks"
)

// A hey command, as users write it for Flagger, runs in-process against a
// real podinfo; its summary agrees with podinfo's own request counter.
func TestHeyCmdAgainstPodinfoAgreesWithItsCounter(t *testing.T) {
	pi := testenv.StartPodinfo(t, "podinfo")
	lt := startInstance(t, instanceOptions{})
	before := requestsServed(t, pi.URL)

	line := "hey -z 3s -c 4 " + pi.URL + "/"
	code, body := post(t, lt.URL+"/", task("podinfo", "prod", "cmd", line))
	if code != http.StatusAccepted {
		t.Fatalf("hey cmd answered %d %q, want 202", code, body)
	}
	summary := lt.Log.waitFor(t, "hey summary "+pi.URL+"/", 60*time.Second)
	lt.Log.waitFor(t, "command finished "+line, 5*time.Second)
	after := requestsServed(t, pi.URL)

	heyCount := summary["requests"].(float64)
	// podinfo counts the first /metrics scrape too
	served := after - before - 1
	t.Logf("hey reported %v requests (%v req/s, p99 %vms); podinfo counted %v", heyCount, summary["rps"], summary["p99Ms"], served)
	if heyCount < 100 || math.Abs(heyCount-served) > 0.05*served {
		t.Errorf("hey reported %v requests, podinfo served %v: more than 5%% apart", heyCount, served)
	}
	if summary["canary"] != "podinfo.prod" || summary["level"] != "info" {
		t.Errorf("summary line %v", summary)
	}
	if codes := summary["statusCodes"].(map[string]any); codes["200"] != heyCount {
		t.Errorf("status codes %v, want every response a 200", codes)
	}
	// the summary is kept for the canary
	res, found := lt.Results.Get("podinfo.prod", "hey")
	if !found || float64(res.Requests) != heyCount {
		t.Errorf("kept hey result %+v %v", res, found)
	}
}

// A load task at 200 req/s for 5 s reaches at least 95% of its target
// rate, and podinfo served what it says it sent.
func TestLoadTaskAchievesItsTargetRate(t *testing.T) {
	pi := testenv.StartPodinfo(t, "podinfo")
	lt := startInstance(t, instanceOptions{})
	before := requestsServed(t, pi.URL)
	code, body := post(t, lt.URL+"/", task("podinfo", "prod",
		"type", "load", "url", pi.URL+"/", "rate", "200", "duration", "5s", "maxErrorRate", "1"))
	if code != http.StatusOK {
		t.Fatalf("load task answered %d %q", code, body)
	}
	var res webhooks.LoadResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	served := requestsServed(t, pi.URL) - before - 1
	t.Logf("load: target %v req/s, achieved %v req/s, %d sent, %d dropped, p50 %vms p99 %vms p99.9 %vms; podinfo served %v",
		res.TargetRate, res.AchievedRate, res.Requests, res.Dropped, res.LatencyMs.P50, res.LatencyMs.P99, res.LatencyMs.P999, served)
	if res.AchievedRate < 0.95*200 {
		t.Errorf("achieved %v req/s, less than 95%% of 200", res.AchievedRate)
	}
	if float64(res.Requests) != served || res.StatusCodes["200"] != res.Requests {
		t.Errorf("sent %d, podinfo served %v, codes %v", res.Requests, served, res.StatusCodes)
	}
	// GET /results serves the same result
	resp, err := http.Get(lt.URL + "/results/prod/podinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var served2 webhooks.LoadResult
	if err := json.NewDecoder(resp.Body).Decode(&served2); err != nil || served2.Requests != res.Requests || served2.Generator != "load" {
		t.Errorf("/results: %+v %v", served2, err)
	}
}

// stallServer answers at once, except during a stall, when every request
// waits for the stall to end, as a server in a GC pause or a lock would.
type stallServer struct {
	URL        string
	mu         sync.Mutex
	from, till time.Time
}

func startStallServer(t *testing.T) *stallServer {
	t.Helper()
	s := &stallServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		from, till := s.from, s.till
		s.mu.Unlock()
		if now := time.Now(); !now.Before(from) && now.Before(till) {
			time.Sleep(time.Until(till))
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.URL = "http://" + ln.Addr().String() + "/"
	return s
}

// stallIn makes the server stall for d, starting after a delay.
func (s *stallServer) stallIn(after, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.from = time.Now().Add(after)
	s.till = s.from.Add(d)
}

// A 1 s stall in a 5 s run shows in the load task's p99, because each
// request's latency runs from when it was due. hey, a closed loop, only
// sees the few requests that were in flight; what it reports is logged for
// comparison.
func TestStallShowsInTheLoadTaskP99(t *testing.T) {
	stall := startStallServer(t)
	lt := startInstance(t, instanceOptions{})

	stall.stallIn(2*time.Second, time.Second)
	code, body := post(t, lt.URL+"/", task("podinfo", "prod",
		"type", "load", "url", stall.URL, "rate", "100", "duration", "5s", "connections", "20"))
	if code != http.StatusOK {
		t.Fatalf("load task answered %d %q", code, body)
	}
	var res webhooks.LoadResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	// 100 of the 500 requests were due during the stall; the ones that
	// were due first waited for all of it
	if res.LatencyMs.P99 < 800 || res.LatencyMs.Max < 900 {
		t.Errorf("load p99 %vms max %vms: the 1 s stall does not show", res.LatencyMs.P99, res.LatencyMs.Max)
	}
	if res.LatencyMs.P90 < 100 {
		t.Errorf("load p90 %vms: a fifth of the requests waited for the stall", res.LatencyMs.P90)
	}

	// the same stall under hey: 2 workers at 50 req/s each, the same 100 req/s
	stall.stallIn(2*time.Second, time.Second)
	line := "hey -z 5s -c 2 -q 50 " + stall.URL
	if code, body := post(t, lt.URL+"/", task("podinfo", "prod", "cmd", line)); code != http.StatusAccepted {
		t.Fatalf("hey answered %d %q", code, body)
	}
	hey := lt.Log.waitFor(t, "hey summary "+stall.URL, 60*time.Second)
	report := fmt.Sprintf("stall comparison (1 s stall in a 5 s run at 100 req/s): load: %d requests, p50 %vms p90 %vms p99 %vms p99.9 %vms max %vms; "+
		"hey -c 2 -q 50: %v requests, p50 %vms p90 %vms p99 %vms",
		res.Requests, res.LatencyMs.P50, res.LatencyMs.P90, res.LatencyMs.P99, res.LatencyMs.P999, res.LatencyMs.Max,
		hey["requests"], hey["p50Ms"], hey["p90Ms"], hey["p99Ms"])
	t.Log(report)
	if p99 := hey["p99Ms"].(float64); p99 >= res.LatencyMs.P99 {
		t.Logf("hey's p99 (%vms) saw the stall as well this time", p99)
	}
}
