package loadtester

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/webhooks"
)

func payload(typ, cmd string, extra ...string) string {
	md := map[string]string{}
	if typ != "" {
		md["type"] = typ
	}
	if cmd != "" {
		md["cmd"] = cmd
	}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	b, _ := json.Marshal(webhooks.Payload{Name: "podinfo", Namespace: "prod", Phase: "Progressing", Metadata: md})
	return string(b)
}

func TestUnknownTypeIsA400NamingTheValidTypes(t *testing.T) {
	f := newFixture(t)
	code, body := f.run(t, payload("concord", "x"))
	if code != 400 || body != `unknown task type "concord" in metadata.type: valid types are bash, cmd, helm, helmv3, kubectl, load` {
		t.Fatalf("got %d %q", code, body)
	}
}

func TestMissingCmdIsA400(t *testing.T) {
	f := newFixture(t)
	for _, typ := range []string{"", "cmd", "bash", "helm", "helmv3", "kubectl"} {
		code, body := f.run(t, payload(typ, "", "logCmdOutput", "true"))
		if code != 400 || body != "cmd not found in metadata" {
			t.Errorf("type %q: got %d %q", typ, code, body)
		}
	}
}

func TestCmdIsAsyncAndDeduplicatedPerCanaryAndCommand(t *testing.T) {
	f := newFixture(t)
	line := "sleep 1.5"
	for range 3 {
		if code, _ := f.run(t, payload("", line)); code != http.StatusAccepted {
			t.Fatalf("cmd answered %d, want 202", code)
		}
	}
	// the same command for another canary is not a duplicate
	other := strings.Replace(payload("", line), `"podinfo"`, `"frontend"`, 1)
	if code, _ := f.run(t, other); code != http.StatusAccepted {
		t.Fatalf("cmd answered %d", code)
	}
	f.log.waitFor(t, "command finished "+line, 10*time.Second)
	testWait(t, func() bool { return f.log.count("command finished "+line) == 2 })
	if n := f.log.count("task starting " + line); n != 2 {
		t.Errorf("%d task starting lines, want 2 (one per canary)", n)
	}
	if n := f.log.count("command skipped " + line + " is already running"); n != 2 {
		t.Errorf("%d command skipped lines, want 2", n)
	}
	if l := f.log.find("task starting " + line); l["canary"] == nil || l["level"] != "info" {
		t.Errorf("log line %v", l)
	}
	// once finished, the same command runs again
	f.run(t, payload("", line))
	testWait(t, func() bool { return f.log.count("task starting "+line) == 3 })
}

func TestCmdExitStatusIsOnlyLogged(t *testing.T) {
	f := newFixture(t)
	if code, _ := f.run(t, payload("cmd", "echo boom; exit 3")); code != http.StatusAccepted {
		t.Fatalf("code %d", code)
	}
	l := f.log.waitFor(t, "command failed echo boom; exit 3 exit status 3 boom", 10*time.Second)
	if l["level"] != "error" || l["canary"] != "podinfo.prod" {
		t.Errorf("log line %v", l)
	}
	f.run(t, payload("cmd", "echo out", "logCmdOutput", "true"))
	f.log.waitFor(t, "out\n", 10*time.Second)
}

func TestBashAnswersWhenDone(t *testing.T) {
	f := newFixture(t)
	code, body := f.run(t, payload("bash", "echo hello"))
	if code != 200 || body != "" {
		t.Errorf("bash: %d %q", code, body)
	}
	if f.log.find("bash command echo hello") == nil || f.log.find("command finished echo hello") == nil {
		t.Errorf("missing Flagger's log lines")
	}
	code, body = f.run(t, payload("bash", "echo hello; echo world >&2", "returnCmdOutput", "true"))
	if code != 200 || body != "hello\nworld\n" {
		t.Errorf("returnCmdOutput: %d %q", code, body)
	}
	code, body = f.run(t, payload("bash", "echo oops; exit 7"))
	if code != 500 || body != "command echo oops; exit 7 failed: oops: exit status 7" {
		t.Errorf("failing bash: %d %q", code, body)
	}
	// bash, not sh: arrays work
	if code, body = f.run(t, payload("bash", `a=(x y); echo ${a[1]}`, "returnCmdOutput", "true")); code != 200 || body != "y\n" {
		t.Errorf("bash syntax: %d %q", code, body)
	}
}

