package routers

import (
	"strings"
	"testing"
)

// An unversioned or unknown provider is an error that lists the valid
// ones; Warbler never falls back to Istio as Flagger does.
func TestNewNamesValidProviders(t *testing.T) {
	for _, provider := range []string{"gatewayapi", "smi", "foo", ""} {
		t.Run(provider, func(t *testing.T) {
			r, err := New(provider, Deps{})
			if err == nil || r != nil {
				t.Fatalf("New(%q) = %v, %v; want an error", provider, r, err)
			}
			for _, valid := range []string{GatewayAPIV1, GatewayAPIV1beta1, Linkerd, SMIV1alpha1, SMIV1alpha2, SMIV1alpha3, Istio, NGINX, Ambassador, Emissary} {
				if !strings.Contains(err.Error(), valid) {
					t.Errorf("New(%q) error %q does not name %s", provider, err, valid)
				}
			}
		})
	}
}

// Every Flagger router name Warbler supports gets a router.
func TestNewKnowsFlaggerProviders(t *testing.T) {
	for _, provider := range []string{GatewayAPIV1, GatewayAPIV1beta1, Linkerd, SMIV1alpha1, SMIV1alpha2, SMIV1alpha3, OSM, Istio, NGINX,
		Ambassador, AmbassadorV2, AmbassadorV3alpha1, Emissary, EmissaryV2, EmissaryV3alpha1,
		Contour, Gloo, Traefik, Skipper, Kuma, KumaMeshHTTPRoute, APISIX} {
		if r, err := New(provider, Deps{}); err != nil || r == nil {
			t.Errorf("New(%q) = %v, %v", provider, r, err)
		}
	}
}

// App Mesh is refused as retired, with the alternatives and the valid
// providers named.
func TestNewRefusesAppMesh(t *testing.T) {
	for _, provider := range []string{"appmesh", "appmesh:v1beta2"} {
		r, err := New(provider, Deps{})
		if err == nil || r != nil {
			t.Fatalf("New(%q) = %v, %v; want an error", provider, r, err)
		}
		for _, want := range []string{`provider "` + provider + `"`, "AWS discontinued App Mesh", "gatewayapi:v1", "istio", "valid providers: ", Contour, Kuma} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("New(%q) error %q does not say %q", provider, err, want)
			}
		}
	}
}
