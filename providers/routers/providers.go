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

	GatewayAPIV1      = "gatewayapi:v1"
	GatewayAPIV1beta1 = "gatewayapi:v1beta1"
	SMIV1alpha1       = "smi:v1alpha1"
	SMIV1alpha2       = "smi:v1alpha2"
	SMIV1alpha3       = "smi:v1alpha3"
	// Linkerd is SMI v1alpha1, as in Flagger (Linkerd's CRD serves it).
	Linkerd = "linkerd"
	// OSM is SMI v1alpha2, as in Flagger.
	OSM   = "osm"
	Istio = "istio"
	NGINX = "nginx"
	// Ambassador and Emissary write getambassador.io/v3alpha1 Mappings; the
	// :v2 variants write getambassador.io/v2 (Ambassador 1.x).
	Ambassador         = "ambassador"
	AmbassadorV2       = "ambassador:v2"
	AmbassadorV3alpha1 = "ambassador:v3alpha1"
	Emissary           = "emissary"
	EmissaryV2         = "emissary:v2"
	EmissaryV3alpha1   = "emissary:v3alpha1"
)

// constructors maps each provider Warbler routes to its Router.
var constructors = map[string]func(Deps) Router{
	Kubernetes:         NewKubernetesBlueGreen,
	KubernetesReplicas: NewReplicaRatio,

	GatewayAPIV1:       NewGatewayAPIV1,
	GatewayAPIV1beta1:  NewGatewayAPIV1beta1,
	SMIV1alpha1:        NewSMIV1alpha1,
	SMIV1alpha2:        NewSMIV1alpha2,
	SMIV1alpha3:        NewSMIV1alpha3,
	Linkerd:            NewSMIV1alpha1,
	OSM:                NewSMIV1alpha2,
	Istio:              NewIstio,
	NGINX:              NewNGINX,
	Ambassador:         NewEmissaryV3alpha1,
	AmbassadorV2:       NewEmissaryV2,
	AmbassadorV3alpha1: NewEmissaryV3alpha1,
	Emissary:           NewEmissaryV3alpha1,
	EmissaryV2:         NewEmissaryV2,
	EmissaryV3alpha1:   NewEmissaryV3alpha1,
}

// flaggerOnly are Flagger providers Warbler accepts in manifests but does not
// route; choosing one is reported as such rather than as a typo.
var flaggerOnly = []string{"apisix", "appmesh", "appmesh:v1beta2", "contour", "gloo", "knative", "kuma", "skipper", "traefik"}

// Supported lists the providers Warbler routes, sorted.
func Supported() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// BaselineProviders lists the providers whose router splits traffic three
// ways (BaselineRouter), sorted.
func BaselineProviders() []string {
	var out []string
	for _, n := range Supported() {
		if _, ok := constructors[n](Deps{}).(BaselineRouter); ok {
			out = append(out, n)
		}
	}
	return out
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
