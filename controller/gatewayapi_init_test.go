package controller_test

import (
	"strings"
	"testing"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/controllertest"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// With no Gateway controller writing HTTPRoute status, a gatewayapi canary
// initialises and runs its release at once, as in Flagger, however long
// -route-acceptance-timeout is: only a stale status is waited for.
func TestGatewayAPIWithoutGatewayStatus(t *testing.T) {
	env.TrafficCRDs(t, testenv.GatewayAPI)
	ns := env.Namespace(t)
	controllertest.Start(t, env, controllertest.Config{Namespaces: []string{ns}, RouteAcceptanceTimeout: time.Hour})
	c := canary(ns, "podinfo", "gatewayapi:v1", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 50})
	c.Spec.Service.GatewayRefs = []flaggerv1.ParentReference{{Name: "public"}}
	create(t, deployment(ns, "podinfo", imageV1, 1), c)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	setImage(t, ns, "podinfo", imageV2)
	var weights []int
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 90*time.Second, &weights)
	// it ends as any release does, with nothing said about route acceptance
	if st := getCanary(t, ns, "podinfo").Status; st.Reason != flaggerv1.ReasonPromoted || strings.Contains(st.Message, "HTTPRoute") {
		t.Errorf("status after the release: reason %q, message %q; want %s and no word of the HTTPRoute", st.Reason, st.Message, flaggerv1.ReasonPromoted)
	}
}
