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
		Ambassador, AmbassadorV2, AmbassadorV3alpha1, Emissary, EmissaryV2, EmissaryV3alpha1} {
		if r, err := New(provider, Deps{}); err != nil || r == nil {
			t.Errorf("New(%q) = %v, %v", provider, r, err)
		}
	}
}
