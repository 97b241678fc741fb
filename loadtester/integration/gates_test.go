package integration

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/loadtester/gates"
	"github.com/warbler-dev/warbler/webhooks"
)

var canary = webhooks.Payload{Name: "podinfo", Namespace: "prod"}

// gate posts the canary's payload to a gate endpoint.
func gate(t *testing.T, url, path string) (int, string) {
	t.Helper()
	return post(t, url+path, canary)
}

// agree waits until every loadtester answers path with code.
func agree(t *testing.T, path string, code int, urls ...string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, u := range urls {
			if got, body := gate(t, u, path); got != code {
				return fmt.Errorf("%s%s answered %d %q, want %d", u, path, got, body, code)
			}
		}
		return nil
	})
}

func TestGatesSurviveARestart(t *testing.T) {
	ns := env.Namespace(t)
	args := []string{"-kubeconfig", env.Kubeconfig, "-namespace", ns}
	first := startProcess(t, "loadtester-1", args...)
	if code, body := gate(t, first.URL, "/gate/check"); code != 403 || body != "Forbidden" {
		t.Fatalf("new gate: %d %q", code, body)
	}
	if code, _ := gate(t, first.URL, "/gate/open"); code != http.StatusAccepted {
		t.Fatalf("open: %d", code)
	}
	if code, _ := gate(t, first.URL, "/rollback/open"); code != http.StatusAccepted {
		t.Fatalf("rollback open: %d", code)
	}
	if code, body := gate(t, first.URL, "/gate/check"); code != 200 || body != "Approved" {
		t.Fatalf("check after open on the same instance: %d %q", code, body)
	}

	// the gate is an object in the API server, with who changed it and when
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := env.Kube.CoreV1().ConfigMaps(ns).Get(ctx, "warbler-gate-podinfo.prod", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data["key"] != "podinfo.prod" || cm.Data["open"] != "true" || cm.Data["changedBy"] != "anonymous@127.0.0.1" ||
		cm.Labels[gates.GateLabel] != "true" || strings.Count(cm.Data["history"], "\n") != 1 {
		t.Errorf("gate ConfigMap: labels %v data %v", cm.Labels, cm.Data)
	}
	if _, err := time.Parse(time.RFC3339, cm.Data["changedAt"]); err != nil {
		t.Errorf("changedAt %q: %v", cm.Data["changedAt"], err)
	}
	log := first.log(t)
	for _, want := range []string{`"msg":"Connected to Kubernetes API`, `"msg":"podinfo.prod gate opened","canary":"podinfo.prod","by":"anonymous@127.0.0.1"`,
		`"msg":"rollback.podinfo.prod rollback opened"`, `"msg":"Starting load tester `, ` API on port `} {
		if !strings.Contains(log, want) {
			t.Errorf("loadtester log lacks %s:\n%s", want, log)
		}
	}

	// a new process against the same cluster: the gate is still open, from
	// its very first answer
	first.Stop()
	second := startProcess(t, "loadtester-2", args...)
	if code, body := gate(t, second.URL, "/gate/check"); code != 200 || body != "Approved" {
		t.Fatalf("check after a restart: %d %q", code, body)
	}
	if code, body := gate(t, second.URL, "/rollback/check"); code != 200 || body != "Approved" {
		t.Fatalf("rollback check after a restart: %d %q", code, body)
	}
}

func TestTwoInstancesGiveTheSameAnswer(t *testing.T) {
	ns := env.Namespace(t)
	args := []string{"-kubeconfig", env.Kubeconfig, "-namespace", ns}
	a := startProcess(t, "loadtester-a", args...)
	b := startProcess(t, "loadtester-b", args...)

	agree(t, "/gate/check", 403, a.URL, b.URL)
	if code, _ := gate(t, a.URL, "/gate/open"); code != 202 {
		t.Fatalf("open on a: %d", code)
	}
	agree(t, "/gate/check", 200, a.URL, b.URL)
	if code, _ := gate(t, b.URL, "/gate/close"); code != 202 {
		t.Fatalf("close on b: %d", code)
	}
	// the writer reads its own write at once
	if code, _ := gate(t, b.URL, "/gate/check"); code != 403 {
		t.Errorf("b after closing: %d", code)
	}
	agree(t, "/gate/check", 403, a.URL, b.URL)
	if code, _ := gate(t, b.URL, "/rollback/open"); code != 202 {
		t.Fatalf("rollback open on b: %d", code)
	}
	agree(t, "/rollback/check", 200, a.URL, b.URL)
	agree(t, "/gate/check", 403, a.URL, b.URL)
}

func TestWithoutAClusterGatesLiveInMemory(t *testing.T) {
	t.Setenv("KUBECONFIG", "") // `make test` exports the stack's
	p := startProcess(t, "loadtester-nocluster")
	if code, _ := gate(t, p.URL, "/gate/open"); code != 202 {
		t.Fatalf("open: %d", code)
	}
	if code, body := gate(t, p.URL, "/gate/check"); code != 200 || body != "Approved" {
		t.Fatalf("check: %d %q", code, body)
	}
	if log := p.log(t); !strings.Contains(log, `"level":"warn"`) || !strings.Contains(log, "no Kubernetes cluster found") ||
		!strings.Contains(log, "gates are kept in memory and lost on restart") {
		t.Errorf("no startup warning:\n%s", log)
	}
}

// The store, used directly: hand edits are picked up, concurrent writers
// do not lose changes, odd keys get a hashed object name.
func TestConfigMapStore(t *testing.T) {
	ns := env.Namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stores := []*gates.ConfigMaps{gates.NewConfigMaps(env.Kube, ns), gates.NewConfigMaps(env.Kube, ns)}
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Go(func() { _ = s.Start(ctx) })
	}
	defer wg.Wait()
	defer cancel()

	// two writers at once on the same gate: both changes are recorded
	var writes sync.WaitGroup
	for i, s := range stores {
		writes.Go(func() {
			err := s.Set(ctx, gates.Change{Key: "podinfo.prod", Open: i == 0, By: fmt.Sprintf("writer-%d", i), At: time.Now()})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	writes.Wait()
	history, err := stores[0].History(ctx, "podinfo.prod")
	if err != nil || len(history) != 2 {
		t.Fatalf("history %+v %v, want both writes", history, err)
	}
	last := history[1]
	testenv.Eventually(t, 10*time.Second, func() error {
		for i, s := range stores {
			if open, err := s.IsOpen(ctx, "podinfo.prod"); err != nil || open != last.Open {
				return fmt.Errorf("store %d: open %v %v, want the last write's %v", i, open, err, last.Open)
			}
		}
		return nil
	})

	// an edit by hand (kubectl edit) is picked up
	api := env.Kube.CoreV1().ConfigMaps(ns)
	cm, err := api.Get(ctx, gates.ObjectName("podinfo.prod"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["open"] = fmt.Sprint(!last.Open)
	if _, err := api.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if open, _ := stores[1].IsOpen(ctx, "podinfo.prod"); open == last.Open {
			return fmt.Errorf("hand edit not seen")
		}
		return nil
	})
	// deleting the object closes the gate
	if err := api.Delete(ctx, cm.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if open, _ := stores[0].IsOpen(ctx, "podinfo.prod"); open {
			return fmt.Errorf("deleted gate still open")
		}
		return nil
	})

	// a key that is not a valid object name gets a hashed one
	odd := "Pod_Info.prod"
	if err := stores[0].Set(ctx, gates.Change{Key: odd, Open: true, By: "t", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	name := gates.ObjectName(odd)
	if !strings.HasPrefix(name, "warbler-gate-") || strings.Contains(name, ".") {
		t.Errorf("object name %q", name)
	}
	if got, err := api.Get(ctx, name, metav1.GetOptions{}); err != nil || got.Data["key"] != odd {
		t.Errorf("hashed object: %v %v", got.Data, err)
	}
	if _, err := api.Get(ctx, "warbler-gate-never.set", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a gate that was only checked has an object: %v", err)
	}
}
