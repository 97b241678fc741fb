package heycmd

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/loadtester/cmdline"
)

func parseLine(t testing.TB, line string) (*Command, error) {
	t.Helper()
	argv, err := cmdline.Split(line)
	if err != nil {
		t.Fatalf("Split(%q): %v", line, err)
	}
	return Parse(argv[1:])
}

func TestParseKeepsHeysDefaultsAndSemantics(t *testing.T) {
	c, err := parseLine(t, "hey http://podinfo-canary.prod:9898/")
	if err != nil {
		t.Fatal(err)
	}
	if c.N != 200 || c.C != 50 || c.Timeout != 20 || c.Method != "GET" || c.QPS != 0 || c.Duration != 0 {
		t.Errorf("defaults: %+v", c)
	}
	if c.Header.Get("Content-Type") != "text/html" || c.Header.Get("User-Agent") != "hey/0.0.1" {
		t.Errorf("default headers: %v", c.Header)
	}

	c, err = parseLine(t, "hey -z 2m -q 10 -c 2 http://podinfo-canary.prod:9898/")
	if err != nil {
		t.Fatal(err)
	}
	if c.N != math.MaxInt32 || c.C != 2 || c.QPS != 10 || c.Duration != 2*time.Minute {
		t.Errorf("-z run: %+v", c)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "-q 10 is per worker: up to 20 req/s in total with -c 2") {
		t.Errorf("notes = %q", c.Notes)
	}
}

func TestParseAllFlags(t *testing.T) {
	c, err := parseLine(t, `hey -n 10 -c 5 -m post -H "X-A: 1" -H 'X-B:2' -d '{"k":1}' -T application/json -A text/plain `+
		`-a user:pa:ss -x proxy.local:3128 -t 3 -h2 -host api.local -disable-keepalive -disable-compression `+
		`-disable-redirects -cpus 4 -U bench -o csv https://svc.prod/api`)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"method POST":  c.Method == "POST",
		"headers":      c.Header.Get("X-A") == "1" && c.Header.Get("X-B") == "2",
		"content type": c.Header.Get("Content-Type") == "application/json",
		"accept":       c.Header.Get("Accept") == "text/plain",
		"user agent":   c.Header.Get("User-Agent") == "bench hey/0.0.1",
		// hey's -a regexp is greedy: the last colon splits
		"basic auth":           c.User == "user:pa" && c.Password == "ss",
		"proxy as host:port":   c.Proxy != nil && c.Proxy.Host == "proxy.local:3128",
		"timeout":              c.Timeout == 3,
		"body":                 string(c.Body) == `{"k":1}`,
		"switches":             c.H2 && c.DisableKeepAlives && c.DisableCompression && c.DisableRedirects,
		"host":                 c.Host == "api.local",
		"counts":               c.N == 10 && c.C == 5,
		"notes on cpus/o/tls":  len(c.Notes) == 3,
		"no remainder (10/5)":  !strings.Contains(strings.Join(c.Notes, " "), "not sent"),
		"tls note says so":     strings.Contains(strings.Join(c.Notes, " "), "not verified"),
		"-cpus is not applied": strings.Contains(strings.Join(c.Notes, " "), "-cpus 4 is ignored"),
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("%s: %+v", name, c)
		}
	}
}

func TestParseLogsTheRemainderHeyDoesNotSend(t *testing.T) {
	c, err := parseLine(t, "hey -n 105 -c 10 http://x/")
	if err != nil {
		t.Fatal(err)
	}
	if c.N != 105 || len(c.Notes) != 1 || c.Notes[0] != "-n 105 is not a multiple of -c 10: hey sends 10 requests per worker, so 5 of them are not sent" {
		t.Errorf("notes = %q", c.Notes)
	}
}

func TestParseRejectsWhatHeyRejects(t *testing.T) {
	cases := map[string]string{
		"hey":                            "URL to load is missing",
		"hey -n 10 -c 20 http://x/":      "-n 10 cannot be less than -c 20",
		"hey -c 0 http://x/":             "-c 0",
		"hey -n 0 http://x/":             "-n 0",
		"hey -z -1s http://x/":           "-z",
		"hey -q -3 http://x/":            "-q",
		"hey -q NaN http://x/":           "-q",
		"hey -t -1 http://x/":            "-t",
		"hey -c 100000 http://x/":        "at most 5000 workers",
		"hey -h 'A: b' http://x/":        "-h is deprecated",
		"hey -H nocolon http://x/":       `-H "nocolon"`,
		"hey -a nopassword http://x/":    "-a",
		"hey -o json http://x/":          "-o",
		"hey -z 2x http://x/":            "invalid value",
		"hey -bogus http://x/":           "flag provided but not defined: -bogus (valid flags: -n -c -q",
		"hey -help":                      "valid flags",
		"hey http://x/ -z 1m":            `unexpected argument "-z" after the URL`,
		"hey podinfo:9898":               "scheme must be http or https",
		"hey http:///nohost":             "host is missing",
		"hey -m 'GE T' http://x/":        "not an HTTP method",
		"hey -H 'X-A: a\x01b' http://x/": "control characters",
		"hey -x 'http://[::1' http://x/": "-x",
	}
	for line, want := range cases {
		_, err := parseLine(t, line)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to contain %q", line, err, want)
		}
	}
}

// FuzzParse runs hey command lines through the splitter and the flag
// parser: neither may panic, and whatever Parse accepts must be runnable.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"hey -z 2m -q 10 -c 2 http://podinfo-canary.prod:9898/",
		"hey -n 105 -c 10 -m POST -d '{}' -H 'A: b' http://x/",
		"hey -x proxy:1 -a u:p -host h -h2 https://x/",
		"hey -z 1s", "hey -c", "hey -- http://x", "hey -n=3 -c=3 http://x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv, err := cmdline.Split(line)
		if err != nil || len(argv) == 0 {
			return
		}
		c, err := Parse(argv[1:])
		if err != nil {
			if c != nil {
				t.Fatalf("Parse returned a command and an error: %v", err)
			}
			return
		}
		if c.C < 1 || c.C > MaxWorkers || c.N < c.C || c.QPS < 0 || c.Timeout < 0 || c.Duration < 0 {
			t.Fatalf("Parse accepted an unrunnable command: %+v", c)
		}
		// schemes are case-insensitive: hTtp://x is an http URL
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("Parse accepted URL %q", c.URL)
		}
		if _, err := c.request(t.Context(), c.Body); err != nil {
			t.Fatalf("accepted command cannot build its request: %v", err)
		}
	})
}
