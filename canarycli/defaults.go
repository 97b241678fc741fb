package canarycli

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// MeshProviderEnv names the environment variable that sets the provider of
// canaries without spec.provider, over what the controller publishes;
// --mesh-provider overrides both.
const MeshProviderEnv = "WARBLER_MESH_PROVIDER"

// ControllerConfig is what a controller publishes for clients on its
// ConfigMap (labelled flaggerv1.ControllerConfigLabel).
type ControllerConfig struct {
	// ConfigMap is "<namespace>/<name>" of the ConfigMap.
	ConfigMap      string `json:"configMap"`
	MeshProvider   string `json:"meshProvider,omitempty"`
	Version        string `json:"version,omitempty"`
	WatchNamespace string `json:"watchNamespace,omitempty"`
}

// controllerConfigs lists what the controllers of the cluster publish, once
// per run. It looks in every namespace, so the plugin need not know where
// the controller was installed.
func (a *App) controllerConfigs(ctx context.Context, cl *cluster) ([]ControllerConfig, error) {
	if cl.configsRead {
		return cl.configs, cl.configsErr
	}
	cl.configsRead = true
	var list corev1.ConfigMapList
	if err := cl.client.List(ctx, &list, client.HasLabels{flaggerv1.ControllerConfigLabel}); err != nil {
		cl.configsErr = err
		return nil, err
	}
	for _, cm := range list.Items {
		cl.configs = append(cl.configs, ControllerConfig{ConfigMap: cm.Namespace + "/" + cm.Name,
			MeshProvider: cm.Data[flaggerv1.ConfigMeshProvider], Version: cm.Data[flaggerv1.ConfigVersion],
			WatchNamespace: cm.Data[flaggerv1.ConfigWatchNamespace]})
	}
	sort.Slice(cl.configs, func(i, j int) bool { return cl.configs[i].ConfigMap < cl.configs[j].ConfigMap })
	return cl.configs, nil
}

// controllerFor is the controller that runs the canaries of namespace ns:
// the one that watches only ns, else one that watches every namespace.
func (a *App) controllerFor(ctx context.Context, cl *cluster, ns string) (*ControllerConfig, error) {
	configs, err := a.controllerConfigs(ctx, cl)
	if err != nil {
		return nil, err
	}
	for _, want := range []string{ns, ""} {
		for i, c := range configs {
			if c.WatchNamespace == want && c.MeshProvider != "" {
				return &configs[i], nil
			}
		}
	}
	return nil, nil
}

// meshProvider is the provider of canaries without spec.provider in ns:
// --mesh-provider, else $WARBLER_MESH_PROVIDER, else what the controller
// publishes, else Flagger's default (istio).
func (a *App) meshProvider(ctx context.Context, cl *cluster, ns, flagValue string) string {
	if p := a.offlineProvider(flagValue); p != "" {
		return p
	}
	c, err := a.controllerFor(ctx, cl, ns)
	switch {
	case apierrors.IsForbidden(err):
		if !cl.configsWarned {
			cl.configsWarned = true
			fmt.Fprintf(a.Stderr, "kubectl-canary: not allowed to list ConfigMaps, where the controller publishes its default provider; assuming %s (set --mesh-provider or %s)\n", defaultProvider, MeshProviderEnv)
		}
	case err == nil && c != nil:
		return c.MeshProvider
	}
	return defaultProvider
}

// offlineProvider is --mesh-provider, else $WARBLER_MESH_PROVIDER: what
// lint and simulate, which read no cluster, go by.
func (a *App) offlineProvider(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return a.Getenv(MeshProviderEnv)
}
