package routers

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

const defaultAcceptanceTimeout = 30 * time.Second

// accepted tells whether the parent Gateways have taken the current route,
// as Flagger decides it: a parent that has written no status for the route
// is no reason to wait (Flagger initialises on the first tick; some
// implementations never write route status). A parent whose Accepted
// condition is False for the current generation rejects the route: not
// ready until it changes its mind. A parent whose status is for an older
// generation has not caught up with Warbler's last change: not ready for
// AcceptanceTimeout after that change, then the router logs a warning and
// goes on (Flagger waits forever there, linkerd/linkerd2#14964). An
// Accepted condition without observedGeneration counts as current.
func (g *GatewayAPIRouter) accepted(c *flaggerv1.Canary, route *gatewayv1.HTTPRoute) error {
	var stale []string
	for _, ref := range route.Spec.ParentRefs {
		cond := acceptedCondition(route, ref)
		switch {
		case cond == nil:
		case cond.ObservedGeneration != 0 && cond.ObservedGeneration < route.Generation:
			stale = append(stale, fmt.Sprintf("parent %s has observed generation %d of %d", parentName(route, ref), cond.ObservedGeneration, route.Generation))
		case cond.Status != metav1.ConditionTrue:
			return fmt.Errorf("HTTPRoute %s.%s parent %s is not ready (status: %s, reason: %s, message: %q, observed generation: %d, current generation: %d): %w",
				route.Name, route.Namespace, parentName(route, ref), cond.Status, cond.Reason, cond.Message, cond.ObservedGeneration, route.Generation, ErrRouteNotReady)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	waited := g.now().Sub(lastSpecChange(route))
	if waited < g.acceptanceTimeout() {
		return fmt.Errorf("HTTPRoute %s.%s is not accepted yet: %s: %w", route.Name, route.Namespace, strings.Join(stale, "; "), ErrRouteNotReady)
	}
	g.log().Warn(fmt.Sprintf("HTTPRoute %s.%s: %s after %s; going on without its acceptance",
		route.Name, route.Namespace, strings.Join(stale, "; "), waited.Truncate(time.Second)), "canary", c.Key())
	return nil
}

func (g *GatewayAPIRouter) acceptanceTimeout() time.Duration {
	if g.AcceptanceTimeout > 0 {
		return g.AcceptanceTimeout
	}
	return defaultAcceptanceTimeout
}

// acceptedCondition is the Accepted condition of the status entry of the
// parent ref, or nil.
func acceptedCondition(route *gatewayv1.HTTPRoute, ref gatewayv1.ParentReference) *metav1.Condition {
	for _, p := range route.Status.Parents {
		if sameParent(route.Namespace, p.ParentRef, ref) {
			return meta.FindStatusCondition(p.Conditions, string(gatewayv1.RouteConditionAccepted))
		}
	}
	return nil
}

// sameParent compares parent refs with the API's defaults filled in.
func sameParent(namespace string, a, b gatewayv1.ParentReference) bool {
	norm := func(p gatewayv1.ParentReference) [6]string {
		port := ""
		if p.Port != nil {
			port = fmt.Sprint(*p.Port)
		}
		return [6]string{
			string(ptr.Deref(p.Group, gatewayv1.GroupName)), string(ptr.Deref(p.Kind, "Gateway")),
			string(ptr.Deref(p.Namespace, gatewayv1.Namespace(namespace))), string(p.Name),
			string(ptr.Deref(p.SectionName, "")), port,
		}
	}
	return norm(a) == norm(b)
}

func parentName(route *gatewayv1.HTTPRoute, ref gatewayv1.ParentReference) string {
	name := string(ptr.Deref(ref.Namespace, gatewayv1.Namespace(route.Namespace))) + "/" + string(ref.Name)
	if ref.SectionName != nil {
		name += "#" + string(*ref.SectionName)
	}
	return name
}
