package routers

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/logging"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// env is the control plane every test of this package uses (the kubernetes
// routers' tests too).
var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

// routerScheme knows the Warbler, client-go and Gateway API types.
func routerScheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := testenv.Scheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// routerClient is a direct (uncached) client with routerScheme.
func routerClient(t testing.TB) client.Client {
	t.Helper()
	c, err := client.New(env.Config, client.Options{Scheme: routerScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// logBuffer collects the JSON log lines of a router.
type logBuffer struct {
	testenv.LogBuffer
}

// testDeps returns Deps on a direct client and a buffer of its logs.
func testDeps(t testing.TB) (Deps, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	cl := routerClient(t)
	return Deps{
		Client: cl,
		Scheme: cl.Scheme(),
		Log:    logging.New(logs, slog.LevelDebug),
	}, logs
}

// createCanary stores a Canary for the Deployment podinfo on port 9898
// with a stepWeight analysis, after edit, and returns it with its UID.
func createCanary(t testing.TB, ns string, edit func(*flaggerv1.Canary)) *flaggerv1.Canary {
	t.Helper()
	c := &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns},
		Spec: flaggerv1.CanarySpec{
			TargetRef: flaggerv1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "podinfo"},
			Service:   flaggerv1.CanaryService{Port: 9898},
			Analysis:  &flaggerv1.CanaryAnalysis{Interval: "30s", Threshold: 5, StepWeight: 5, MaxWeight: 50},
		},
	}
	if edit != nil {
		edit(c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatalf("creating canary: %v", err)
	}
	return c
}

// weightSteps is the schedule every router is driven through: 100/0, the
// steps of stepWeight 5 up to 50, then blue/green-style 0/100, and back.
func weightSteps() [][2]int {
	steps := [][2]int{}
	for w := 5; w <= 50; w += 5 {
		steps = append(steps, [2]int{100 - w, w})
	}
	return append(steps, [2]int{0, 100}, [2]int{100, 0})
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// logLine tells whether one log line holds every fragment.
func logLine(logs *logBuffer, fragments ...string) bool {
	for _, line := range strings.Split(logs.String(), "\n") {
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(line, f)
		}
		if ok && line != "" {
			return true
		}
	}
	return false
}
