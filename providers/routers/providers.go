package routers

import (
	"fmt"
	"slices"
	"strings"
)

// Provider names accepted in spec.provider and -mesh-provider.
const (
	Kubernetes         = "kubernetes"
	KubernetesReplicas = "kubernetes:replicas"
)

// constructors maps each provider Warbler routes to its Router.
var constructors = map[string]func(Deps) Router{}

// flaggerOnly are Flagger providers Warbler accepts in manifests but does not
// route; choosing one is reported as such rather than as a typo.
var flaggerOnly = []string{"apisix", "appmesh", "appmesh:v1beta2", "contour", "gloo", "knative", "kuma", "osm", "skipper", "traefik"}

// Supported lists the providers Warbler routes, sorted.
func Supported() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New returns the Router of a provider. An unknown provider, or one given
// without its required version (such as "gatewayapi"), is an error that
// names the valid providers; Warbler never falls back to another router.
func New(provider string, d Deps) (Router, error) {
	if c, ok := constructors[provider]; ok {
		return c(d), nil
	}
	valid := strings.Join(Supported(), ", ")
	switch {
	case provider == "":
		return nil, fmt.Errorf("no traffic provider: set spec.provider or the -mesh-provider flag to one of %s", valid)
	case slices.Contains(flaggerOnly, provider):
		return nil, fmt.Errorf("provider %q is a Flagger provider that Warbler does not route; valid providers: %s", provider, valid)
	default:
		return nil, fmt.Errorf("unknown provider %q; valid providers: %s", provider, valid)
	}
}
