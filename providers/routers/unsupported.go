package routers

import (
	"fmt"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// features says which of the traffic features a Canary may ask for a
// router honours. A router refuses a Canary that asks for one it does not,
// rather than rolling out without it as Flagger does.
type features struct {
	abTesting, sessionAffinity, mirror bool
}

// refuse names the first field of the Canary asking for a feature the
// provider's router does not have, and the providers that have it.
func refuse(c *flaggerv1.Canary, provider string, has features) error {
	a := c.Spec.Analysis
	if a == nil {
		return nil
	}
	switch {
	case len(a.Match) > 0 && !has.abTesting:
		return fmt.Errorf("canary %s: analysis.match (A/B testing) is not supported by provider %s; use gatewayapi:v1, istio, nginx, contour, gloo or kuma:meshhttproute", c.Key(), provider)
	case a.SessionAffinity != nil && !has.sessionAffinity:
		return fmt.Errorf("canary %s: analysis.sessionAffinity (sticky canary sessions) is not supported by provider %s; use gatewayapi:v1 or istio", c.Key(), provider)
	case a.Mirror && !has.mirror:
		return fmt.Errorf("canary %s: analysis.mirror (traffic mirroring) is not supported by provider %s; use gatewayapi:v1 or istio", c.Key(), provider)
	}
	return nil
}
