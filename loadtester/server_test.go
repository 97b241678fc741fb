package loadtester

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/webhooks"
)

// server starts a loadtester with the built-in tasks and in-memory gates.
func (f *fixture) server(t *testing.T, adjust ...func(*Options)) string {
	t.Helper()
	o := Options{Tasks: f.reg, Gates: f.gates, Results: f.results, Logger: f.tasks.Logger, TaskTimeout: time.Minute}
	for _, a := range adjust {
		a(&o)
	}
	return serve(t, o)
}

const podinfo = `{"name":"podinfo","namespace":"prod"}`

func TestFlaggerEndpointsAndCodes(t *testing.T) {
	f := newFixture(t)
	url := f.server(t)
	steps := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/healthz", "", 200, "OK"},
		{"POST", "/gate/approve", "", 200, "OK"},
		{"GET", "/gate/approve", "anything", 200, "OK"},
		{"POST", "/gate/halt", podinfo, 403, "Forbidden"},
		{"POST", "/gate/check", podinfo, 403, "Forbidden"},
		{"POST", "/gate/open", podinfo, 202, ""},
		{"POST", "/gate/check", podinfo, 200, "Approved"},
		{"POST", "/rollback/check", podinfo, 403, "Forbidden"},
		{"POST", "/rollback/open", podinfo, 202, ""},
		{"POST", "/rollback/check", podinfo, 200, "Approved"},
		{"POST", "/gate/close", podinfo, 202, ""},
		{"POST", "/gate/check", podinfo, 403, "Forbidden"},
		{"POST", "/rollback/check", podinfo, 200, "Approved"},
		{"POST", "/rollback/close", podinfo, 202, ""},
		{"POST", "/rollback/check", podinfo, 403, "Forbidden"},
		{"POST", "/gate/check", `{"name":"podinfo"}`, 400, `the payload needs the canary's "name" and "namespace"`},
		{"POST", "/gate/open", `{"name":`, 400, "decoding the request body"},
		{"POST", "/", payload("bash", "echo hi", "returnCmdOutput", "true"), 200, "hi\n"},
		{"POST", "/", payload("cmd", "true"), 202, ""},
		{"POST", "/", `{"name":"podinfo","namespace":"prod"}`, 400, "metadata not found in payload"},
		{"POST", "/", `{"name":"podinfo"`, 400, "decoding the request body: unexpected end of JSON input"},
		{"POST", "/", ``, 400, "request body is empty"},
		{"POST", "/", payload("concord", "x"), 400, `unknown task type "concord"`},
		{"POST", "/", payload("cmd", ""), 400, "cmd not found in metadata"},
		{"POST", "/", payload("cmd", "hey -c 10 -n 5 http://127.0.0.1:1/"), 400, "-n 5 cannot be less than -c 10"},
		{"POST", "/", payload("cmd", "hey -q fast http://127.0.0.1:1/"), 400, `invalid value "fast" for flag -q`},
		// Flagger's task handler is the catch-all
		{"POST", "/run/any/path", payload("bash", "true"), 200, ""},
		{"GET", "/results/prod/podinfo", "", 404, "no load result for podinfo.prod yet"},
		{"POST", "/results/prod/podinfo", "", 405, ""},
	}
	for _, s := range steps {
		code, body := call(t, s.method, url+s.path, s.body)
		if code != s.code || !strings.Contains(body, s.want) {
			t.Errorf("%s %s %s: got %d %q, want %d containing %q", s.method, s.path, s.body, code, body, s.code, s.want)
		}
	}
	for _, msg := range []string{
		"podinfo.prod gate check: approved false", "podinfo.prod gate opened", "podinfo.prod gate check: approved true",
		"rollback.podinfo.prod rollback check: approved true", "rollback.podinfo.prod rollback opened",
		"podinfo.prod gate closed", "rollback.podinfo.prod rollback closed", "bash command echo hi",
	} {
		l := f.log.find(msg)
		if l == nil || l["canary"] != "podinfo.prod" || l["level"] != "info" || l["ts"] == nil || l["caller"] == nil {
			t.Errorf("log line %q: %v", msg, l)
		}
	}
	if l := f.log.find("podinfo.prod gate opened"); l["by"] != "anonymous@127.0.0.1" || l["at"] == nil {
		t.Errorf("gate change not attributed: %v", l)
	}
}

