// Package heycmd runs a `hey` command line in-process with hey's own engine
// (github.com/rakyll/hey/requester), so a loadtester needs no hey binary
// for the commands users already write:
//
//	hey -z 2m -q 10 -c 2 http://podinfo-canary.prod:9898/
//
// It keeps hey's semantics, including the surprising ones, and says so:
// -q is a rate per worker, -n is split evenly over -c workers and the
// remainder is not sent, latency is measured from the actual send, and TLS
// certificates are not verified. Each of those shows up in Command.Notes.
package heycmd

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// MaxWorkers bounds -c: every worker is a goroutine of the loadtester.
const MaxWorkers = 5000

// Command is a parsed hey command line.
type Command struct {
	URL    string
	Method string
	// N requests in total, split evenly over C workers; with Duration set, N
	// is unlimited as in hey.
	N, C int
	// QPS is the rate limit of each worker (hey's -q), 0 for none.
	QPS      float64
	Duration time.Duration
	// Timeout of one request in seconds; 0 means none.
	Timeout int
	Header  http.Header
	// Body is -d; BodyFile is -D and wins over Body, as in hey.
	Body     []byte
	BodyFile string
	// Host overrides the Host header (-host).
	Host               string
	User, Password     string
	Proxy              *url.URL
	H2                 bool
	DisableCompression bool
	DisableKeepAlives  bool
	DisableRedirects   bool
	// Notes say what this run does that a reader of the command line might
	// not expect: hey's per-worker rate, the unsent remainder of -n, flags
	// that mean nothing in-process.
	Notes []string
}

// hey's regular expressions for -H and -a.
var (
	headerRE = regexp.MustCompile(`^([\w-]+):\s*(.+)`)
	authRE   = regexp.MustCompile(`^(.+):([^\s].+)`)
)

const userAgent = "hey/0.0.1"

// Flags lists the flags Parse understands, for error messages.
const Flags = "-n -c -q -z -m -H -d -D -T -A -a -x -t -U -o -h2 -host -cpus -disable-compression -disable-keepalive -disable-redirects"

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

// flags holds the raw values, with hey's defaults.
type flags struct {
	m, deprecatedH, d, bodyFile, accept, contentType, auth, host, ua, output, proxy string
	c, n, t, cpus                                                                   int
	q                                                                               float64
	z                                                                               time.Duration
	h2, noCompression, noKeepAlive, noRedirects                                     bool
	headers                                                                         headerList
}

func (f *flags) define(fs *flag.FlagSet) {
	fs.StringVar(&f.m, "m", "GET", "")
	fs.StringVar(&f.deprecatedH, "h", "", "")
	fs.StringVar(&f.d, "d", "", "")
	fs.StringVar(&f.bodyFile, "D", "", "")
	fs.StringVar(&f.accept, "A", "", "")
	fs.StringVar(&f.contentType, "T", "text/html", "")
	fs.StringVar(&f.auth, "a", "", "")
	fs.StringVar(&f.host, "host", "", "")
	fs.StringVar(&f.ua, "U", "", "")
	fs.StringVar(&f.output, "o", "", "")
	fs.StringVar(&f.proxy, "x", "", "")
	fs.IntVar(&f.c, "c", 50, "")
	fs.IntVar(&f.n, "n", 200, "")
	fs.IntVar(&f.t, "t", 20, "")
	fs.IntVar(&f.cpus, "cpus", 0, "")
	fs.Float64Var(&f.q, "q", 0, "")
	fs.DurationVar(&f.z, "z", 0, "")
	fs.BoolVar(&f.h2, "h2", false, "")
	fs.BoolVar(&f.noCompression, "disable-compression", false, "")
	fs.BoolVar(&f.noKeepAlive, "disable-keepalive", false, "")
	fs.BoolVar(&f.noRedirects, "disable-redirects", false, "")
	fs.Var(&f.headers, "H", "")
}

// Parse reads the arguments that follow "hey" with hey's flag syntax and
// defaults (-n 200, -c 50, -t 20, -T text/html). Errors name the flag and
// what would be valid.
func Parse(args []string) (*Command, error) {
	var f flags
	fs := flag.NewFlagSet("hey", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, fmt.Errorf("hey: -help asks for usage; valid flags are %s", Flags)
		}
		return nil, fmt.Errorf("hey: %v (valid flags: %s)", err, Flags)
	}
	switch fs.NArg() {
	case 0:
		return nil, errors.New("hey: the URL to load is missing (hey [flags] <url>)")
	case 1:
	default:
		return nil, fmt.Errorf("hey: unexpected argument %q after the URL: flags must come before the URL", fs.Arg(1))
	}
	c, err := f.command(fs.Arg(0))
	if err != nil {
		return nil, fmt.Errorf("hey: %w", err)
	}
	return c, nil
}

