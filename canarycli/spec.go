package canarycli

import (
	"time"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// defaultProvider is Flagger's default -mesh-provider, assumed for canaries
// without spec.provider when neither --mesh-provider,
// $WARBLER_MESH_PROVIDER nor the controller's ConfigMap say otherwise.
const defaultProvider = "istio"

// providerOf is spec.provider or the assumed controller default.
func providerOf(c *flaggerv1.Canary, meshProvider string) string {
	if c.Spec.Provider != "" {
		return c.Spec.Provider
	}
	if meshProvider != "" {
		return meshProvider
	}
	return defaultProvider
}

// analysisSpec validates a Canary the way the controller does, with the
// controller's shortest interval, and checks that its provider can route a
// baseline when it has one.
func analysisSpec(c *flaggerv1.Canary, provider string, minInterval time.Duration) (analysis.Spec, error) {
	spec, err := analysis.Validate(c.AnalysisCanary(provider), analysis.Limits{MinInterval: minInterval})
	if err == nil && spec.Baseline {
		err = routers.CheckBaseline(provider)
	}
	return spec, err
}
