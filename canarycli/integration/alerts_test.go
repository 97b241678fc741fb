package integration_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/alerts"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/logging"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// inbox records the JSON documents POSTed to it, by path.
type inbox struct {
	*httptest.Server
	mu   sync.Mutex
	docs map[string][]map[string]any
}

func newInbox(t *testing.T) *inbox {
	in := &inbox{docs: map[string][]map[string]any{}}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var doc map[string]any
		if err := json.NewDecoder(r.Body).Decode(&doc); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.mu.Lock()
		in.docs[r.URL.Path] = append(in.docs[r.URL.Path], doc)
		in.mu.Unlock()
	}))
	t.Cleanup(in.Close)
	return in
}

// slackTexts are the attachment texts received on path.
func (in *inbox) slackTexts(path string) []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, d := range in.docs[path] {
		a := d["attachments"].([]any)[0].(map[string]any)
		out = append(out, a["color"].(string)+" "+a["text"].(string))
	}
	return out
}

// slackFields are the fields of the attachment with text.
func (in *inbox) slackFields(path, text string) map[string]string {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]string{}
	for _, d := range in.docs[path] {
		a := d["attachments"].([]any)[0].(map[string]any)
		if a["text"] != text {
			continue
		}
		for _, f := range a["fields"].([]any) {
			fm := f.(map[string]any)
			out[fm["title"].(string)] = fm["value"].(string)
		}
	}
	return out
}

func (in *inbox) generic(path string) []map[string]any {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]map[string]any(nil), in.docs[path]...)
}

func (in *inbox) wait(t *testing.T, what string, ok func() bool) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		if !ok() {
			return fmt.Errorf("no %s yet; received %v", what, in.received())
		}
		return nil
	})
}

func (in *inbox) received() map[string]int {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]int{}
	for p, d := range in.docs {
		out[p] = len(d)
	}
	return out
}

// A release that promotes and one that rolls back, with a Slack provider
// for everything and, in another namespace, a generic webhook provider
// whose address is in a Secret, for warnings and errors only.
func TestAlertsForPromotionAndRollback(t *testing.T) {
	ns, other := env.Namespace(t), env.Namespace(t)
	in := newInbox(t)
	rate := newMetrics(map[string]float64{"request-success-rate": 99.9})
	log := logging.New(io.Discard, slog.LevelDebug)
	startController(t, ns, rate, alerts.New(env.Client, env.Client, alerts.Flags{Timeout: 2 * time.Second}, "test-cluster", log))
	create(t,
		&flaggerv1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "slack"},
			Spec: flaggerv1.AlertProviderSpec{Type: "slack", Channel: "releases", Address: in.URL + "/slack"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "hook"}, StringData: map[string]string{"address": in.URL + "/hook"}},
		&flaggerv1.AlertProvider{ObjectMeta: metav1.ObjectMeta{Namespace: other, Name: "hook"},
			Spec: flaggerv1.AlertProviderSpec{Type: "webhook", SecretRef: &flaggerv1.LocalSecretReference{Name: "hook"}}},
		deployment(ns, "podinfo", imageV1, 2),
		canaryOf(ns, "podinfo", "kubernetes:replicas", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50,
			Metrics: checkedMetrics()[:1],
			Alerts: []flaggerv1.CanaryAlert{
				{Name: "slack", ProviderRef: flaggerv1.CrossNamespaceObjectReference{Name: "slack"}}, // no severity: info
				{Name: "hook", Severity: flaggerv1.SeverityWarn, ProviderRef: flaggerv1.CrossNamespaceObjectReference{Name: "hook", Namespace: other}},
			}}))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second)

	setImage(t, ns, "podinfo", imageV2)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 60*time.Second)
	promoted := "good Canary analysis completed successfully, promotion finished."
	in.wait(t, "promotion alert", func() bool { return slices.Contains(in.slackTexts("/slack"), promoted) })
	for _, want := range []string{"good New Deployment detected, initialization completed.", "good New revision detected, progressing canary analysis."} {
		if !slices.Contains(in.slackTexts("/slack"), want) {
			t.Errorf("Slack did not get %q: %v", want, in.slackTexts("/slack"))
		}
	}
	f := in.slackFields("/slack", "Canary analysis completed successfully, promotion finished.")
	if f["Target"] != "Deployment/podinfo."+ns || f["Cluster"] != "test-cluster" || f["Traffic routing"] != "Weight step: 50 max: 100" {
		t.Errorf("promotion fields %v", f)
	}
	if got := in.generic("/hook"); len(got) != 0 {
		t.Errorf("the warn-level webhook received info alerts: %v", got)
	}

	rate.set("request-success-rate", 42)
	setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second)
	rolledBack := "danger Failed checks threshold reached 1"
	in.wait(t, "rollback alerts", func() bool {
		return slices.Contains(in.slackTexts("/slack"), rolledBack) && len(in.generic("/hook")) > 0
	})
	f = in.slackFields("/slack", "Failed checks threshold reached 1")
	if f["Last failing check"] != "request-success-rate 42 (min 99)" || f["Failed checks"] != "1/1" {
		t.Errorf("rollback fields %v", f)
	}
	doc := in.generic("/hook")[0]
	last, _ := doc["lastFailedCheck"].(map[string]any)
	if doc["severity"] != "error" || doc["phase"] != "Failed" || doc["message"] != "Failed checks threshold reached 1" ||
		doc["target"] != "Deployment/podinfo."+ns || doc["cluster"] != "test-cluster" || last["value"] != 42.0 || last["min"] != 99.0 {
		t.Errorf("generic rollback payload %v", doc)
	}
	if texts := strings.Join(in.slackTexts("/slack"), "\n"); strings.Count(texts, promoted) != 1 {
		t.Errorf("the promotion alert was sent more than once:\n%s", texts)
	}
}