func (f *flags) command(rawURL string) (*Command, error) {
	if err := f.checkCounts(); err != nil {
		return nil, err
	}
	c := &Command{
		Method: strings.ToUpper(f.m), N: f.n, C: f.c, QPS: f.q, Duration: f.z, Timeout: f.t,
		Host: f.host, H2: f.h2, DisableCompression: f.noCompression,
		DisableKeepAlives: f.noKeepAlive, DisableRedirects: f.noRedirects,
	}
	if c.Duration > 0 {
		c.N = math.MaxInt32 // hey's "unlimited" while -z runs
	}
	if err := c.setURL(rawURL); err != nil {
		return nil, err
	}
	if !validToken(c.Method) {
		return nil, fmt.Errorf("-m %q is not an HTTP method", f.m)
	}
	if err := f.setHeaders(c); err != nil {
		return nil, err
	}
	if err := f.setProxy(c); err != nil {
		return nil, err
	}
	if f.d != "" {
		c.Body = []byte(f.d)
	}
	c.BodyFile = f.bodyFile
	c.Notes = f.notes(c)
	return c, nil
}

func (f *flags) checkCounts() error {
	switch {
	case f.deprecatedH != "":
		return errors.New("flag -h is deprecated, use -H \"Name: value\" instead")
	case f.z < 0:
		return fmt.Errorf("-z %v: the duration must be positive", f.z)
	case f.q < 0 || math.IsNaN(f.q) || math.IsInf(f.q, 0):
		return fmt.Errorf("-q %v: the rate per worker must be a positive number, or 0 for no limit", f.q)
	case f.t < 0:
		return fmt.Errorf("-t %d: the timeout in seconds must be 0 (none) or more", f.t)
	case f.c < 1:
		return fmt.Errorf("-c %d: the number of workers must be at least 1", f.c)
	case f.c > MaxWorkers:
		return fmt.Errorf("-c %d: in-process hey runs at most %d workers", f.c, MaxWorkers)
	case f.z == 0 && f.n < 1:
		return fmt.Errorf("-n %d: the number of requests must be at least 1", f.n)
	case f.z == 0 && f.n < f.c:
		return fmt.Errorf("-n %d cannot be less than -c %d", f.n, f.c)
	case f.output != "" && f.output != "csv":
		return fmt.Errorf("-o %q: the only output types are the summary (default) and csv", f.output)
	}
	return nil
}

func (c *Command) setURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("URL %q: %v", raw, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("URL %q: the scheme must be http or https", raw)
	case u.Host == "":
		return fmt.Errorf("URL %q: the host is missing", raw)
	}
	c.URL = raw
	return nil
}

// setHeaders builds the headers in hey's order: Content-Type, -H (the last
// one of a name wins), -A, basic auth, and the User-Agent with hey's suffix.
func (f *flags) setHeaders(c *Command) error {
	h := http.Header{}
	h.Set("Content-Type", f.contentType)
	for _, v := range f.headers {
		m := headerRE.FindStringSubmatch(v)
		if m == nil {
			return fmt.Errorf("-H %q: want \"Name: value\"", v)
		}
		h.Set(m[1], m[2])
	}
	if f.accept != "" {
		h.Set("Accept", f.accept)
	}
	if f.auth != "" {
		m := authRE.FindStringSubmatch(f.auth)
		if m == nil {
			return fmt.Errorf("-a %q: want user:password", f.auth)
		}
		c.User, c.Password = m[1], m[2]
	}
	ua := h.Get("User-Agent")
	switch {
	case f.ua != "":
		ua = f.ua + " " + userAgent
	case ua != "":
		ua += " " + userAgent
	default:
		ua = userAgent
	}
	h.Set("User-Agent", ua)
	for name, values := range h {
		for _, v := range values {
			if !validHeaderValue(v) {
				return fmt.Errorf("header %s: the value %q has control characters", name, v)
			}
		}
	}
	c.Header = h
	return nil
}

func (f *flags) setProxy(c *Command) error {
	if f.proxy == "" {
		return nil
	}
	raw := f.proxy
	if !strings.Contains(raw, "://") {
		// hey documents -x as host:port, which url.Parse reads as a scheme
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("-x %q: want the proxy as host:port or a URL", f.proxy)
	}
	c.Proxy = u
	return nil
}

// notes spells out the parts of hey's behaviour that change what is sent.
func (f *flags) notes(c *Command) []string {
	var notes []string
	if c.QPS > 0 {
		notes = append(notes, fmt.Sprintf("-q %v is per worker: up to %v req/s in total with -c %d", c.QPS, c.QPS*float64(c.C), c.C))
	}
	if c.Duration == 0 && c.N%c.C != 0 {
		notes = append(notes, fmt.Sprintf("-n %d is not a multiple of -c %d: hey sends %d requests per worker, so %d of them are not sent",
			c.N, c.C, c.N/c.C, c.N%c.C))
	}
	if f.cpus != 0 {
		notes = append(notes, fmt.Sprintf("-cpus %d is ignored: in-process hey shares the loadtester's CPUs", f.cpus))
	}
	if f.output != "" {
		notes = append(notes, fmt.Sprintf("-o %s is ignored: the summary is logged as JSON", f.output))
	}
	if strings.HasPrefix(c.URL, "https:") {
		notes = append(notes, "TLS certificates are not verified (hey semantics); use a load task to verify them")
	}
	return notes
}

func validToken(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
	}) < 0
}

func validHeaderValue(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) < 0
}
