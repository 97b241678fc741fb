package canarycli

import (
	"time"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/controller"
)

// defaultProvider is the controller's default -mesh-provider, assumed for
// canaries without spec.provider unless --mesh-provider says otherwise.
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
	spec, err := analysis.Validate(controller.AnalysisCanary(c, provider), analysis.Limits{MinInterval: minInterval})
	if err == nil && spec.Baseline {
		err = controller.CheckBaselineProvider(provider)
	}
	return spec, err
}
