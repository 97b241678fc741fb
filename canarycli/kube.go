package canarycli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// cluster is a connection to the Kubernetes API.
type cluster struct {
	client    client.Client
	config    *rest.Config
	namespace string
	// authInfo is the kubeconfig's user entry, the fallback name of the
	// requester.
	authInfo string

	// what the controllers publish, read once (see controllerConfigs)
	configs       []ControllerConfig
	configsErr    error
	configsRead   bool
	configsWarned bool
}

// Scheme returns the types the plugin reads: client-go's, Warbler's and
// Gateway API's (for HTTPRoute weights).
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(flaggerv1.AddToScheme(s))
	utilruntime.Must(routers.AddToScheme(s))
	return s
}

// connect builds a client from --kubeconfig (else KUBECONFIG, else
// ~/.kube/config), --context and --namespace, once per run.
func (a *App) connect() (*cluster, error) {
	if a.cluster != nil {
		return a.cluster, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if env := a.Getenv("KUBECONFIG"); env != "" {
		rules.Precedence = filepath.SplitList(env)
	}
	rules.ExplicitPath = a.g.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: a.g.context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no usable kubeconfig: %v", err)
	}
	cfg.Timeout = a.g.requestTimeout
	cfg.UserAgent = "kubectl-canary"
	// client-go's default of 5 requests a second makes --watch wait on its
	// own rate limiter (a tree is a dozen requests); kubectl allows 50
	cfg.QPS, cfg.Burst = 50, 100
	ns := a.g.namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, fmt.Errorf("reading the namespace of the kubeconfig context: %v", err)
		}
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, explainAPIError(err, cfg.Host)
	}
	a.cluster = &cluster{client: c, config: cfg, namespace: ns}
	if raw, err := cc.RawConfig(); err == nil {
		current := raw.CurrentContext
		if a.g.context != "" {
			current = a.g.context
		}
		if ctx, ok := raw.Contexts[current]; ok {
			a.cluster.authInfo = ctx.AuthInfo
		}
	}
	return a.cluster, nil
}

// explainAPIError turns transport and discovery errors into a sentence
// that says what to check.
func explainAPIError(err error, host string) error {
	var ue *url.Error
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &ne) && ne.Timeout(), errors.As(err, &ue):
		return fmt.Errorf("cannot reach the Kubernetes API at %s (check --kubeconfig, --context and that the cluster is up): %v", host, rootCause(err))
	case meta.IsNoMatchError(err):
		return fmt.Errorf("the flagger.app API is not served by %s: install the Warbler CRDs (charts/warbler/crds)", host)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("the Kubernetes API at %s refused the credentials of the kubeconfig: %v", host, err)
	}
	return err
}

// rootCause is the innermost error, which says what went wrong without
// repeating the URL.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// canary connects and reads a Canary of the namespace.
func (a *App) canary(ctx context.Context, name string) (*cluster, *flaggerv1.Canary, error) {
	cl, err := a.connect()
	if err != nil {
		return nil, nil, err
	}
	c, err := a.getCanary(ctx, cl, name)
	return cl, c, err
}

// getCanary reads a Canary, with errors that name it and its namespace.
func (a *App) getCanary(ctx context.Context, cl *cluster, name string) (*flaggerv1.Canary, error) {
	var c flaggerv1.Canary
	err := cl.client.Get(ctx, client.ObjectKey{Namespace: cl.namespace, Name: name}, &c)
	switch {
	case err == nil:
		return &c, nil
	case apierrors.IsNotFound(err):
		if err := a.checkNamespace(ctx, cl, false); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("canary %q not found in namespace %q (list them with 'kubectl canary list -A')", name, cl.namespace)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("not allowed to read canary %s.%s: %v", name, cl.namespace, err)
	}
	return nil, explainAPIError(err, cl.config.Host)
}

// checkNamespace reports a namespace that does not exist as such, rather
// than as an empty one. Without the right to read namespaces it says
// nothing.
func (a *App) checkNamespace(ctx context.Context, cl *cluster, all bool) error {
	if all {
		return nil
	}
	var ns corev1.Namespace
	err := cl.client.Get(ctx, client.ObjectKey{Name: cl.namespace}, &ns)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("namespace %q not found (list them with 'kubectl get namespaces')", cl.namespace)
	}
	return nil
}
