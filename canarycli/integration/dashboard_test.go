package integration_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/alerts"
	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// The dashboard in a real browser (Debian's chromium-headless-shell,
// installed on first use by hack/stack.sh, driven by chromedp), against
// the API server with a controller running in-process.

// startDashboard runs `kubectl canary dashboard --port 0` with the
// kubeconfig until the test ends, and returns its URL.
func startDashboard(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out := &testenv.LogBuffer{}
	app := &canarycli.App{Stdout: out, Stderr: out, PollInterval: 200 * time.Millisecond,
		Getenv: func(k string) string {
			if k == "KUBECONFIG" {
				return kubeconfig
			}
			return ""
		}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- app.Run(ctx, append([]string{"dashboard", "--port", "0"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("kubectl canary dashboard exited %d:\n%s", code, out)
		}
		if t.Failed() {
			t.Logf("dashboard output:\n%s", out)
		}
	})
	serving := regexp.MustCompile(`Serving the Warbler dashboard on (http://127\.0\.0\.1:\d+)/`)
	var url string
	testenv.Eventually(t, 60*time.Second, func() error {
		m := serving.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("the dashboard did not say where it serves: %q", out.String())
		}
		url = m[1]
		return nil
	})
	return url
}

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(testenv.StackBinary(t, "chromium")),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// the first call starts the browser, which lives as long as ctx
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs browser steps, failing the test after timeout with the page's
// content.
func run(t *testing.T, ctx context.Context, timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	value(t, ctx, timeout, what, chromedp.Steps(steps...))
}

// value runs one browser action and returns its value.
func value[T any](t *testing.T, ctx context.Context, timeout time.Duration, what string, action chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(tctx, action)
	if err != nil {
		hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		html, _ := chromedp.Run(hctx, chromedp.OuterHTML(chromedp.CSS("main")))
		t.Fatalf("%s: %v\npage content:\n%s", what, err, html)
	}
	return v
}

// waitFor polls a JavaScript expression in the page until it is true.
func waitFor(t *testing.T, ctx context.Context, timeout time.Duration, expr string) {
	t.Helper()
	value(t, ctx, timeout, "waiting for "+expr, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(0)))
}

// click clicks the element sel as soon as it exists, looked up and
// clicked in one evaluation of the page's JavaScript: the live updates
// replace the content of <main> whenever the canary changes, so a node
// looked up first and clicked in a later step can be gone by then.
func click(t *testing.T, ctx context.Context, timeout time.Duration, sel string) {
	t.Helper()
	waitFor(t, ctx, timeout, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel))
}

// rising answers every check with a new value (in quarters, which two
// decimals print exactly), so that the plot has distinct values to show.
type rising struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *rising) Run(_ context.Context, _ *flaggerv1.Canary, m flaggerv1.CanaryMetric, _ string, _ analysis.Window) analysis.MetricResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[m.Name]++
	base := 99.0
	if m.Name == "latency-p99" {
		base = 100
	}
	return analysis.MetricResult{Outcome: analysis.QueryOK, Value: base + float64(r.n[m.Name])/4, Query: m.Query}
}