func TestOutputIsCappedHeadAndTail(t *testing.T) {
	f := newFixture(t, func(ts *Tasks) { ts.Exec.MaxOutput = 1000 })
	code, body := f.run(t, payload("bash", `echo START; head -c 3000000 /dev/zero | tr '\0' x; echo; echo END`, "returnCmdOutput", "true"))
	if code != 200 || len(body) > 1100 || !strings.HasPrefix(body, "START") || !strings.HasSuffix(body, "END\n") ||
		!strings.Contains(body, "bytes of output omitted") {
		t.Fatalf("code %d, %d bytes: %.200q", code, len(body), body)
	}
}

func TestTaskTimeoutStopsTheProcessGroup(t *testing.T) {
	f := newFixture(t)
	task, _ := DecodeTask([]byte(payload("bash", "sleep 31.7 & sleep 31.7; echo never")))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := f.reg.Run(ctx, task)
	code, msg := statusOf(err)
	if code != 500 || !strings.Contains(msg, "stopped: context deadline exceeded") {
		t.Fatalf("got %d %q", code, msg)
	}
	// the background sleep was in the group and is gone too
	if out, _ := exec.Command("pgrep", "-f", "^sleep 31.7$").Output(); len(out) > 0 {
		t.Errorf("a child of the timed-out task survived: pids %s", out)
	}
}

func TestConcurrentTasksAreBounded(t *testing.T) {
	f := newFixture(t, func(ts *Tasks) { ts.Limiter = NewLimiter(1) })
	var wg sync.WaitGroup
	wg.Go(func() { f.run(t, payload("bash", "sleep 2")) })
	f.log.waitFor(t, "bash command sleep 2", 5*time.Second)
	code, body := f.run(t, payload("bash", "echo second"))
	if code != http.StatusTooManyRequests || !strings.Contains(body, "-max-concurrent-tasks") {
		t.Errorf("second task: %d %q", code, body)
	}
	wg.Wait()
	if code, _ := f.run(t, payload("bash", "echo third")); code != 200 {
		t.Errorf("after the first finished: %d", code)
	}
}

func TestAllowList(t *testing.T) {
	f := newFixture(t, func(ts *Tasks) { ts.Exec.Allow = []string{"echo", "/bin/true"} })
	cases := []struct {
		typ, cmd string
		code     int
		want     string
	}{
		{"bash", "echo allowed", 200, ""},
		{"bash", "/bin/true", 200, ""},
		{"bash", "true", 403, "true is not in the allow-list (-allow-command echo,/bin/true)"},
		{"bash", "/tmp/echo x", 403, "not in the allow-list"},
		{"bash", "echo a | sh", 403, "commands run without a shell"},
		{"bash", "echo $HOME", 403, "commands run without a shell"},
		{"cmd", "curl http://x/", 403, "curl is not in the allow-list"},
		{"cmd", "hey -z 1s http://127.0.0.1:1/", 403, "hey is not in the allow-list"},
		{"cmd", "echo 'unclosed", 400, "unclosed single quote"},
	}
	for _, c := range cases {
		code, body := f.run(t, payload(c.typ, c.cmd, "returnCmdOutput", "true"))
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %q: got %d %q, want %d containing %q", c.typ, c.cmd, code, body, c.code, c.want)
		}
	}
	// argv-style: the argument is not word-split again by a shell
	if _, body := f.run(t, payload("bash", `echo "a  b"`, "returnCmdOutput", "true")); body != "a  b\n" {
		t.Errorf("echo output %q", body)
	}
}

func TestMissingProgramsAreA400(t *testing.T) {
	noBinaries := func(ts *Tasks) {
		ts.Exec.LookPath = func(name string) (string, error) {
			if name == "sh" || name == "bash" {
				return exec.LookPath(name)
			}
			return "", exec.ErrNotFound
		}
	}
	f := newFixture(t, noBinaries)
	cases := []struct{ typ, cmd, want string }{
		{"kubectl", "get pods", "kubectl is not installed in this loadtester"},
		{"helm", "upgrade podinfo ./chart", `helm upgrade podinfo ./chart: only "test <release>`},
		{"helmv3", "helm list", "other helm commands need a helm binary"},
		{"helm", "test podinfo --wait", "helm test --wait: flag not supported by the in-process helm test"},
		{"helm", "test podinfo -n prod", "found no Kubernetes cluster"},
		{"helm", "test", "helm test needs a release"},
		{"kubectl", "get pods | grep x", "run without a shell"},
		{"bash", "echo x", ""},
	}
	for _, c := range cases {
		code, body := f.run(t, payload(c.typ, c.cmd))
		if c.want == "" {
			if code != 200 {
				t.Errorf("%s %q: %d %q", c.typ, c.cmd, code, body)
			}
			continue
		}
		if code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("%s %q: got %d %q, want 400 containing %q", c.typ, c.cmd, code, body, c.want)
		}
	}
}

