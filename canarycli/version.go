package canarycli

import (
	"context"
	"flag"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/version"
)

// VersionResult is what `version -o json|yaml` prints: the plugin's own
// version and, unless --client, what each controller of the cluster
// publishes on its ConfigMap.
type VersionResult struct {
	version.Info
	Controllers []ControllerConfig `json:"controllers,omitempty"`
}

// versionLookup bounds the look for the controllers, so that a cluster
// that is down does not hold up the plugin's own version.
const versionLookup = 10 * time.Second

// versionCmd prints the plugin's version, then the controllers' as they
// publish it (kubectl version prints the client's and the server's). The
// plugin's version needs no cluster: when the controllers cannot be read,
// a note on stderr says why and the command still succeeds.
func (a *App) versionCmd() *command {
	client := false
	return &command{
		name: "version", args: "[--client] [-o json|yaml]", minArgs: 0, maxArgs: 0, output: true,
		summary: "print the plugin's version, commit and Go version, and the version of each Warbler controller of the cluster",
		flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&client, "client", false, "print the plugin's version only; read no cluster")
		},
		run: func(ctx context.Context, _ []string) error {
			res := VersionResult{Info: version.Get()}
			if !client {
				var err error
				if res.Controllers, err = a.controllerVersions(ctx); err != nil {
					fmt.Fprintf(a.Stderr, "kubectl-canary: no controller version: %v\n", err)
				}
			}
			if a.g.output != "" {
				return a.print(res)
			}
			if err := res.Info.Fprint(a.Stdout); err != nil {
				return err
			}
			for _, c := range res.Controllers {
				_, err := fmt.Fprintf(a.Stdout, "controller %s: %s (%s, mesh provider %s)\n", c.ConfigMap, orUnknown(c.Version), watching(c.WatchNamespace), orUnknown(c.MeshProvider))
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// controllerVersions reads what the cluster's controllers publish; an
// error says why none could be read, or that none publishes.
func (a *App) controllerVersions(ctx context.Context) ([]ControllerConfig, error) {
	cl, err := a.connect()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, versionLookup)
	defer cancel()
	configs, err := a.controllerConfigs(ctx, cl)
	switch {
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("not allowed to list ConfigMaps, where the controllers publish their version (labelled %s)", flaggerv1.ControllerConfigLabel)
	case err != nil:
		return nil, explainAPIError(err, cl.config.Host)
	case len(configs) == 0:
		return nil, fmt.Errorf("no Warbler controller publishes its version in the cluster at %s (a ConfigMap labelled %s, which the chart creates)", cl.config.Host, flaggerv1.ControllerConfigLabel)
	}
	return configs, nil
}

// watching words a controller's -namespace.
func watching(ns string) string {
	if ns == "" {
		return "watching all namespaces"
	}
	return "watching namespace " + ns
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
