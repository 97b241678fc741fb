// Package testenv gives integration tests a real Kubernetes control plane:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, as
// started by hack/stack.sh. A test binary either reuses the stack named by
// WARBLER_KUBECONFIG (what `make test` does: one stack for every package) or
// starts its own on free ports and stops it when the binary exits, even when
// it crashes.
//
// Each test gets its own namespace; the Warbler CRDs from charts/warbler/crds
// are installed once per binary.
//
//	var env *testenv.Env
//
//	func TestMain(m *testing.M) { env = testenv.New(); os.Exit(env.Run(m)) }
package testenv

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/stack"
)

// KubeconfigEnv names a running stack to reuse instead of starting one.
const KubeconfigEnv = "WARBLER_KUBECONFIG"

// Env is a running control plane and clients for it.
type Env struct {
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// Config is the REST config of the admin user.
	Config *rest.Config
	// Client is a controller-runtime client that knows the Warbler types.
	Client client.Client
	// Kube is a typed clientset.
	Kube kubernetes.Interface
	// Scheme holds the client-go and Warbler types.
	Scheme *runtime.Scheme
	// Root is the repository root.
	Root string

	stackDir string // set when this binary started the stack

	buildMu sync.Mutex
	builds  map[string]build // by package list
}

// build is the outcome of a Binaries call.
type build struct {
	dir string
	err error
}

// New returns an Env that Run will start.
func New() *Env { return &Env{} }

// Scheme returns a scheme with the client-go types and the Warbler API.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(flaggerv1.AddToScheme(s))
	return s
}

// Run starts or joins the stack, installs the CRDs, runs the tests and stops
// what it started. It returns the exit code for os.Exit.
func (e *Env) Run(m *testing.M) int {
	if err := e.start(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		e.stop()
		return 1
	}
	code := m.Run()
	e.stop()
	return code
}

func (e *Env) start() error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	e.Root = root
	e.Kubeconfig = os.Getenv(KubeconfigEnv)
	if e.Kubeconfig == "" {
		if e.Kubeconfig, err = e.startStack(); err != nil {
			return err
		}
	}
	if e.Config, err = clientcmd.BuildConfigFromFlags("", e.Kubeconfig); err != nil {
		return fmt.Errorf("reading %s: %w", e.Kubeconfig, err)
	}
	e.Config.QPS, e.Config.Burst = 200, 400
	e.Scheme = Scheme()
	if e.Client, err = client.New(e.Config, client.Options{Scheme: e.Scheme}); err != nil {
		return err
	}
	if e.Kube, err = kubernetes.NewForConfig(e.Config); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return InstallCRDs(ctx, e.Client, filepath.Join(root, "charts", "warbler", "crds"))
}

// startStack starts a private stack on free ports, tied to this process.
func (e *Env) startStack() (string, error) {
	dir, err := os.MkdirTemp("", "warbler-testenv-")
	if err != nil {
		return "", err
	}
	e.stackDir = dir
	return stack.Up(e.Root, dir, os.Getpid())
}

func (e *Env) stop() {
	for _, b := range e.builds {
		_ = os.RemoveAll(b.dir)
	}
	if e.stackDir == "" {
		return
	}
	stack.Down(e.Root, e.stackDir)
	_ = os.RemoveAll(e.stackDir)
}

// RepoRoot walks up from the working directory to the folder with go.mod.
func RepoRoot() (string, error) { return stack.Root() }

// InstallCRDs creates or updates every CRD in dir and waits until each is
// Established.
func InstallCRDs(ctx context.Context, c client.Client, dir string) error {
	return stack.InstallCRDs(ctx, c, dir)
}

// Namespace creates a namespace for the test, deleted when the test ends.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := namespaceName(t.Name())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"warbler.dev/test": "true"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	// the default ServiceAccount appears asynchronously; pods need it
	if err := Poll(ctx, 100*time.Millisecond, func() error {
		return e.Client.Get(ctx, client.ObjectKey{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
	}); err != nil {
		t.Fatalf("waiting for the default ServiceAccount in %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.Client.Delete(ctx, ns)
	})
	return name
}

// Create creates the objects, failing the test on the first error.
func (e *Env) Create(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := e.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// Get reads the object ns/name into obj, failing the test on an error.
func (e *Env) Get(t testing.TB, ns, name string, obj client.Object) {
	t.Helper()
	if err := e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		t.Fatalf("reading %T %s.%s: %v", obj, name, ns, err)
	}
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

func namespaceName(testName string) string {
	n := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if len(n) > 40 {
		n = strings.Trim(n[:40], "-")
	}
	return fmt.Sprintf("%s-%04x", n, rand.IntN(1<<16))
}

// Poll calls f every interval until it returns nil or ctx ends.
func Poll(ctx context.Context, interval time.Duration, f func() error) error {
	return stack.Poll(ctx, interval, f)
}

// Eventually polls f every 100ms until it returns nil, and fails the test
// with f's last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := Poll(ctx, 100*time.Millisecond, f); err != nil {
		t.Fatal(err)
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return stack.FreePort() }
