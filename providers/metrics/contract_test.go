package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/golden"
)

// Contract tests: a test server implements the documented endpoint of a
// vendor API. It answers a request that breaks the documented contract
// (path, parameters, credentials) with the vendor's own error, and any
// other with the case's recorded answer. Every exchange, and what the
// provider made of it, is kept in testdata/contract/<vendor>.golden, so a
// change to a request or to the reading of an answer is a visible diff.

// contractNow is the clock of contract tests, so that the time ranges in
// the recorded requests do not change.
var contractNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// answer is what the vendor API answers.
type answer struct {
	status int
	header http.Header
	body   string
}

// vendorAPI is a test server for one vendor.
type vendorAPI struct {
	// headers are the request headers recorded (credentials, media types).
	headers []string
	// check returns the vendor's error answer to a request that breaks the
	// documented contract, or nil.
	check func(r *http.Request, body []byte) *answer
	// text renders a request or answer body for the log; nil keeps it.
	text func(body []byte) string

	mu   sync.Mutex
	next answer
	log  strings.Builder
}

func (v *vendorAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(&v.log, "> %s %s\n", r.Method, r.URL.RequestURI())
	for _, h := range v.headers {
		for _, val := range r.Header.Values(h) {
			fmt.Fprintf(&v.log, "> %s: %s\n", h, val)
		}
	}
	if len(body) > 0 {
		fmt.Fprintf(&v.log, "> %s\n", v.render([]byte(body)))
	}
	a := v.next
	if bad := v.check(r, body); bad != nil {
		a = *bad
	}
	keys := make([]string, 0, len(a.header))
	for k := range a.header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&v.log, "< %d\n", a.status)
	for _, k := range keys {
		w.Header().Set(k, a.header.Get(k))
		fmt.Fprintf(&v.log, "< %s: %s\n", k, a.header.Get(k))
	}
	if a.body != "" {
		fmt.Fprintf(&v.log, "< %s\n", v.render([]byte(a.body)))
	}
	if strings.HasPrefix(a.body, "{") || strings.HasPrefix(a.body, "[") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (v *vendorAPI) render(body []byte) string {
	if v.text == nil {
		return string(body)
	}
	return v.text(body)
}

// contractCase is one exchange and what the provider must make of it.
type contractCase struct {
	name   string
	query  string
	answer answer
	// want is the value, or the error class (as class() names it) and
	// words of its message.
	want    float64
	class   string
	message []string
	// online runs IsOnline instead of a query.
	online bool
	// retryAfter is the wait a throttled answer must carry.
	retryAfter time.Duration
}

// runContract runs the cases against the vendor server with a provider
// built from spec (its address set to the server) and secret, and checks
// the golden file testdata/contract/<vendor>.golden.
func runContract(t *testing.T, vendor string, api *vendorAPI, spec flaggerv1.MetricTemplateProvider, secret map[string][]byte, cases []contractCase) {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	if spec.Address == "" {
		spec.Address = srv.URL
	}
	spec.Address = strings.ReplaceAll(spec.Address, "{server}", strings.TrimPrefix(srv.URL, "http://"))
	p, err := NewWithDeps(spec, secret, Deps{Now: func() time.Time { return contractNow }})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api.mu.Lock()
			api.next = tc.answer
			api.log.Reset()
			api.mu.Unlock()
			var v float64
			var err error
			if tc.online {
				_, err = p.IsOnline(context.Background())
			} else {
				_, v, err = Evaluate(context.Background(), p, vendor+"-contract", tc.query, Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Interval: "1m"})
			}
			want := tc.class
			if want == "" {
				want = "ok"
			}
			checkErr(t, err, want, tc.message...)
			if err == nil && !tc.online && v != tc.want {
				t.Errorf("value %v, want %v", v, tc.want)
			}
			if d, ok := RetryAfter(err); tc.retryAfter != 0 && (!ok || d != tc.retryAfter) {
				t.Errorf("RetryAfter(%v) = %v, %v; want %v", err, d, ok, tc.retryAfter)
			}
			api.mu.Lock()
			fmt.Fprintf(&out, "## %s\n%s", tc.name, api.log.String())
			api.mu.Unlock()
			if err != nil {
				fmt.Fprintf(&out, "= %s: %s\n\n", class(err), strings.ReplaceAll(err.Error(), srv.URL, "http://vendor"))
			} else if tc.online {
				fmt.Fprintf(&out, "= online\n\n")
			} else {
				fmt.Fprintf(&out, "= %v\n\n", v)
			}
		})
	}
	golden.Check(t, "contract/"+vendor+".golden", strings.ReplaceAll(out.String(), strings.TrimPrefix(srv.URL, "http://"), "vendor"))
}

// throttled is a 429 answer asking for a 7 s pause.
func throttled(body string) answer {
	return answer{status: http.StatusTooManyRequests, header: http.Header{"Retry-After": {"7"}}, body: body}
}

// missingParams returns the names of required query parameters that r
// lacks.
func missingParams(r *http.Request, names ...string) []string {
	var missing []string
	for _, n := range names {
		if r.URL.Query().Get(n) == "" {
			missing = append(missing, n)
		}
	}
	return missing
}
