package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// These tests use a fake client; the browser tests in
// canarycli/integration run the dashboard against a real API server and
// controller.

var now = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

// operator records the operations it was asked to run.
type operator struct {
	ran []Action
	err error
}

func (o *operator) Needs(c *flaggerv1.Canary, a Action) ([]authorizationv1.ResourceAttributes, bool) {
	if a == Approve || a == Reject {
		return nil, false
	}
	return []authorizationv1.ResourceAttributes{{Namespace: c.Namespace, Verb: "patch", Group: "flagger.app", Resource: "canaries", Name: c.Name}}, true
}

func (o *operator) Run(_ context.Context, c *flaggerv1.Canary, a Action) (string, error) {
	o.ran = append(o.ran, a)
	return "canary " + c.Key() + ": " + string(a) + " accepted", o.err
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(flaggerv1.AddToScheme(s))
	return s
}

func testCanary() *flaggerv1.Canary {
	at := func(s int) metav1.Time { return metav1.NewTime(now.Add(time.Duration(s-60) * time.Second)) }
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: "podinfo"},
		Spec: flaggerv1.CanarySpec{TargetRef: flaggerv1.LocalObjectReference{Kind: "Deployment", Name: "podinfo"},
			Analysis: &flaggerv1.CanaryAnalysis{Threshold: 3, Webhooks: []flaggerv1.CanaryWebhook{
				{Name: "approval", Type: flaggerv1.ConfirmPromotionHook, URL: "http://lt.test/gate/check"},
				{Name: "load", Type: flaggerv1.RolloutHook, URL: "http://lt.test/"},
			}}},
		Status: flaggerv1.CanaryStatus{Phase: flaggerv1.CanaryPhaseWaitingPromotion, CanaryWeight: 50, FailedChecks: 1,
			Checks: []flaggerv1.CheckResult{
				{Metric: "request-success-rate", Time: at(10), Value: ptr.To(99.5), Min: ptr.To(99.0), Verdict: flaggerv1.VerdictPass},
				{Metric: "request-success-rate", Time: at(20), Value: ptr.To(97.25), Min: ptr.To(99.0), Verdict: flaggerv1.VerdictFail, Failed: true},
				{Metric: "request-success-rate", Time: at(30), Min: ptr.To(99.0), Verdict: flaggerv1.VerdictNoData},
				{Metric: "latency", Time: at(30), Value: ptr.To(120.0), Max: ptr.To(500.0), Verdict: flaggerv1.VerdictPass},
			}},
	}
}

func testEvents() []client.Object {
	ev := func(name string, s int, typ, msg string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "prod", Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: "Canary", Name: "podinfo", Namespace: "prod"},
			LastTimestamp:  metav1.NewTime(now.Add(time.Duration(s-60) * time.Second)), Type: typ, Message: msg}
	}
	return []client.Object{
		ev("e1", 0, "Normal", "Starting canary analysis for podinfo.prod"),
		ev("e2", 10, "Normal", "Advance podinfo.prod canary weight 25"),
		ev("e3", 20, "Warning", "Halt podinfo.prod advancement external check load failed POST http://lt.test/ 500"),
		ev("e4", 30, "Normal", "Advance podinfo.prod canary weight 50"),
		ev("e5", 40, "Normal", "Halt podinfo.prod advancement waiting for promotion approval approval"),
	}
}

// newTestServer serves a canary and its events; allowed answers the
// access reviews.
func newTestServer(t *testing.T, op *operator, allowed bool) (*Server, *httptest.Server) {
	t.Helper()
	return newTestServerOf(t, op, allowed, testCanary())
}

