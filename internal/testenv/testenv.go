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
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
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

// startStack runs hack/stack.sh up on free ports with a watcher tied to this
// process, and returns the kubeconfig path it prints.
func (e *Env) startStack() (string, error) {
	dir, err := os.MkdirTemp("", "warbler-testenv-")
	if err != nil {
		return "", err
	}
	base, err := freePortRange(6)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(e.Root, "hack", "stack.sh"), "up", dir)
	cmd.Env = append(os.Environ(), "PORT_BASE="+strconv.Itoa(base), "STACK_OWNER_PID="+strconv.Itoa(os.Getpid()))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	e.stackDir = dir
	if err != nil {
		return "", fmt.Errorf("hack/stack.sh up: %w", err)
	}
	m := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("hack/stack.sh up printed no KUBECONFIG: %q", out)
	}
	return string(m[1]), nil
}

func (e *Env) stop() {
	if e.stackDir == "" {
		return
	}
	cmd := exec.Command(filepath.Join(e.Root, "hack", "stack.sh"), "down", e.stackDir)
	cmd.Stderr = os.Stderr
	_ = cmd.Run()
	_ = os.RemoveAll(e.stackDir)
}

// RepoRoot walks up from the working directory to the folder with go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// InstallCRDs creates or updates every CRD in dir and waits until each is
// Established.
func InstallCRDs(ctx context.Context, c client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		crds, err := readCRDs(f)
		if err != nil {
			return err
		}
		for _, crd := range crds {
			if err := applyCRD(ctx, c, crd); err != nil {
				return fmt.Errorf("installing %s from %s: %w", crd.Name, f, err)
			}
		}
	}
	return nil
}

func readCRDs(path string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, doc := range splitYAML(data) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if crd.Kind == "CustomResourceDefinition" {
			crds = append(crds, crd)
		}
	}
	return crds, nil
}

// splitYAML splits a multi-document YAML file, dropping empty documents.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			flush()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func applyCRD(ctx context.Context, c client.Client, want *apiextensionsv1.CustomResourceDefinition) error {
	for attempt := 0; ; attempt++ {
		have := &apiextensionsv1.CustomResourceDefinition{}
		err := c.Get(ctx, client.ObjectKey{Name: want.Name}, have)
		switch {
		case apierrors.IsNotFound(err):
			err = c.Create(ctx, want.DeepCopy())
		case err == nil:
			upd := want.DeepCopy()
			upd.ResourceVersion = have.ResourceVersion
			err = c.Update(ctx, upd)
		}
		if err == nil {
			break
		}
		if (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < 10 {
			continue
		}
		return err
	}
	return Poll(ctx, 200*time.Millisecond, func() error {
		have := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: want.Name}, have); err != nil {
			return err
		}
		for _, cond := range have.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("CRD %s not established", want.Name)
	})
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

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

func namespaceName(testName string) string {
	n := strings.Trim(notDNS.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if len(n) > 40 {
		n = strings.Trim(n[:40], "-")
	}
	return fmt.Sprintf("%s-%04x", n, rand.IntN(1<<16))
}

// Poll calls f every interval until it returns nil or ctx ends; it then
// returns the last error of f.
func Poll(ctx context.Context, interval time.Duration, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up after %v)", err, ctx.Err())
		case <-time.After(interval):
		}
	}
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
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePortRange finds n consecutive free ports on 127.0.0.1.
func freePortRange(n int) (int, error) {
	for range 50 {
		base := 20000 + rand.IntN(20000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("testenv: no range of free ports found")
}
