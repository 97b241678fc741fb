// Package controllertest runs the canary controller in-process for
// integration tests, against the stack of internal/testenv.
package controllertest

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/warbler-dev/warbler/controller"
	"github.com/warbler-dev/warbler/internal/logging"
	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/providers/routers"
)

// Config of a test's controller.
type Config struct {
	// Namespaces the controller watches.
	Namespaces []string
	// Logs receives its JSON log; discarded when nil.
	Logs io.Writer
	// Metrics runs metric checks; PrometheusChecks when nil.
	Metrics controller.MetricRunner
	// Alerts receives alerts; it is also started when it is a manager
	// Runnable.
	Alerts controller.Notifier
	// HistoryLimit bounds status.history; the controller's default when 0.
	HistoryLimit int
	// RouteAcceptanceTimeout is -route-acceptance-timeout; 2s when zero.
	RouteAcceptanceTimeout time.Duration
}

// Start runs a controller until the test ends: the kubernetes provider by
// default, 1s as the shortest analysis interval, routes accepted after 2s.
func Start(t testing.TB, env *testenv.Env, cfg Config) {
	t.Helper()
	// the log is kept, and shown when the test fails: what the controller
	// did is what a failing integration test needs to say
	kept := &testenv.LogBuffer{}
	logs := io.Writer(kept)
	if cfg.Logs != nil {
		logs = io.MultiWriter(kept, cfg.Logs)
	}
	nsCfg := map[string]cache.Config{}
	for _, ns := range cfg.Namespaces {
		nsCfg[ns] = cache.Config{}
	}
	// controller-runtime logs through the same JSON logger, as in the
	// binary, so tests see its lines ("Reconciler error") too
	log := logging.New(logs, slog.LevelDebug)
	scheme := testenv.Scheme()
	if err := routers.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Cache: cache.Options{DefaultNamespaces: nsCfg},
		// tests start several managers in one process
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Logger:     logr.FromSlogHandler(log.Handler()),
	})
	if err != nil {
		t.Fatal(err)
	}
	metrics := cfg.Metrics
	if metrics == nil {
		metrics = &controller.PrometheusChecks{Templates: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Kube: mgr.GetClient(), MeshProvider: "kubernetes"}
	}
	r := &controller.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme,
		Recorder: mgr.GetEventRecorder("flagger"), Metrics: metrics, Alerts: cfg.Alerts,
		Options: controller.Options{MeshProvider: "kubernetes", EnableConfigTracking: true, MinInterval: time.Second,
			Workers: 4, Version: "test", Log: log, RouteAcceptanceTimeout: cmp.Or(cfg.RouteAcceptanceTimeout, 2*time.Second),
			HistoryLimit: cfg.HistoryLimit},
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	if run, ok := cfg.Alerts.(manager.Runnable); ok {
		if err := mgr.Add(run); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
		if t.Failed() {
			t.Logf("controller log (last %d lines):\n%s", keptLines, tail(kept.String(), keptLines))
		}
	})
}

// keptLines is how much of the controller's log a failed test shows.
const keptLines = 200

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "")
}