func TestHelmAndKubectlRunTheirBinaryArgvStyle(t *testing.T) {
	dir := t.TempDir()
	// stand-ins that print their arguments, one per line
	script := "#!/bin/sh\nfor a in \"$@\"; do echo \"$a\"; done\n"
	for _, name := range []string{"kubectl", "helm"} {
		writeExecutable(t, dir+"/"+name, script)
	}
	f := newFixture(t, func(ts *Tasks) {
		ts.Exec.LookPath = func(name string) (string, error) {
			if p := filepath.Join(dir, name); fileExists(p) {
				return p, nil
			}
			return exec.LookPath(name)
		}
	})
	code, body := f.run(t, payload("kubectl", `kubectl get pods -l 'app in (a, b)'`, "returnCmdOutput", "true"))
	if code != 200 || body != "get\npods\n-l\napp in (a, b)\n" {
		t.Errorf("kubectl: %d %q", code, body)
	}
	// a helm test flag the SDK path does not take falls back to the binary
	code, body = f.run(t, payload("helm", "test podinfo --wait", "returnCmdOutput", "true"))
	if code != 200 || body != "test\npodinfo\n--wait\n" {
		t.Errorf("helm: %d %q", code, body)
	}
	if f.log.find("command finished kubectl get pods -l app in (a, b)") == nil {
		t.Errorf("missing command finished line")
	}
}

func TestParseHelmTest(t *testing.T) {
	cases := []struct {
		args string
		want HelmTest
		err  string
	}{
		{"podinfo", HelmTest{Release: "podinfo", Namespace: "canaryns", Timeout: 5 * time.Minute}, ""},
		{"podinfo -n prod --timeout 2m --logs", HelmTest{Release: "podinfo", Namespace: "prod", Timeout: 2 * time.Minute, Logs: true}, ""},
		{"--namespace=prod podinfo --timeout=30s --logs=false", HelmTest{Release: "podinfo", Namespace: "prod", Timeout: 30 * time.Second}, ""},
		{"-nprod podinfo --filter name=smoke", HelmTest{Release: "podinfo", Namespace: "prod", Timeout: 5 * time.Minute, Filters: []string{"name=smoke"}}, ""},
		{"podinfo --timeout soon", HelmTest{}, `--timeout "soon"`},
		{"podinfo -n", HelmTest{}, "-n needs a value"},
		{"a b", HelmTest{}, "one release"},
		{"podinfo --debug", HelmTest{}, "not supported"},
	}
	for _, c := range cases {
		got, err := parseHelmTest(strings.Fields(c.args), "canaryns")
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%q: %+v %v, want %+v", c.args, got, err, c.want)
		}
	}
}

func TestLoadTaskMetadataErrors(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		md   []string
		want string
	}{
		{[]string{"url", "http://x/", "rate", "10"}, `metadata.duration "": want how long to send`},
		{[]string{"url", "http://x/", "duration", "5s"}, `metadata.rate "": want requests per second`},
		{[]string{"url", "http://x/", "rate", "fast", "duration", "5s"}, `metadata.rate "fast": want a non-negative number`},
		{[]string{"url", "http://x/", "rate", "10", "duration", "5"}, `metadata.duration "5": want a positive duration`},
		{[]string{"url", "http://x/", "rate", "10", "duration", "2h"}, "longer than the loadtester's task timeout 1m0s"},
		{[]string{"url", "http://x/", "rate", "10", "duration", "5s", "maxp99", "1s"}, "metadata.maxp99 is not a key of a load task: valid keys are body, connections"},
		{[]string{"url", "ftp://x/", "rate", "10", "duration", "5s"}, "scheme must be http or https"},
		{[]string{"url", "http://x/", "rate", "10", "duration", "5s", "headers", "no colon"}, `one "Name: value" header per line`},
		{[]string{"url", "http://x/", "rate", "10", "duration", "5s", "connections", "0"}, "connections 0"},
		{[]string{"url", "http://x/", "rate", "10", "duration", "5s", "maxErrorRate", "150"}, "maxErrorRate 150"},
		{[]string{"url", "http://x/", "rate", "10", "duration", "5s", "insecureSkipVerify", "maybe"}, "true or false"},
	}
	for _, c := range cases {
		code, body := f.run(t, payload("load", "", c.md...))
		if code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("%v: got %d %q, want 400 containing %q", c.md, code, body, c.want)
		}
	}
}

