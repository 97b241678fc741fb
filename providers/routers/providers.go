package routers

import (
	"fmt"
	"slices"
	"strings"

	"github.com/warbler-dev/warbler/analysis"
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
	// Contour writes an HTTPProxy projectcontour.io/v1.
	Contour = "contour"
	// Gloo writes a Gloo Edge RouteTable gateway.solo.io/v1 and two
	// Upstreams gloo.solo.io/v1.
	Gloo = "gloo"
	// Traefik writes a TraefikService traefik.io/v1alpha1.
	Traefik = "traefik"
	// Skipper writes a canary Ingress with skipper's backend-weights.
	Skipper = "skipper"
	// Kuma writes a TrafficRoute kuma.io/v1alpha1, as Flagger does;
	// KumaMeshHTTPRoute writes Kuma's newer MeshHTTPRoute instead.
	Kuma              = "kuma"
	KumaMeshHTTPRoute = "kuma:meshhttproute"
	// APISIX writes a canary ApisixRoute apisix.apache.org/v2.
	APISIX = "apisix"
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
	Knative:            NewKnative,
	Contour:            NewContour,
	Gloo:               NewGloo,
	Traefik:            NewTraefik,
	Skipper:            NewSkipper,
	Kuma:               NewKumaTrafficRoute,
	KumaMeshHTTPRoute:  NewKumaMeshHTTPRoute,
	APISIX:             NewAPISIX,
}

// retired are Flagger providers whose mesh is gone, with what to use
// instead. AWS discontinued App Mesh on 30 September 2026 (and took no new
// customers from 24 September 2024), so Warbler leaves its router out.
var retired = map[string]string{
	"appmesh":         appMeshAlternative,
	"appmesh:v1beta2": appMeshAlternative,
}

const appMeshAlternative = "AWS discontinued App Mesh on 30 September 2026, so Warbler has no router for it; " +
	"use gatewayapi:v1 (the replacement AWS recommends for EKS, Amazon VPC Lattice, is driven by HTTPRoutes through the AWS Gateway API Controller) " +
	"or istio (a sidecar mesh like App Mesh, with weights, A/B testing and mirroring)"

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

// CheckBaseline refuses a baseline (analysis.baseline) on a provider that
// cannot split traffic three ways; kubectl canary lint and simulate check
// it as the controller does.
func CheckBaseline(provider string) error {
	c, ok := constructors[provider]
	if !ok {
		_, err := New(provider, Deps{})
		return &analysis.SpecError{Field: "spec.provider", Msg: err.Error()}
	}
	if _, ok := c(Deps{}).(BaselineRouter); !ok {
		return &analysis.SpecError{Field: "spec.analysis.baseline", Msg: fmt.Sprintf("provider %s cannot split traffic three ways (primary, canary and baseline); the baseline works with %s",
			provider, strings.Join(BaselineProviders(), ", "))}
	}
	return nil
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
	case retired[provider] != "":
		return nil, fmt.Errorf("provider %q: %s; valid providers: %s", provider, retired[provider], valid)
	default:
		return nil, fmt.Errorf("unknown provider %q; valid providers: %s", provider, valid)
	}
}
