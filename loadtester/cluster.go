package loadtester

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Cluster is the Kubernetes API the loadtester uses for gates and helm
// tests, and the namespace its gates live in.
type Cluster struct {
	Config    *rest.Config
	Namespace string
	// Source says where the config came from, for the startup log.
	Source string
	// Kubeconfig is the file the config came from, handed to helm and
	// kubectl processes; empty in-cluster.
	Kubeconfig string
}

// serviceAccountNamespace is where Kubernetes mounts the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// FindCluster looks for a cluster in this order: the -kubeconfig flag, the
// KUBECONFIG environment variable, the in-cluster service account. It
// returns nil and no error when there is none: the loadtester then runs
// without a cluster. The namespace comes from the -namespace flag, else
// POD_NAMESPACE, else the service account's, else the kubeconfig context's.
func FindCluster(kubeconfig, namespace string, getenv func(string) string) (*Cluster, error) {
	c := &Cluster{}
	var loader clientcmd.ClientConfig
	switch env := getenv("KUBECONFIG"); {
	case kubeconfig != "":
		c.Source, c.Kubeconfig = "-kubeconfig "+kubeconfig, kubeconfig
		loader = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{})
	case env != "":
		c.Source, c.Kubeconfig = "KUBECONFIG "+env, env
		loader = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(env)}, &clientcmd.ConfigOverrides{})
	}
	var err error
	if loader != nil {
		if c.Config, err = loader.ClientConfig(); err != nil {
			return nil, fmt.Errorf("reading the kubeconfig (%s): %w", c.Source, err)
		}
	} else {
		c.Config, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the in-cluster config: %w", err)
		}
		c.Source = "in-cluster service account"
	}
	c.Namespace = clusterNamespace(namespace, getenv, loader)
	if c.Namespace == "" {
		return nil, errors.New("no namespace for the gates: set -namespace or POD_NAMESPACE")
	}
	return c, nil
}

func clusterNamespace(flag string, getenv func(string) string, loader clientcmd.ClientConfig) string {
	if flag != "" {
		return flag
	}
	if ns := getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if data, err := os.ReadFile(serviceAccountNamespace); err == nil && strings.TrimSpace(string(data)) != "" {
		return strings.TrimSpace(string(data))
	}
	if loader != nil {
		if ns, _, err := loader.Namespace(); err == nil {
			return ns
		}
	}
	return ""
}
