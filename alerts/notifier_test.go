package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/internal/testenv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/warbler-dev/warbler/alerts"
	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/controller"
)

var _ controller.Notifier = (*alerts.Notifier)(nil)

// receiver records the JSON documents POSTed to it, by path.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	calls []call
	got   chan call
}

type call struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan call, 100)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c := call{Path: req.URL.Path, Header: req.Header.Clone(), Body: body}
		r.mu.Lock()
		r.calls = append(r.calls, c)
		r.mu.Unlock()
		r.got <- c
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(r.Close)
	return r
}

// next waits for the next call.
func (r *receiver) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-r.got:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no alert arrived within 10s")
		return call{}
	}
}

// none asserts that no call arrives for a while.
func (r *receiver) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case c := <-r.got:
		t.Fatalf("unexpected alert on %s: %v", c.Path, c.Body)
	case <-time.After(wait):
	}
}

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(flaggerv1.AddToScheme(s))
	return s
}

func provider(ns, name, typ, address string, secret string) *flaggerv1.AlertProvider {
	p := &flaggerv1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: flaggerv1.AlertProviderSpec{Type: typ, Address: address}}
	if secret != "" {
		p.Spec.SecretRef = &flaggerv1.LocalSecretReference{Name: secret}
	}
	return p
}

func secret(ns, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// releaseCanary is podinfo.test after a tick, with alert entries.
func releaseCanary(entries ...flaggerv1.CanaryAlert) *flaggerv1.Canary {
	return &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "test", Name: "podinfo"},
		Spec: flaggerv1.CanarySpec{
			TargetRef: flaggerv1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Analysis:  &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, StepWeight: 10, MaxWeight: 50, Alerts: entries},
		},
		Status: flaggerv1.CanaryStatus{Phase: flaggerv1.CanaryPhaseSucceeded, LastAppliedSpec: "rev2"},
	}
}

func entry(name, providerNS string, sev flaggerv1.AlertSeverity) flaggerv1.CanaryAlert {
	return flaggerv1.CanaryAlert{Name: name, Severity: sev, ProviderRef: flaggerv1.CrossNamespaceObjectReference{Name: name, Namespace: providerNS}}
}

// failed turns c into a canary rolled back after five failed checks.
func failed(c *flaggerv1.Canary) *flaggerv1.Canary {
	c.Status.Phase, c.Status.FailedChecks = flaggerv1.CanaryPhaseFailed, 5
	now := metav1.Now()
	c.Status.Checks = []flaggerv1.CheckResult{
		{Metric: "request-success-rate", Time: now, Value: ptr.To(99.9), Min: ptr.To(99.0), Verdict: flaggerv1.VerdictPass},
		{Metric: "request-success-rate", Time: now, Value: ptr.To(69.17), Min: ptr.To(99.0), Verdict: flaggerv1.VerdictFail, Failed: true,
			Message: "Halt podinfo.test advancement success rate 69.17% < 99%"},
		{Metric: "request-duration", Time: now, Value: ptr.To(120.0), Max: ptr.To(500.0), Verdict: flaggerv1.VerdictPass},
	}
	return c
}

func spec() analysis.Spec {
	return analysis.Spec{Name: "podinfo", Namespace: "test", Strategy: analysis.StrategyCanary, Threshold: 5, StepWeight: 10, MaxWeight: 50}
}

var (
	promoted = analysis.Alert{Severity: analysis.SeverityInfo, Message: "Canary analysis completed successfully, promotion finished.", Details: true}
	rollback = analysis.Alert{Severity: analysis.SeverityError, Message: "Failed checks threshold reached 5", Details: true}
)