// newTestServerOf serves the canary c and the test events.
func newTestServerOf(t *testing.T, op *operator, allowed bool, canary *flaggerv1.Canary) (*Server, *httptest.Server) {
	t.Helper()
	objs := append(testEvents(), canary)
	c := fake.NewClientBuilder().WithScheme(scheme()).WithObjects(objs...).
		WithIndex(&corev1.Event{}, "involvedObject.kind", func(o client.Object) []string { return []string{o.(*corev1.Event).InvolvedObject.Kind} }).
		WithIndex(&corev1.Event{}, "involvedObject.name", func(o client.Object) []string { return []string{o.(*corev1.Event).InvolvedObject.Name} }).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if r, ok := obj.(*authorizationv1.SelfSubjectAccessReview); ok {
				r.Status.Allowed = allowed
				return nil
			}
			return cl.Create(ctx, obj, opts...)
		}}).Build()
	hs := httptest.NewUnstartedServer(nil)
	s, err := New(Options{Client: c, Operator: op, DefaultNamespace: "prod", Now: func() time.Time { return now },
		Hosts: []string{hs.Listener.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	hs.Config.Handler = s.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	return s, hs
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestCanaryPagePlotsEveryCheck(t *testing.T) {
	_, hs := newTestServer(t, &operator{}, true)
	code, page := get(t, hs.URL+"/canaries/prod/podinfo")
	if code != http.StatusOK {
		t.Fatalf("GET canary page: %d\n%s", code, page)
	}
	dots := regexp.MustCompile(`<circle class="check ([a-z ]+)"[^>]* data-metric="([^"]*)" data-value="([^"]*)"`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, d := range dots {
		got = append(got, d[2]+"="+d[3]+" ("+d[1]+")")
	}
	want := []string{"request-success-rate=99.5 (pass)", "request-success-rate=97.25 (fail failed)",
		"request-success-rate= (nodata novalue)", "latency=120 (pass)"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("plotted checks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, want := range []string{
		`<polyline class="threshold min"`, `<polyline class="threshold max"`, // the line each check is judged against
		`data-title="Canary weight (%)"`,
		`data-action="promote"`, `data-action="abort"`, `data-action="pause"`, // allowed; resume only when paused
		`Halt podinfo.prod advancement external check load failed POST http://lt.test/ 500`, // the load webhook's last result
		`approval · holding`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("canary page lacks %q", want)
		}
	}
	if strings.Contains(page, `data-action="resume"`) || strings.Contains(page, `data-action="approve"`) {
		t.Errorf("canary page offers resume on a running canary or approve that does not apply")
	}
}

// The page plots the latest release's checks only and lists every release
// of status.history, newest first, with how it ended and who asked what.
func TestCanaryPageShowsTheReleaseHistory(t *testing.T) {
	c := testCanary()
	at := func(s int) metav1.Time { return metav1.NewTime(now.Add(time.Duration(s-60) * time.Second)) }
	end := at(5)
	c.Status.Reason, c.Status.Message = flaggerv1.ReasonAwaitingApproval, "waiting for approval"
	c.Status.PendingGate = "approval"
	c.Status.History = []flaggerv1.CanaryRelease{
		{ID: 1, Revision: "rev1", Images: []string{"podinfo:6.0.1"}, StartTime: at(-300), EndTime: &end,
			Outcome: flaggerv1.ReleaseFailed, Reason: flaggerv1.ReasonAborted, Message: "aborted on request", HighestWeight: 25, FailedChecks: 1,
			Requests: []flaggerv1.RequestRecord{{Operation: "abort", By: "alice", Accepted: true, Time: end}}},
		{ID: 2, Revision: "rev2", Images: []string{"podinfo:6.0.2"}, StartTime: at(8), HighestWeight: 50, FailedChecks: 1},
	}
	c.Status.Checks = append([]flaggerv1.CheckResult{{Metric: "old-metric", Time: at(-200), Value: ptr.To(1.0), Verdict: flaggerv1.VerdictPass, ReleaseID: 1}},
		c.Status.Checks...)
	for i := range c.Status.Checks[1:] {
		c.Status.Checks[i+1].ReleaseID = 2
	}
	_, hs := newTestServerOf(t, &operator{}, true, c)
	code, page := get(t, hs.URL+"/canaries/prod/podinfo")
	if code != http.StatusOK {
		t.Fatalf("GET canary page: %d\n%s", code, page)
	}
	if strings.Contains(page, `data-metric="old-metric"`) {
		t.Error("the timeline plots a check of release 1 while release 2 runs")
	}
	rows := regexp.MustCompile(`(?s)<tr class="release ([A-Za-z]+)" data-id="(\d+)">(.*?)</tr>`).FindAllStringSubmatch(page, -1)
	if len(rows) != 2 || rows[0][2] != "2" || rows[0][1] != "Running" || rows[1][2] != "1" || rows[1][1] != "Failed" {
		t.Fatalf("history rows %q, want release 2 running, then release 1 failed", rows)
	}
	for _, want := range []string{"Aborted", "aborted on request", "abort by alice", "podinfo:6.0.1", "5m5s"} {
		if !strings.Contains(rows[1][3], want) {
			t.Errorf("release 1's row lacks %q: %s", want, rows[1][3])
		}
	}
	for _, want := range []string{"Release timeline (release 2)", "AwaitingApproval: waiting for approval", "approval · holding"} {
		if !strings.Contains(page, want) {
			t.Errorf("canary page lacks %q", want)
		}
	}
}

func TestWeightsFromEventsAndObservations(t *testing.T) {
	var events []corev1.Event
	for _, o := range testEvents() {
		events = append(events, *o.(*corev1.Event))
	}
	observed := []weightPoint{{Time: now.Add(-5 * time.Second), Weight: 50}, {Time: now, Weight: 75}}
	var got []int
	for _, p := range weightTimeline(events, observed) {
		got = append(got, p.Weight)
	}
	if want := []int{0, 25, 50, 75}; !slices.Equal(got, want) {
		t.Errorf("weights %v, want %v", got, want)
	}
	for msg, want := range map[string]int{"Advance a.b primary weight 30": 70, "Promotion completed! Scaling down a.b": 0, "Routing all traffic to primary": 0} {
		if w, ok := eventWeight(msg); !ok || w != want {
			t.Errorf("eventWeight(%q) = %d, %v; want %d", msg, w, ok, want)
		}
	}
	if _, ok := eventWeight("Halt a.b advancement waiting for approval x"); ok {
		t.Error("a halt message gave a weight")
	}
}

func TestReadOnlyUserGetsNoButtons(t *testing.T) {
	_, hs := newTestServer(t, &operator{}, false)
	_, page := get(t, hs.URL+"/canaries/prod/podinfo")
	if strings.Contains(page, "data-action=") || !strings.Contains(page, "Read-only") {
		t.Errorf("a user the access review refuses sees buttons:\n%s", page)
	}
}

func post(t *testing.T, url string, header map[string]string) (int, actionResult) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out actionResult
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, out
}

func TestOperationsOnlyFromTheDashboardsPages(t *testing.T) {
	op := &operator{}
	s, hs := newTestServer(t, op, true)
	origin := hs.URL
	url := hs.URL + "/canaries/prod/podinfo/actions/abort"
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"no origin, no token", nil},
		{"another site's origin with the token", map[string]string{"Origin": "https://evil.example", tokenHeader: s.token}},
		{"this origin without the token", map[string]string{"Origin": origin}},
		{"this origin with a wrong token", map[string]string{"Origin": origin, tokenHeader: "guess"}},
	} {
		if code, res := post(t, url, tc.header); code != http.StatusForbidden || res.OK {
			t.Errorf("%s: %d %+v, want 403", tc.name, code, res)
		}
	}
	if len(op.ran) > 0 {
		t.Fatalf("operations ran for refused requests: %v", op.ran)
	}
	code, res := post(t, url, map[string]string{"Origin": origin, tokenHeader: s.token})
	if code != http.StatusOK || !res.OK || res.Output != "canary podinfo.prod: abort accepted" || len(op.ran) != 1 || op.ran[0] != Abort {
		t.Errorf("same-origin request: %d %+v, ran %v", code, res, op.ran)
	}
	if code, _ := post(t, hs.URL+"/canaries/prod/podinfo/actions/delete", map[string]string{"Origin": origin, tokenHeader: s.token}); code != http.StatusNotFound {
		t.Errorf("unknown operation: %d, want 404", code)
	}

	// the API server's refusal is passed on
	op.err = apierrors.NewForbidden(flaggerv1.GroupVersion.WithResource("canaries").GroupResource(), "podinfo", nil)
	if code, res := post(t, url, map[string]string{"Origin": origin, tokenHeader: s.token}); code != http.StatusForbidden || !strings.Contains(res.Error, "forbidden") {
		t.Errorf("refused by the API server: %d %+v, want 403", code, res)
	}
}

func TestOtherHostsAreRefused(t *testing.T) {
	_, hs := newTestServer(t, &operator{}, true)
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/", nil)
	req.Host = "rebound.example:3100"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET with Host %s: %d, want 421", req.Host, res.StatusCode)
	}
	res, err = http.Get(hs.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestListShowsCanariesWithGates(t *testing.T) {
	_, hs := newTestServer(t, &operator{}, true)
	code, page := get(t, hs.URL+"/?namespace=prod")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d", code)
	}
	for _, want := range []string{`data-namespace="prod" data-name="podinfo" data-phase="WaitingPromotion" data-weight="50"`,
		`<a href="/canaries/prod/podinfo">podinfo</a>`, "1/3", "approval · holding", `data-live="/live?namespace=prod"`} {
		if !strings.Contains(page, want) {
			t.Errorf("list lacks %q:\n%s", want, page)
		}
	}
}

func TestServerSentEventsCarryEveryLine(t *testing.T) {
	rec := httptest.NewRecorder()
	writeEvent(rec, "update", []byte("<p>\n  one\r\n</p>"))
	if want := "event: update\ndata: <p>\ndata:   one\ndata: </p>\n\n"; rec.Body.String() != want {
		t.Errorf("event %q, want %q", rec.Body.String(), want)
	}
}

func TestUserTextIsEscaped(t *testing.T) {
	c := testCanary()
	c.Status.Message = `<script>alert("message")</script>`
	c.Spec.Analysis.Webhooks[1].URL = `http://lt.test/"><img src=x onerror=alert(1)>`
	page := string(fragment((&canaryView{listRow: row(c, now), Key: c.Key(), Webhooks: webhookRows(c, nil, now),
		WeightPlot: weightPlot(nil, now.Add(-time.Minute), now)}).write))
	for _, bad := range []string{"<script>", `"><img`, "<img"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q unescaped:\n%s", bad, page)
		}
	}
	for _, want := range []string{`&lt;script&gt;alert(&#34;message&#34;)&lt;/script&gt;`, `http://lt.test/&#34;&gt;&lt;img src=x onerror=alert(1)&gt;`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks the escaped %q", want)
		}
	}
}