func TestOversizedBodyIsA413(t *testing.T) {
	f := newFixture(t)
	url := f.server(t, func(o *Options) { o.MaxBodyBytes = 1024 })
	big := payload("bash", "echo "+strings.Repeat("x", 2000))
	for _, path := range []string{"/", "/gate/open"} {
		code, body := post(t, url+path, big)
		if code != http.StatusRequestEntityTooLarge || body != "request body is larger than 1024 bytes (-max-body-bytes)" {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

func TestNamespaceRegexpForbids(t *testing.T) {
	f := newFixture(t)
	url := f.server(t, func(o *Options) { o.NamespaceRegexp = regexp.MustCompile("^prod$") })
	dev := `{"name":"podinfo","namespace":"dev","metadata":{"type":"bash","cmd":"true"}}`
	for _, path := range []string{"/", "/gate/check", "/gate/open", "/gate/close", "/rollback/check", "/rollback/open", "/rollback/close"} {
		if code, body := post(t, url+path, dev); code != 403 || body != "Forbidden" {
			t.Errorf("%s for dev: %d %q", path, code, body)
		}
	}
	if code, body := call(t, "GET", url+"/results/dev/podinfo", ""); code != 403 || body != "Forbidden" {
		t.Errorf("results for dev: %d %q", code, body)
	}
	if code, _ := post(t, url+"/", payload("bash", "true")); code != 200 {
		t.Errorf("prod task: %d", code)
	}
	if code, _ := post(t, url+"/gate/open", podinfo); code != 202 {
		t.Errorf("prod gate: %d", code)
	}
}

func TestResultsServeTheLatestLoadResult(t *testing.T) {
	f := newFixture(t)
	url := f.server(t)
	f.results.Put(webhooks.LoadResult{Canary: "podinfo.prod", Generator: "hey", Requests: 7})
	code, body := call(t, "GET", url+"/results/prod/podinfo", "")
	if code != 200 || !strings.Contains(body, `"generator":"hey"`) {
		t.Fatalf("only hey: %d %s", code, body)
	}
	f.results.Put(webhooks.LoadResult{Canary: "podinfo.prod", Generator: "load", Requests: 9, LatencyMs: webhooks.Latency{P99: 12.5}})
	code, body = call(t, "GET", url+"/results/prod/podinfo", "")
	var res webhooks.LoadResult
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil || res.Generator != "load" || res.Requests != 9 || res.LatencyMs.P99 != 12.5 {
		t.Fatalf("load preferred: %d %s", code, body)
	}
	if code, body = call(t, "GET", url+"/results/prod/podinfo?generator=hey", ""); code != 200 || !strings.Contains(body, `"requests":7`) {
		t.Errorf("?generator=hey: %d %s", code, body)
	}
	if code, body = call(t, "GET", url+"/results/prod/podinfo?generator=k6", ""); code != 400 || !strings.Contains(body, "want load or hey") {
		t.Errorf("?generator=k6: %d %s", code, body)
	}
}

func TestBearerTokens(t *testing.T) {
	f := newFixture(t)
	url := f.server(t, func(o *Options) { o.Auth = &Auth{Tokens: map[string]string{"s3cret": "ci"}} })
	if code, body := post(t, url+"/gate/approve", ""); code != 401 || !strings.Contains(body, `missing "Authorization: Bearer <token>"`) {
		t.Errorf("no token: %d %q", code, body)
	}
	if code, _ := post(t, url+"/gate/approve", "", "Authorization", "Bearer wrong"); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := post(t, url+"/gate/open", podinfo, "Authorization", "Bearer s3cret"); code != 202 {
		t.Errorf("right token: %d", code)
	}
	if l := f.log.find("podinfo.prod gate opened"); l == nil || l["by"] != "ci@127.0.0.1" {
		t.Errorf("gate change by %v, want the token's identity", l)
	}
	// probes and scrapers need no token
	for _, path := range []string{"/healthz", "/metrics"} {
		if code, _ := call(t, "GET", url+path, ""); code != 200 {
			t.Errorf("%s: %d", path, code)
		}
	}
	if f.log.find("rejected POST /gate/approve from "+strings.TrimPrefix(url, "http://")) == nil {
		// the port is the client's, not the server's: just check a rejection was logged
		found := false
		for _, l := range f.log.Lines() {
			found = found || strings.HasPrefix(l["msg"].(string), "rejected POST /gate/approve from 127.0.0.1:")
		}
		if !found {
			t.Errorf("rejections are not logged")
		}
	}
}

func TestHMACSignatures(t *testing.T) {
	key := []byte("hmac-key")
	f := newFixture(t)
	url := f.server(t, func(o *Options) { o.Auth = &Auth{HMACKey: key, Window: time.Minute} })
	body := payload("bash", "echo signed", "returnCmdOutput", "true")

	if code, msg := post(t, url+"/", body); code != 401 || !strings.Contains(msg, "missing X-Warbler-Signature header") {
		t.Errorf("unsigned: %d %q", code, msg)
	}
	stale := webhooks.Sign(key, time.Now().Add(-10*time.Minute), "/", []byte(body))
	if code, msg := post(t, url+"/", body, webhooks.SignatureHeader, stale); code != 401 || !strings.Contains(msg, "outside the replay window") {
		t.Errorf("stale: %d %q", code, msg)
	}
	other := webhooks.Sign([]byte("other"), time.Now(), "/", []byte(body))
	if code, _ := post(t, url+"/", body, webhooks.SignatureHeader, other); code != 401 {
		t.Errorf("wrong key: %d", code)
	}
	tampered := webhooks.Sign(key, time.Now(), "/", []byte(body))
	if code, _ := post(t, url+"/", strings.Replace(body, "signed", "evil", 1), webhooks.SignatureHeader, tampered); code != 401 {
		t.Errorf("tampered body: %d", code)
	}
	// a signed gate opening cannot be replayed to another endpoint
	gate := `{"name":"podinfo","namespace":"prod"}`
	opening := webhooks.Sign(key, time.Now(), "/gate/open", []byte(gate))
	if code, msg := post(t, url+"/rollback/open", gate, webhooks.SignatureHeader, opening); code != 401 || !strings.Contains(msg, "signature does not match") {
		t.Errorf("gate/open signature replayed to /rollback/open: %d %q", code, msg)
	}
	if code, _ := post(t, url+"/gate/open", gate, webhooks.SignatureHeader, opening); code != 202 {
		t.Errorf("gate/open with its own signature: %d", code)
	}
	// Warbler's own webhook client signs, and is accepted
	client := webhooks.NewClient("warbler-test")
	var p webhooks.Payload
	_ = json.Unmarshal([]byte(body), &p)
	out, err := client.Call(context.Background(), webhooks.Request{URL: url + "/", HMACKey: key, Payload: p})
	if err != nil || out != "signed\n" {
		t.Errorf("signed call: %q %v", out, err)
	}
	_, err = client.Call(context.Background(), webhooks.Request{URL: url + "/gate/open", HMACKey: key, Payload: webhooks.Payload{Name: "podinfo", Namespace: "prod"}})
	if err != nil {
		t.Errorf("signed gate open: %v", err)
	}
	if l := f.log.find("podinfo.prod gate opened"); l == nil || l["by"] != "hmac@127.0.0.1" {
		t.Errorf("gate change by %v", l)
	}
}

func TestBothMechanismsMustPass(t *testing.T) {
	f := newFixture(t)
	key := []byte("k")
	url := f.server(t, func(o *Options) { o.Auth = &Auth{HMACKey: key, Tokens: map[string]string{"t": "ci"}} })
	sig := webhooks.Sign(key, time.Now(), "/gate/approve", nil)
	if code, _ := post(t, url+"/gate/approve", "", webhooks.SignatureHeader, sig); code != 401 {
		t.Errorf("signature without token: %d", code)
	}
	if code, _ := post(t, url+"/gate/approve", "", "Authorization", "Bearer t"); code != 401 {
		t.Errorf("token without signature: %d", code)
	}
	if code, _ := post(t, url+"/gate/approve", "", "Authorization", "Bearer t", webhooks.SignatureHeader, sig); code != 200 {
		t.Errorf("both: %d", code)
	}
}

func TestPanicsBecome500s(t *testing.T) {
	f := newFixture(t)
	f.reg.Register("explode", func(context.Context, Task) (Result, error) { panic("boom") })
	url := f.server(t)
	if code, body := post(t, url+"/", payload("explode", "x")); code != 500 || !strings.Contains(body, "internal error") {
		t.Errorf("panicking task: %d %q", code, body)
	}
	if code, _ := call(t, "GET", url+"/healthz", ""); code != 200 {
		t.Errorf("server down after a panic: %d", code)
	}
	if l := f.log.find("panic serving /"); l == nil || l["panic"] != "boom" || l["level"] != "error" {
		t.Errorf("panic log %v", l)
	}
}

func TestMetricsCountTasksWithBoundedLabels(t *testing.T) {
	f := newFixture(t)
	url := f.server(t)
	post(t, url+"/", payload("bash", "true"))
	post(t, url+"/", payload("made-up-type-1", "x"))
	post(t, url+"/", payload("made-up-type-2", "x"))
	post(t, url+"/gate/check", podinfo)
	_, body := call(t, "GET", url+"/metrics", "")
	for _, want := range []string{
		`warbler_loadtester_tasks_total{code="200",type="bash"} 1`,
		`warbler_loadtester_tasks_total{code="400",type="unknown"} 2`,
		`warbler_loadtester_gate_checks_total{approved="false",kind="gate"} 1`,
		"go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestGracefulShutdownLetsRunningTasksFinish(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Options{Tasks: f.reg, Gates: f.gates, Logger: f.tasks.Logger, ShutdownGrace: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	f.log.waitFor(t, "Starting load tester dev API on port "+strings.Split(ln.Addr().String(), ":")[1], 5*time.Second)

	answered := make(chan string, 1)
	go func() {
		code, body := post(t, url+"/", payload("bash", "sleep 0.5; echo done", "returnCmdOutput", "true"))
		answered <- strings.TrimSpace(body) + " " + http.StatusText(code)
	}()
	f.log.waitFor(t, "bash command sleep 0.5; echo done", 5*time.Second)
	cancel()
	if got := <-answered; got != "done OK" {
		t.Errorf("in-flight task answered %q, want it to finish", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Errorf("server still accepts after shutdown")
	}
	if f.log.find("HTTP server stopped") == nil {
		t.Errorf("no stop log line")
	}
}

func TestShutdownCancelsTasksAfterTheGrace(t *testing.T) {
	f := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Options{Tasks: f.reg, Gates: f.gates, Logger: f.tasks.Logger, ShutdownGrace: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	go func() {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", strings.NewReader(payload("bash", "sleep 41.3")))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	f.log.waitFor(t, "bash command sleep 41.3", 5*time.Second)
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return after its grace period")
	}
	f.log.waitFor(t, "HTTP server stopped after the grace period; running tasks were cancelled", time.Second)
	testWait(t, func() bool { return f.log.find("command failed sleep 41.3 stopped: context canceled") != nil })
}

func TestStartReportsAListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := NewServer(Options{Addr: ln.Addr().String()})
	if err := srv.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Start on a busy port: %v", err)
	}
}