// start runs a notifier over the objects until the test ends.
func start(t *testing.T, f alerts.Flags, log io.Writer, objs ...client.Object) *alerts.Notifier {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(scheme()).WithObjects(objs...).Build()
	if log == nil {
		log = io.Discard
	}
	n := alerts.New(c, c, f, "prod-eu", slog.New(slog.NewJSONHandler(log, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func fieldsOf(t *testing.T, body map[string]any) (color string, fields map[string]string) {
	t.Helper()
	atts, _ := body["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("want one Slack attachment, got %v", body)
	}
	a := atts[0].(map[string]any)
	fields = map[string]string{}
	fl, _ := a["fields"].([]any)
	for _, f := range fl {
		m := f.(map[string]any)
		fields[m["title"].(string)] = m["value"].(string)
	}
	return a["color"].(string), fields
}

func TestSlackPayloadForPromotionAndRollback(t *testing.T) {
	rcv := newReceiver(t)
	n := start(t, alerts.Flags{}, nil, provider("test", "slack", "slack", rcv.URL+"/hook", ""))
	c := releaseCanary(entry("slack", "", flaggerv1.SeverityInfo))

	n.Send(context.Background(), c, []analysis.Alert{promoted}, spec())
	got := rcv.next(t)
	color, fields := fieldsOf(t, got.Body)
	att := got.Body["attachments"].([]any)[0].(map[string]any)
	if got.Path != "/hook" || color != "good" || att["text"] != promoted.Message || att["author_name"] != "podinfo.test" {
		t.Errorf("promotion: path %s colour %s attachment %v", got.Path, color, att)
	}
	if got.Body["channel"] != "general" || got.Body["username"] != "flagger" {
		t.Errorf("promotion: channel %v username %v, want the defaults general and flagger", got.Body["channel"], got.Body["username"])
	}
	want := map[string]string{"Cluster": "prod-eu", "Target": "Deployment/podinfo.test", "Failed checks threshold": "5",
		"Progress deadline": "600s", "Traffic routing": "Weight step: 10 max: 50"}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("promotion field %q = %q, want %q (all: %v)", k, fields[k], v, fields)
		}
	}
	if _, ok := fields["Last failing check"]; ok {
		t.Errorf("promotion with no failed check shows a failing check: %v", fields)
	}

	n.Send(context.Background(), failed(c.DeepCopy()), []analysis.Alert{rollback}, spec())
	got = rcv.next(t)
	color, fields = fieldsOf(t, got.Body)
	if color != "danger" || fields["Failed checks"] != "5/5" || fields["Last failing check"] != "request-success-rate 69.17 (min 99)" {
		t.Errorf("rollback: colour %s fields %v, want danger, 5/5 and the failing success rate", color, fields)
	}
}

func TestGenericWebhookPayloadFromSecretInProviderNamespace(t *testing.T) {
	rcv := newReceiver(t)
	// the provider and its Secret live in "alerting", the canary in "test"
	n := start(t, alerts.Flags{}, nil,
		provider("alerting", "hook", "webhook", "", "hook-secret"),
		secret("alerting", "hook-secret", map[string]string{"address": rcv.URL + "/warbler", "token": "s3cret"}))
	c := failed(releaseCanary(entry("hook", "alerting", flaggerv1.SeverityWarn)))
	c.Status.CanaryWeight = 0

	n.Send(context.Background(), c, []analysis.Alert{rollback}, spec())
	got := rcv.next(t)
	if got.Path != "/warbler" || got.Header.Get("Authorization") != "Bearer s3cret" {
		t.Errorf("path %s auth %q, want /warbler with the token of the Secret", got.Path, got.Header.Get("Authorization"))
	}
	b := got.Body
	want := map[string]any{"name": "podinfo", "namespace": "test", "phase": "Failed", "severity": "error",
		"message": "Failed checks threshold reached 5", "target": "Deployment/podinfo.test", "failedChecks": 5.0,
		"threshold": 5.0, "cluster": "prod-eu"}
	for k, v := range want {
		if b[k] != v {
			t.Errorf("payload %s = %v, want %v", k, b[k], v)
		}
	}
	last, _ := b["lastFailedCheck"].(map[string]any)
	if last["metric"] != "request-success-rate" || last["value"] != 69.17 || last["min"] != 99.0 || last["verdict"] != "Fail" {
		t.Errorf("lastFailedCheck = %v", last)
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(b["timestamp"])); err != nil {
		t.Errorf("timestamp %v: %v", b["timestamp"], err)
	}
}

func TestSeverityRouting(t *testing.T) {
	levels := []analysis.Severity{analysis.SeverityInfo, analysis.SeverityWarn, analysis.SeverityError}
	cases := []struct {
		entry flaggerv1.AlertSeverity
		want  []analysis.Severity
	}{
		{"", levels}, // Flagger sends nothing here
		{flaggerv1.SeverityInfo, levels},
		{flaggerv1.SeverityWarn, levels[1:]},
		{flaggerv1.SeverityError, levels[2:]},
	}
	for _, tc := range cases {
		t.Run("entry severity "+string(tc.entry), func(t *testing.T) {
			rcv := newReceiver(t)
			n := start(t, alerts.Flags{Workers: 1}, nil, provider("test", "hook", "webhook", rcv.URL, ""))
			c := releaseCanary(entry("hook", "", tc.entry))
			for _, s := range levels {
				n.Send(context.Background(), c, []analysis.Alert{{Severity: s, Message: "alert " + string(s)}}, spec())
			}
			var got []analysis.Severity
			for range tc.want {
				got = append(got, analysis.Severity(rcv.next(t).Body["severity"].(string)))
			}
			rcv.none(t, 300*time.Millisecond)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("received %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGlobalNotifierServesCanariesWithoutAlerts(t *testing.T) {
	slack, teams := newReceiver(t), newReceiver(t)
	n := start(t, alerts.Flags{SlackURL: slack.URL + "/slack", SlackChannel: "deploys", SlackUser: "warbler"}, nil)
	n.Send(context.Background(), releaseCanary(), []analysis.Alert{promoted}, spec())
	got := slack.next(t)
	if got.Body["channel"] != "deploys" || got.Body["username"] != "warbler" {
		t.Errorf("global Slack: %v", got.Body)
	}

	// Teams wins over Slack
	n = start(t, alerts.Flags{SlackURL: slack.URL, MSTeamsURL: teams.URL + "/teams"}, nil)
	n.Send(context.Background(), releaseCanary(), []analysis.Alert{rollback}, spec())
	got = teams.next(t)
	sections, _ := got.Body["sections"].([]any)
	if got.Body["@type"] != "MessageCard" || got.Body["themeColor"] != "FF0000" || len(sections) != 1 ||
		sections[0].(map[string]any)["activitySubtitle"] != rollback.Message {
		t.Errorf("global Teams card: %v", got.Body)
	}
	slack.none(t, 300*time.Millisecond)
}

func TestChatProviderShapes(t *testing.T) {
	rcv := newReceiver(t)
	n := start(t, alerts.Flags{}, nil,
		provider("test", "discord", "discord", rcv.URL+"/api/webhooks/1/abc", ""),
		provider("test", "gchat", "gchat", rcv.URL+"/gchat", ""),
		provider("test", "rocket", "rocket", rcv.URL+"/rocket", ""))
	c := releaseCanary(entry("discord", "", ""), entry("gchat", "", ""), entry("rocket", "", ""))
	n.Send(context.Background(), c, []analysis.Alert{promoted}, spec())
	byPath := map[string]map[string]any{}
	for range 3 {
		got := rcv.next(t)
		byPath[got.Path] = got.Body
	}
	if b := byPath["/api/webhooks/1/abc/slack"]; b == nil || b["attachments"] == nil {
		t.Errorf("discord: want Slack's format on the webhook URL + /slack, got %v", byPath)
	}
	if b := byPath["/rocket"]; b == nil || b["attachments"] == nil {
		t.Errorf("rocket: want Slack's format, got %v", byPath["/rocket"])
	}
	if b := byPath["/gchat"]; b == nil || !strings.Contains(fmt.Sprint(b["cardsV2"]), promoted.Message) {
		t.Errorf("gchat: want a card with the message, got %v", byPath["/gchat"])
	}
}

func TestProxyFromProviderSpec(t *testing.T) {
	var mu sync.Mutex
	var proxied []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		proxied = append(proxied, r.URL.String())
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer proxy.Close()
	p := provider("test", "slack", "slack", "http://hooks.slack.invalid/services/T0/B0/x", "")
	p.Spec.Proxy = proxy.URL
	n := start(t, alerts.Flags{}, nil, p)
	n.Send(context.Background(), releaseCanary(entry("slack", "", "")), []analysis.Alert{promoted}, spec())
	waitFor(t, 10*time.Second, func() bool { return n.Stats().Sent == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(proxied) != 1 || proxied[0] != "http://hooks.slack.invalid/services/T0/B0/x" {
		t.Errorf("proxy saw %v, want the Slack URL", proxied)
	}
}

func TestHangingReceiverDoesNotBlockSend(t *testing.T) {
	released := make(chan time.Time, 1)
	testDone := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// with the body read, the server notices when the client hangs up
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done(): // the notifier gave up and closed the connection
			released <- time.Now()
		case <-testDone:
		}
	}))
	defer hang.Close()
	defer close(testDone)
	fast := newReceiver(t)
	var logs syncBuffer
	timeout := time.Second
	n := start(t, alerts.Flags{Timeout: timeout, Workers: 1}, &logs,
		provider("test", "hang", "slack", hang.URL, ""), provider("test", "fast", "webhook", fast.URL, ""))
	c := releaseCanary(entry("hang", "", ""), entry("fast", "", ""))

	begin := time.Now()
	n.Send(context.Background(), c, []analysis.Alert{promoted}, spec())
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("Send took %v with a hanging receiver; it must only queue", d)
	}
	select {
	case at := <-released:
		if d := at.Sub(begin); d > timeout+3*time.Second {
			t.Errorf("the hanging call was abandoned after %v, want about the %v timeout", d, timeout)
		}
	case <-time.After(timeout + 3*time.Second):
		t.Fatalf("the hanging call was not abandoned within %v", timeout+3*time.Second)
	}
	// the single worker moves on to the next receiver
	if got := fast.next(t); got.Body["message"] != promoted.Message {
		t.Errorf("fast receiver got %v", got.Body)
	}
	waitFor(t, 5*time.Second, func() bool { return n.Stats().Failed == 1 })
	if !strings.Contains(logs.String(), "error sending alert to slack provider test/hang") {
		t.Errorf("no log line for the abandoned call:\n%s", logs.String())
	}
}

func TestQueueFullDropsAreCountedAndLogged(t *testing.T) {
	var logs syncBuffer
	c := fake.NewClientBuilder().WithScheme(scheme()).Build()
	n := alerts.New(c, c, alerts.Flags{QueueSize: 1}, "", slog.New(slog.NewJSONHandler(&logs, nil)))
	// not started: the first Send fills the queue
	for range 3 {
		n.Send(context.Background(), releaseCanary(), []analysis.Alert{promoted, rollback}, spec())
	}
	if got := n.Stats().QueueFull; got != 4 {
		t.Errorf("dropped %d alerts, want 4 (two Sends of two alerts)", got)
	}
	if !strings.Contains(logs.String(), "alert queue is full") {
		t.Errorf("no log line for the drop:\n%s", logs.String())
	}
}

func TestIdenticalAlertsAreSuppressedPerRevision(t *testing.T) {
	rcv := newReceiver(t)
	n := start(t, alerts.Flags{}, nil, provider("test", "hook", "webhook", rcv.URL, ""))
	c := releaseCanary(entry("hook", "", ""))
	waiting := analysis.Alert{Severity: analysis.SeverityInfo, Message: "Canary traffic increase is waiting for approval.", Details: true}
	for range 3 {
		n.Send(context.Background(), c, []analysis.Alert{waiting}, spec())
	}
	rcv.next(t)
	rcv.none(t, 500*time.Millisecond)
	next := c.DeepCopy()
	next.Status.LastAppliedSpec = "rev3"
	n.Send(context.Background(), next, []analysis.Alert{waiting}, spec())
	rcv.next(t)
	waitFor(t, 5*time.Second, func() bool { return n.Stats().Sent == 2 })
	if s := n.Stats(); s.Repeated != 2 || s.Sent != 2 {
		t.Errorf("stats %+v, want 2 sent and 2 repeats suppressed", s)
	}
}

func TestProviderRateIsLimited(t *testing.T) {
	rcv := newReceiver(t)
	n := start(t, alerts.Flags{}, nil, provider("test", "hook", "webhook", rcv.URL, ""))
	c := releaseCanary(entry("hook", "", ""))
	var burst []analysis.Alert
	for i := range 15 {
		burst = append(burst, analysis.Alert{Severity: analysis.SeverityInfo, Message: fmt.Sprintf("alert %d", i)})
	}
	n.Send(context.Background(), c, burst, spec())
	waitFor(t, 10*time.Second, func() bool { s := n.Stats(); return s.Sent+s.Throttled == 15 })
	// the bucket refills at one per second, so a slow machine may let one
	// or two more through
	if s := n.Stats(); s.Sent < 10 || s.Sent > 12 || s.Throttled < 3 {
		t.Errorf("stats %+v, want about 10 sent and the rest throttled", s)
	}
}

func TestUnresolvableProviderIsLogged(t *testing.T) {
	var logs syncBuffer
	n := start(t, alerts.Flags{}, &logs)
	n.Send(context.Background(), releaseCanary(entry("missing", "", "")), []analysis.Alert{promoted}, spec())
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(logs.String(), "spec.analysis.alerts[0] (missing): reading AlertProvider missing.test")
	})
}

func waitFor(t *testing.T, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncBuffer struct {
	testenv.LogBuffer
}