func TestLoadTaskAnswersWithItsResultAndKeepsIt(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen["X-Canary"], seen["Authorization"], seen["method"] = r.Header.Get("X-Canary"), r.Header.Get("Authorization"), r.Method
		mu.Unlock()
	}))
	defer srv.Close()
	f := newFixture(t)
	code, body := f.run(t, payload("load", "", "url", srv.URL, "method", "post", "rate", "100", "duration", "500ms",
		"headers", "X-Canary: podinfo\nAuthorization: Bearer t", "maxErrorRate", "1", "maxP99", "5s"))
	if code != 200 {
		t.Fatalf("load: %d %s", code, body)
	}
	var res webhooks.LoadResult
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	if res.Canary != "podinfo.prod" || res.Generator != "load" || res.Requests != 50 || res.StatusCodes["200"] != 50 || res.TargetRate != 100 {
		t.Errorf("result %+v", res)
	}
	if kept, found := f.results.Get("podinfo.prod", ""); !found || kept.Requests != 50 {
		t.Errorf("kept result %+v %v", kept, found)
	}
	mu.Lock()
	if seen["X-Canary"] != "podinfo" || seen["Authorization"] != "Bearer t" || seen["method"] != "POST" {
		t.Errorf("server saw %v", seen)
	}
	mu.Unlock()
	l := f.log.find("command finished load " + srv.URL)
	if l == nil || f.log.Lines()[len(f.log.Lines())-2]["result"] == nil {
		t.Errorf("load summary not logged with its result")
	}
}

func TestLoadTaskOverBudgetIsA500(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	f := newFixture(t)
	code, body := f.run(t, payload("load", "", "url", srv.URL, "rate", "50", "duration", "200ms", "maxErrorRate", "1"))
	if code != 500 || !strings.Contains(body, "load test of podinfo.prod exceeded its budget: error rate 100.00% (10 errors and 0 dropped of 10 scheduled) > maxErrorRate 1%") {
		t.Fatalf("got %d %q", code, body)
	}
	// without a budget the same run passes: the result is for a metric to judge
	if code, _ := f.run(t, payload("load", "", "url", srv.URL, "rate", "50", "duration", "200ms")); code != 200 {
		t.Errorf("without a budget: %d", code)
	}
	if res, _ := f.results.Get("podinfo.prod", "load"); res.Errors != 10 || res.ErrorRate != 100 {
		t.Errorf("kept result %+v", res)
	}
}

func TestStatusOfMapsErrorsToCodes(t *testing.T) {
	cases := []struct {
		err  error
		code int
	}{
		{invalid("x"), 400},
		{errForbidden, 403},
		{failed("x"), 500},
		{&http.MaxBytesError{Limit: 10}, 413},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), 504},
		{context.Canceled, 503},
		{errors.New("anything else"), 500},
	}
	for _, c := range cases {
		if code, msg := statusOf(c.err); code != c.code || msg == "" {
			t.Errorf("%v: %d %q, want %d", c.err, code, msg, c.code)
		}
	}
}

func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func testWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCappedBufferKeepsHeadAndTail(t *testing.T) {
	for _, chunk := range []int{1, 3, 7, 64, 1000} {
		b := newCappedBuffer(20)
		var all strings.Builder
		for i := range 200 {
			s := strings.Repeat(string(rune('a'+i%26)), chunk)
			all.WriteString(s)
			b.Write([]byte(s))
		}
		full := all.String()
		want := fmt.Sprintf("%s\n... [%d bytes of output omitted] ...\n%s", full[:10], len(full)-20, full[len(full)-10:])
		if got := b.String(); got != want {
			t.Errorf("chunks of %d: %q, want %q", chunk, got, want)
		}
	}
	b := newCappedBuffer(20)
	b.Write([]byte("short"))
	if b.String() != "short" {
		t.Errorf("short output: %q", b.String())
	}
}