// The list shows a release advance without a reload, the release's page
// plots the recorded checks, and Abort, once confirmed, fails the release.
func TestDashboardLiveReleaseAndAbort(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, ns, &rising{n: map[string]int{}}, nil)
	g := newGates(t) // the confirm-promotion gate stays closed: the release waits at 50%
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 5, StepWeight: 25, MaxWeight: 50, Metrics: checkedMetrics(),
		Webhooks: []flaggerv1.CanaryWebhook{g.hook("approval", flaggerv1.ConfirmPromotionHook)}}
	create(t, deployment(ns, "podinfo", imageV1, 2), canaryOf(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second)

	base := startDashboard(t, env.Kubeconfig)
	ctx := browser(t)
	row := fmt.Sprintf(`document.querySelector('tr.canary[data-namespace=%q][data-name="podinfo"]')`, ns)
	run(t, ctx, 60*time.Second, "opening the list", chromedp.Navigate(base+"/?namespace="+ns))
	waitFor(t, ctx, 30*time.Second, row+`?.dataset.phase === "Initialized"`)
	// a reload would lose this mark; the live update must not
	value(t, ctx, 10*time.Second, "marking the page", chromedp.Evaluate[bool](`window.notReloaded = true`))

	setImage(t, ns, "podinfo", imageV2)
	waitFor(t, ctx, 60*time.Second, row+`?.dataset.weight === "25" || `+row+`?.dataset.weight === "50"`)
	waitFor(t, ctx, 60*time.Second, row+`?.dataset.phase === "WaitingPromotion" && window.notReloaded === true && Number(document.body.dataset.updates) > 0`)
	if state := value(t, ctx, 10*time.Second, "reading the live state", chromedp.Text(chromedp.CSS("#live-state"))); state != "live" {
		t.Errorf("live state %q, want live", state)
	}

	// the release's page plots exactly the checks the status recorded
	link := value(t, ctx, 10*time.Second, "reading the canary's link", chromedp.Evaluate[string](`document.querySelector('tr.canary[data-name="podinfo"] a').href`))
	run(t, ctx, 60*time.Second, "opening the canary", chromedp.Navigate(link))
	waitFor(t, ctx, 30*time.Second, `document.getElementById("timeline") !== null`)
	testenv.Eventually(t, 60*time.Second, func() error {
		plotted, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("circle.check")).map(c => c.dataset.metric + "=" + c.dataset.value + " " + c.dataset.verdict)`))
		if err != nil {
			return err
		}
		var recorded []string
		for _, ch := range getCanary(t, ns, "podinfo").Status.Checks {
			value := ""
			if ch.Value != nil {
				value = alerts.FormatValue(*ch.Value)
			}
			recorded = append(recorded, fmt.Sprintf("%s=%s %s", ch.Metric, value, ch.Verdict))
		}
		slices.Sort(plotted)
		slices.Sort(recorded)
		if len(recorded) < 2 || !slices.Equal(plotted, recorded) {
			return fmt.Errorf("plotted checks %v, status.checks %v", plotted, recorded)
		}
		return nil
	})
	// the weight over time: each step of the schedule, from the events
	// and from what the dashboard saw
	if weights := value(t, ctx, 10*time.Second, "reading the weight plot", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("circle.weight")).map(c => c.dataset.value)`)); !slices.Contains(weights, "25") || !slices.Contains(weights, "50") {
		t.Errorf("weight plot points %v, want the steps 25 and 50", weights)
	}
	if thresholds := value(t, ctx, 10*time.Second, "counting threshold lines", chromedp.Evaluate[int](`document.querySelectorAll("polyline.threshold").length`)); thresholds != 2 {
		t.Errorf("%d threshold lines, want one per metric (min of the success rate, max of the latency)", thresholds)
	}

	// Abort asks first; Cancel does nothing, Confirm rolls back
	click(t, ctx, 30*time.Second, `button[data-action="abort"]`)
	run(t, ctx, 30*time.Second, "cancelling abort",
		chromedp.WaitVisible(chromedp.CSS(`#confirm-cancel`)), chromedp.Click(chromedp.CSS(`#confirm-cancel`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#confirm`)))
	if c := getCanary(t, ns, "podinfo"); c.Status.Phase != flaggerv1.CanaryPhaseWaitingPromotion || c.Annotations[flaggerv1.RequestAnnotation] != "" {
		t.Fatalf("after Cancel: phase %s, request %q; want nothing done", c.Status.Phase, c.Annotations[flaggerv1.RequestAnnotation])
	}
	// a Cancel and another Abort in one go, before the browser delivered
	// the dialog's close event: the question is asked again and nothing is
	// run until it is answered
	click(t, ctx, 30*time.Second, `button[data-action="abort"]`)
	run(t, ctx, 30*time.Second, "opening the question again", chromedp.WaitVisible(chromedp.CSS(`#confirm-cancel`)))
	if open := value(t, ctx, 10*time.Second, "cancelling and asking again at once", chromedp.Evaluate[bool](
		`document.getElementById("confirm").addEventListener("close", () => { window.cancelClosed = true }, { once: true });
		document.getElementById("confirm-cancel").click(); document.querySelector('button[data-action="abort"]').click();
		document.getElementById("confirm").open`)); !open {
		t.Fatal("after Cancel and Abort at once, the question is not shown")
	}
	waitFor(t, ctx, 10*time.Second, `window.cancelClosed === true`)
	if c := getCanary(t, ns, "podinfo"); c.Annotations[flaggerv1.RequestAnnotation] != "" {
		t.Fatalf("before the answer: request %q; want nothing done", c.Annotations[flaggerv1.RequestAnnotation])
	}
	run(t, ctx, 30*time.Second, "asking to abort", chromedp.WaitVisible(chromedp.CSS(`#confirm-ok`)))
	text := value(t, ctx, 10*time.Second, "reading the question", chromedp.Text(chromedp.CSS(`#confirm-text`)))
	run(t, ctx, 30*time.Second, "confirming abort", chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	if want := "Abort the release of podinfo." + ns; !strings.HasPrefix(text, want) {
		t.Errorf("confirmation %q, want it to start with %q", text, want)
	}
	// the button waits for the controller's answer, at most 30s
	waitFor(t, ctx, 60*time.Second, `["ok", "bad"].includes(document.getElementById("action-result").dataset.kind)`)
	text = value(t, ctx, 10*time.Second, "reading the result", chromedp.Text(chromedp.CSS(`#action-result`)))
	if kind := value(t, ctx, 10*time.Second, "reading the result's kind", chromedp.Evaluate[string](`document.getElementById("action-result").dataset.kind`)); kind != "ok" {
		c := getCanary(t, ns, "podinfo")
		t.Fatalf("abort answered %q: %s\ncanary: phase %s, message %q, annotations %v, status.lastRequest %+v",
			kind, text, c.Status.Phase, c.Status.Message, c.Annotations, c.Status.LastRequest)
	}
	if want := fmt.Sprintf("canary podinfo.%s: abort accepted: Canary podinfo.%s aborted", ns, ns); text != want {
		t.Errorf("result %q, want %q (what the CLI prints)", text, want)
	}
	c := waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second)
	if r := c.Status.LastRequest; r == nil || r.Operation != flaggerv1.RequestAbort || !r.Accepted {
		t.Errorf("status.lastRequest %+v, want an accepted abort", r)
	}
	waitFor(t, ctx, 60*time.Second, `document.getElementById("summary").dataset.phase === "Failed"`)
}

// A user whose credentials may only read sees no buttons, and an
// operation forged with the page's token and origin is refused by the API
// server, not by the dashboard.
func TestDashboardReadOnlyUser(t *testing.T) {
	ns := env.Namespace(t)
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 5, StepWeight: 50, Metrics: checkedMetrics(),
		Webhooks: []flaggerv1.CanaryWebhook{{Name: "approval", Type: flaggerv1.ConfirmPromotionHook, URL: "http://loadtester." + ns + "/gate/check"}}}
	create(t, deployment(ns, "podinfo", imageV1, 2), canaryOf(ns, "podinfo", "kubernetes:replicas", a),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary-viewer"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"flagger.app"}, Resources: []string{"canaries"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"get", "list", "watch"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary-viewer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "canary-viewer"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "viewer", Namespace: ns}}})
	viewer := startDashboard(t, env.ServiceAccountKubeconfig(t, ns, "viewer"))
	admin := startDashboard(t, env.Kubeconfig)

	ctx := browser(t)
	// the viewer may not list canaries cluster-wide: the list falls back
	// to the kubeconfig's namespace
	run(t, ctx, 60*time.Second, "opening the viewer's list", chromedp.Navigate(viewer+"/"))
	waitFor(t, ctx, 30*time.Second, `document.querySelector('tr.canary[data-name="podinfo"]') !== null`)
	run(t, ctx, 60*time.Second, "opening the viewer's canary page", chromedp.Navigate(viewer+"/canaries/"+ns+"/podinfo"))
	waitFor(t, ctx, 30*time.Second, `document.getElementById("actions") !== null`)
	buttons := value(t, ctx, 10*time.Second, "counting the buttons", chromedp.Evaluate[int](`document.querySelectorAll("button[data-action]").length`))
	note := value(t, ctx, 10*time.Second, "reading the actions", chromedp.Evaluate[string](`document.getElementById("actions").textContent`))
	if buttons != 0 || !strings.Contains(note, "Read-only") {
		t.Errorf("the viewer sees %d buttons, note %q; want none and the read-only note", buttons, note)
	}
	// with the admin's credentials the same page has every button
	run(t, ctx, 60*time.Second, "opening the admin's canary page", chromedp.Navigate(admin+"/canaries/"+ns+"/podinfo"))
	waitFor(t, ctx, 30*time.Second, `document.querySelector("button[data-action]") !== null`)
	actions := value(t, ctx, 10*time.Second, "reading the admin's buttons", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("button[data-action]")).map(b => b.dataset.action)`))
	if want := []string{"promote", "approve", "pause", "abort", "reject"}; !slices.Equal(actions, want) {
		t.Errorf("the admin's buttons %v, want %v", actions, want)
	}

	// a forged abort with the viewer's page token and origin reaches the
	// API server, which refuses it
	token := pageToken(t, viewer+"/canaries/"+ns+"/podinfo")
	req, _ := http.NewRequest(http.MethodPost, viewer+"/canaries/"+ns+"/podinfo/actions/abort", nil)
	req.Header.Set("Origin", viewer)
	req.Header.Set("X-Warbler-Token", token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`canaries.flagger.app "podinfo" is forbidden: User "system:serviceaccount:%s:viewer" cannot patch resource "canaries"`, ns)
	if res.StatusCode != http.StatusForbidden || out.OK || !strings.Contains(out.Error, want) {
		t.Errorf("forged abort: %d %+v; want 403 with the API server's %q", res.StatusCode, out, want)
	}
	if c := getCanary(t, ns, "podinfo"); c.Annotations[flaggerv1.RequestAnnotation] != "" {
		t.Errorf("the forged abort set %s=%s", flaggerv1.RequestAnnotation, c.Annotations[flaggerv1.RequestAnnotation])
	}
}

// pageToken reads the operation token a page carries.
func pageToken(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`<meta name="warbler-token" content="([^"]+)">`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no token in %s:\n%s", url, page)
	}
	return string(m[1])
}
