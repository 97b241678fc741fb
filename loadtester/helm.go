package loadtester

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Helm runs `helm test` through the Helm SDK against the cluster the
// loadtester runs in, so no helm binary is needed for it.
type Helm struct {
	config    *rest.Config
	kube      kubernetes.Interface
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
	log       *slog.Logger
}

// NewHelm prepares helm tests against the cluster of config. Discovery is
// cached and shared by every test.
func NewHelm(config *rest.Config, log *slog.Logger) (*Helm, error) {
	kc, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, err
	}
	dc := memory.NewMemCacheClient(kc.Discovery())
	return &Helm{config: config, kube: kc, discovery: dc,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(dc), log: log}, nil
}

// HelmTest is `helm test <release> [-n ns] [--timeout d] [--logs] [--filter f]`.
type HelmTest struct {
	Release   string
	Namespace string
	// Timeout of the test hooks; helm's default is 5m.
	Timeout time.Duration
	Logs    bool
	// Filters are --filter values such as "name=smoke" or "!name=slow".
	Filters []string
}

// errUnsupportedHelmFlag is a flag of `helm test` the SDK path does not
// take; a helm binary, when installed, can still run the command.
var errUnsupportedHelmFlag = errors.New("flag not supported by the in-process helm test")

// parseHelmTest reads the arguments after "test". The release namespace
// defaults to the canary's.
func parseHelmTest(args []string, namespace string) (HelmTest, error) {
	ht := HelmTest{Namespace: namespace, Timeout: 5 * time.Minute}
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		if !strings.HasPrefix(name, "-") {
			if ht.Release != "" {
				return ht, fmt.Errorf("helm test takes one release, got %q and %q", ht.Release, args[i])
			}
			ht.Release = args[i]
			continue
		}
		if name == "--logs" {
			ht.Logs = !hasValue || value == "true"
			continue
		}
		if !hasValue && strings.HasPrefix(name, "-n") && len(name) > 2 && !strings.HasPrefix(name, "--") {
			name, value, hasValue = "-n", name[2:], true // pflag's -nprod
		}
		switch name {
		case "-n", "--namespace", "--timeout", "--filter":
		default:
			return ht, fmt.Errorf("helm test %s: %w (supported: -n/--namespace, --timeout, --logs, --filter)", name, errUnsupportedHelmFlag)
		}
		if !hasValue {
			if i+1 >= len(args) {
				return ht, fmt.Errorf("helm test flag %s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := ht.set(name, value); err != nil {
			return ht, err
		}
	}
	if ht.Release == "" {
		return ht, errors.New(`helm test needs a release: "test <release> [-n namespace] [--timeout duration] [--logs]"`)
	}
	return ht, nil
}

func (ht *HelmTest) set(name, value string) error {
	switch name {
	case "-n", "--namespace":
		ht.Namespace = value
	case "--timeout":
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return fmt.Errorf("helm test --timeout %q: want a positive duration such as 5m", value)
		}
		ht.Timeout = d
	case "--filter":
		ht.Filters = append(ht.Filters, value)
	}
	return nil
}

// Test runs the release's test hooks and waits for them. The SDK takes no
// context, so the hooks' timeout is cut to what is left of ctx; when ctx
// ends first, Test returns and the SDK stops at that timeout.
func (h *Helm) Test(ctx context.Context, ht HelmTest) (string, error) {
	cfg := new(action.Configuration)
	debug := func(format string, v ...any) { h.log.Debug(fmt.Sprintf(format, v...)) }
	if err := cfg.Init(h.getter(ht.Namespace), ht.Namespace, "secret", debug); err != nil {
		return "", fmt.Errorf("helm test %s: %w", ht.Release, err)
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Namespace = ht.Namespace
	}
	rt := action.NewReleaseTesting(cfg)
	rt.Namespace, rt.Timeout = ht.Namespace, ht.Timeout
	if dl, ok := ctx.Deadline(); ok {
		rt.Timeout = max(min(rt.Timeout, time.Until(dl)), time.Second)
	}
	for _, f := range ht.Filters {
		if k, v, ok := strings.Cut(f, "="); ok {
			rt.Filters[k] = append(rt.Filters[k], v)
		}
	}
	type outcome struct {
		rel *release.Release
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		rel, err := rt.Run(ht.Release)
		done <- outcome{rel, err}
	}()
	select {
	case <-ctx.Done():
		return "", fmt.Errorf("helm test %s in %s: %w", ht.Release, ht.Namespace, ctx.Err())
	case o := <-done:
		return h.report(ctx, rt, ht, o.rel, o.err)
	}
}

// report describes the test hooks, with the state of a failed test pod's
// containers, which says more than helm's "pod <name> failed".
func (h *Helm) report(ctx context.Context, rt *action.ReleaseTesting, ht HelmTest, rel *release.Release, runErr error) (string, error) {
	var out bytes.Buffer
	if rel != nil {
		for _, hook := range testHooks(rel) {
			fmt.Fprintf(&out, "test %s %s: %s", hook.Kind, hook.Name, hook.LastRun.Phase)
			if hook.LastRun.Phase == release.HookPhaseFailed && hook.Kind == "Pod" {
				out.WriteString(h.podState(ctx, ht.Namespace, hook.Name))
			}
			out.WriteString("\n")
		}
		if ht.Logs {
			if err := rt.GetPodLogs(&out, rel); err != nil {
				fmt.Fprintf(&out, "pod logs: %v\n", err)
			}
		}
	}
	if runErr != nil {
		reason := strings.Join(strings.Fields(runErr.Error()), " ")
		return out.String(), fmt.Errorf("helm test %s in %s failed: %s\n%s", ht.Release, ht.Namespace, reason, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func testHooks(rel *release.Release) []*release.Hook {
	var hooks []*release.Hook
	for _, h := range rel.Hooks {
		for _, e := range h.Events {
			if e == release.HookTest {
				hooks = append(hooks, h)
				break
			}
		}
	}
	return hooks
}

// podState reads why a test pod's containers ended, such as
// " (container smoke: exit code 3, reason Error)".
func (h *Helm) podState(ctx context.Context, namespace, name string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	pod, err := h.kube.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf(" (pod not readable: %v)", err)
	}
	var parts []string
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			parts = append(parts, fmt.Sprintf("container %s: exit code %d, reason %s%s", cs.Name, t.ExitCode, t.Reason, message(t)))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf(" (pod phase %s)", pod.Status.Phase)
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func message(t *corev1.ContainerStateTerminated) string {
	if t.Message == "" {
		return ""
	}
	return ", message " + t.Message
}

// getter gives the Helm SDK this loadtester's cluster and the release's
// namespace, without reading kubeconfig files or a disk cache again.
func (h *Helm) getter(namespace string) *restGetter {
	return &restGetter{helm: h, namespace: namespace}
}

type restGetter struct {
	helm      *Helm
	namespace string
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.helm.config), nil }
func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return g.helm.discovery, nil
}
func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) { return g.helm.mapper, nil }

// ToRawKubeConfigLoader only carries the namespace: every client is built
// from ToRESTConfig.
func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	cfg := clientcmdapi.Config{
		Contexts:       map[string]*clientcmdapi.Context{"loadtester": {Namespace: g.namespace}},
		CurrentContext: "loadtester",
	}
	return clientcmd.NewDefaultClientConfig(cfg, &clientcmd.ConfigOverrides{})
}
