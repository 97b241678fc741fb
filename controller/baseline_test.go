package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/providers/routers"
)

// baselineCase is a provider whose router gives the baseline its share.
type baselineCase struct {
	provider string
	crds     []string
	prepare  func(c *flaggerv1.Canary)
	// split reads primary/canary/baseline from the provider's object.
	split func(t *testing.T, ns string) [3]int
}

var baselineCases = []baselineCase{
	{
		// seed 001: sampleapp, sampleapp-baseline and sampleapp-canary
		// behind one service, traffic by replica counts
		provider: "kubernetes:replicas",
		split: func(t *testing.T, ns string) [3]int {
			var s discoveryv1.EndpointSlice
			if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-warbler"}, &s); err != nil {
				return [3]int{}
			}
			w, _ := strconv.Atoi(s.Annotations[routers.WeightAnnotation])
			b, _ := strconv.Atoi(s.Annotations[routers.BaselineWeightAnnotation])
			return [3]int{100 - w - b, w, b}
		},
	},
	{
		provider: "gatewayapi:v1", crds: []string{testenv.GatewayAPI},
		prepare: func(c *flaggerv1.Canary) {
			c.Spec.Service.GatewayRefs = []flaggerv1.ParentReference{{Name: "public"}}
		},
		split: func(t *testing.T, ns string) [3]int {
			rc := routerCases[0]
			w, ok := rc.weights(t, ns)
			if !ok {
				return [3]int{}
			}
			return [3]int{w[0], w[1], gatewayBaselineWeight(t, ns)}
		},
	},
}

// A release with analysis.baseline, through the controller: the baseline
// (the primary's version at the canary's size, pods labelled
// app=podinfo-baseline, a service of its own) appears with the run and gets
// the canary's weight out of the primary's; it is scaled down and removed
// on promotion, on rollback and when the Canary is deleted.
func TestBaselineThroughARelease(t *testing.T) {
	for _, bc := range baselineCases {
		t.Run(bc.provider, func(t *testing.T) {
			env.TrafficCRDs(t, bc.crds...)
			ns := env.Namespace(t)
			startController(t, nil, ns)
			hooks := newHookServer(t)
			c := canary(ns, "podinfo", bc.provider, &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 20, MaxWeight: 40,
				Baseline: &flaggerv1.CanaryBaseline{Enabled: true},
				Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("load", flaggerv1.RolloutHook), hooks.hook("gate", flaggerv1.ConfirmPromotionHook)}})
			c.Spec.RevertOnDeletion = true
			if bc.prepare != nil {
				bc.prepare(c)
			}
			create(t, deployment(ns, "podinfo", imageV1, 4), c)
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
			baselineGone(t, ns)

			// promotion
			setImage(t, ns, "podinfo", imageV2)
			seen := watchBaseline(t, ns, bc, flaggerv1.CanaryPhaseSucceeded)
			for _, want := range [][3]int{{60, 20, 20}, {20, 40, 40}} {
				if !slices.Contains(seen, want) {
					t.Errorf("splits seen %v, want %v among them", seen, want)
				}
			}
			if s := bc.split(t, ns); s != [3]int{100, 0, 0} {
				t.Errorf("after promotion the split is %v, want 100/0/0", s)
			}
			baselineGone(t, ns)

			// rollback
			hooks.set("load", http.StatusInternalServerError)
			setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
			waitBaseline(t, ns, imageV2)
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)
			baselineGone(t, ns)

			// deletion while the release waits for promotion
			hooks.set("load", http.StatusOK)
			hooks.set("gate", http.StatusForbidden)
			setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.3")
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseWaitingPromotion, 60*time.Second, nil)
			waitBaseline(t, ns, imageV2)
			if s := bc.split(t, ns); s != [3]int{20, 40, 40} {
				t.Errorf("waiting for promotion the split is %v, want 20/40/40", s)
			}
			deleteCanary(t, ns, "podinfo")
			baselineGone(t, ns)
		})
	}
}

// watchBaseline polls the split until the canary reaches phase; while the
// baseline has a share it must equal the canary's, and the baseline must
// run the primary's version at the canary's size.
func watchBaseline(t *testing.T, ns string, bc baselineCase, phase flaggerv1.CanaryPhase) [][3]int {
	t.Helper()
	var seen [][3]int
	testenv.Eventually(t, 90*time.Second, func() error {
		s := bc.split(t, ns)
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		if s[2] > 0 {
			if s[2] != s[1] {
				t.Fatalf("the baseline's share %d differs from the canary's %d", s[2], s[1])
			}
			checkBaseline(t, ns, bc.provider, imageV1)
		}
		if p := getCanary(t, ns, "podinfo").Status.Phase; p != phase {
			return fmt.Errorf("phase %s, want %s (splits so far %v)", p, phase, seen)
		}
		return nil
	})
	return seen
}

// checkBaseline checks the baseline Deployment and its service.
func checkBaseline(t *testing.T, ns, provider, image string) {
	t.Helper()
	var b appsv1.Deployment
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, &b); err != nil {
		t.Fatalf("the baseline has a share of traffic but: %v", err)
	}
	if got := b.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("baseline image %s, want the primary's %s", got, image)
	}
	if b.Spec.Template.Labels["app"] != "podinfo-baseline" || b.Spec.Selector.MatchLabels["app"] != "podinfo-baseline" {
		t.Errorf("baseline pod labels %v, selector %v, want app=podinfo-baseline", b.Spec.Template.Labels, b.Spec.Selector.MatchLabels)
	}
	if provider == "kubernetes:replicas" {
		target := getDeployment(t, ns, "podinfo")
		if *b.Spec.Replicas != *target.Spec.Replicas {
			t.Errorf("baseline replicas %d, canary %d: want equal (seed 001's layout)", *b.Spec.Replicas, *target.Spec.Replicas)
		}
	}
	var svc corev1.Service
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, &svc); err != nil {
		t.Fatalf("service podinfo-baseline: %v", err)
	}
	if svc.Spec.Selector["app"] != "podinfo-baseline" {
		t.Errorf("service podinfo-baseline selects %v", svc.Spec.Selector)
	}
}

// waitBaseline waits for the baseline of a run to exist.
func waitBaseline(t *testing.T, ns, image string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		var b appsv1.Deployment
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, &b); err != nil {
			return err
		}
		if got := b.Spec.Template.Spec.Containers[0].Image; got != image {
			return fmt.Errorf("baseline image %s, want %s", got, image)
		}
		return nil
	})
}

// baselineGone waits until neither the baseline Deployment nor its service
// exist.
func baselineGone(t *testing.T, ns string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
			err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-baseline"}, obj)
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T podinfo-baseline still exists (%v)", obj, err)
			}
		}
		return nil
	})
}

// gatewayBaselineWeight reads the weight of the podinfo-baseline backend
// of the HTTPRoute's rules; 0 without one.
func gatewayBaselineWeight(t *testing.T, ns string) int {
	u, ok := unstructuredObj(t, schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "HTTPRoute"}, ns, "podinfo")
	if !ok {
		return 0
	}
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for _, r := range rules {
		refs, _, _ := unstructured.NestedSlice(r.(map[string]any), "backendRefs")
		for _, b := range refs {
			if m := b.(map[string]any); m["name"] == "podinfo-baseline" {
				return num(m["weight"])
			}
		}
	}
	return 0
}
