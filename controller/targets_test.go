package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// waitGone waits until the Canary is deleted.
func waitGone(t *testing.T, ns, name string) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		var c flaggerv1.Canary
		err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &c)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("canary still there (finalizers %v, phase %s, message %q)", c.Finalizers, c.Status.Phase, c.Status.Message)
	})
}

func getService(t *testing.T, ns, name string) *corev1.Service {
	t.Helper()
	var s corev1.Service
	env.Get(t, ns, name, &s)
	return &s
}

// selectorOf is the app selector of a Service.
func selectorOf(t *testing.T, ns, name string) string {
	t.Helper()
	return getService(t, ns, name).Spec.Selector["app"]
}

// setSelector changes the target Service's selector: a new revision.
func setSelector(t *testing.T, ns, app string) {
	t.Helper()
	s := getService(t, ns, "podinfo")
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.Selector = map[string]string{"app": app}
	if err := env.Client.Patch(context.Background(), s, patch); err != nil {
		t.Fatal(err)
	}
}

// A Service target (Flagger's targetRef.kind Service) through a whole
// release on the kubernetes provider: <target>-canary follows the Service
// as it changes, <target>-primary keeps the promoted copy, a rollback leaves
// the primary alone, and the deletion leaves the user's Service as it is.
func TestServiceTargetRelease(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	hooks := newHookServer(t)
	target := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "podinfo-v1"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 9898, TargetPort: intstr.FromInt32(9898)}}}}
	c := canary(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 2,
		Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("load", flaggerv1.RolloutHook)}})
	c.Spec.TargetRef = flaggerv1.LocalObjectReference{APIVersion: "v1", Kind: "Service", Name: "podinfo"}
	c.Spec.RevertOnDeletion = true
	create(t, target, c)

	c = waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	for _, name := range []string{"podinfo-primary", "podinfo-canary"} {
		s := getService(t, ns, name)
		if s.Spec.Selector["app"] != "podinfo-v1" || s.Spec.Ports[0].Port != 9898 || s.Labels["team"] != "a" || !metav1.IsControlledBy(s, c) {
			t.Errorf("service %s: selector %v ports %v labels %v owners %v; want a copy of the target owned by the Canary",
				name, s.Spec.Selector, s.Spec.Ports, s.Labels, s.OwnerReferences)
		}
	}
	var primary metav1.PartialObjectMetadata
	primary.SetGroupVersionKind(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "podinfo-primary"}, &primary); !apierrors.IsNotFound(err) {
		t.Errorf("a Service target got a primary Deployment: %v", err)
	}

	setSelector(t, ns, "podinfo-v2")
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseProgressing, 30*time.Second, nil)
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := selectorOf(t, ns, "podinfo-canary"); got != "podinfo-v2" {
			return fmt.Errorf("canary service selects %s, want the target's new podinfo-v2", got)
		}
		return nil
	})
	if got := selectorOf(t, ns, "podinfo-primary"); got != "podinfo-v1" {
		t.Errorf("primary service selects %s during the analysis, want podinfo-v1 until promotion", got)
	}
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 90*time.Second, nil)
	if got := selectorOf(t, ns, "podinfo-primary"); got != "podinfo-v2" {
		t.Errorf("primary service selects %s after promotion, want podinfo-v2", got)
	}

	hooks.set("load", http.StatusInternalServerError)
	setSelector(t, ns, "podinfo-v3")
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)
	if got := selectorOf(t, ns, "podinfo-primary"); got != "podinfo-v2" {
		t.Errorf("primary service selects %s after the rollback, want podinfo-v2 still", got)
	}
	// kubectl canary get shows both sides' Services and where they send
	checkTargetTree(t, ns, []string{
		"Service podinfo-primary Found: stable selector app=podinfo-v2",
		"Service podinfo Found: canary selector app=podinfo-v3",
	}, nil, nil)

	if err := env.Client.Delete(context.Background(), getCanary(t, ns, "podinfo")); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "podinfo")
	if s := getService(t, ns, "podinfo"); s.Spec.Selector["app"] != "podinfo-v3" || len(s.OwnerReferences) != 0 {
		t.Errorf("target Service after the deletion: selector %v owners %v, want the user's, untouched", s.Spec.Selector, s.OwnerReferences)
	}
}

// A Service target needs no spec.service.name other than its own: the
// routes would miss the copies.
func TestServiceTargetRefusesAnotherServiceName(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, nil, ns)
	c := canary(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 1})
	c.Spec.TargetRef = flaggerv1.LocalObjectReference{APIVersion: "v1", Kind: "Service", Name: "podinfo"}
	c.Spec.Service.Name = "frontend"
	create(t, c)
	waitEvent(t, ns, "podinfo", "spec.service.name")
	if msg := getCanary(t, ns, "podinfo").Status.Message; !strings.Contains(msg, "podinfo-primary and podinfo-canary") {
		t.Errorf("status message %q, want the refusal naming the copies", msg)
	}
}

var (
	knativeServiceGVK  = schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: "Service"}
	knativeRevisionGVK = schema.GroupVersionKind{Group: "serving.knative.dev", Version: "v1", Kind: "Revision"}
)

// knative plays Knative Serving, which does not run here: it writes the
// revisions and the Service status that Knative would.
type knative struct {
	t  *testing.T
	ns string
}

// revision creates the revision podinfo-0000n, ready or not, and makes it
// the Service's latest created revision.
func (k knative) revision(n int, ready bool) string {
	t := k.t
	t.Helper()
	name := fmt.Sprintf("podinfo-%05d", n)
	rev := &unstructured.Unstructured{}
	rev.SetGroupVersionKind(knativeRevisionGVK)
	rev.SetNamespace(k.ns)
	rev.SetName(name)
	rev.Object["spec"] = map[string]any{"containers": []any{map[string]any{"image": fmt.Sprintf("ghcr.io/stefanprodan/podinfo:6.0.%d", n)}}}
	create(t, rev)
	status := "Unknown"
	if ready {
		status = "True"
	}
	rev.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": status, "reason": "Deploying"}}}
	if err := env.Client.Status().Update(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	svc := k.service()
	svc.Object["status"] = map[string]any{"latestCreatedRevisionName": name}
	if err := env.Client.Status().Update(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	return name
}

func (k knative) service() *unstructured.Unstructured {
	k.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(knativeServiceGVK)
	env.Get(k.t, k.ns, "podinfo", u)
	return u
}

// traffic is the Service's spec.traffic as [primary%, latest%] and the
// revision named primary.
func (k knative) traffic() ([2]int, string) {
	u := k.service()
	primary := u.GetAnnotations()["flagger.app/primary-revision"]
	entries, _, _ := unstructured.NestedSlice(u.Object, "spec", "traffic")
	var out [2]int
	for _, e := range entries {
		m := e.(map[string]any)
		switch {
		case m["latestRevision"] == true:
			out[1] = num(m["percent"])
		case m["revisionName"] == primary:
			out[0] = num(m["percent"])
		}
	}
	return out, primary
}

// A Knative Service target through a whole release (Flagger's knative
// provider): traffic between the latest revision and the promoted one,
// recorded on the Knative Service, with no -primary Deployment or Services;
// every step, promotion, rollback and the deletion.
func TestKnativeRelease(t *testing.T) {
	env.TrafficCRDs(t, testenv.Knative)
	ns := env.Namespace(t)
	startController(t, nil, ns)
	k := knative{t: t, ns: ns}
	hooks := newHookServer(t)
	svc := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
		"containers": []any{map[string]any{"image": "ghcr.io/stefanprodan/podinfo:6.0.1"}}}}}}}
	svc.SetGroupVersionKind(knativeServiceGVK)
	svc.SetNamespace(ns)
	svc.SetName("podinfo")
	create(t, svc)
	k.revision(1, true)
	c := canary(ns, "podinfo", "knative", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, StepWeight: 25, MaxWeight: 50,
		Webhooks: []flaggerv1.CanaryWebhook{hooks.hook("load", flaggerv1.RolloutHook)}})
	c.Spec.TargetRef = flaggerv1.LocalObjectReference{APIVersion: "serving.knative.dev/v1", Kind: "Service", Name: "podinfo"}
	c.Spec.RevertOnDeletion = true
	create(t, c)

	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)
	if split, primary := k.traffic(); split != [2]int{100, 0} || primary != "podinfo-00001" {
		t.Fatalf("after init the Knative Service routes %v with primary revision %q, want 100/0 on podinfo-00001", split, primary)
	}
	for _, name := range []string{"podinfo-primary", "podinfo-canary"} {
		var s corev1.Service
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); !apierrors.IsNotFound(err) {
			t.Errorf("a Knative target got a Service %s: %v", name, err)
		}
	}

	// a new revision that is not ready yet holds the analysis
	k.revision(2, false)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseProgressing, 30*time.Second, nil)
	testenv.Eventually(t, 30*time.Second, func() error {
		if msg := getCanary(t, ns, "podinfo").Status.Message; !strings.Contains(msg, "Knative Revision podinfo-00002."+ns+" is not ready") {
			return fmt.Errorf("status message %q, want the revision named as not ready", msg)
		}
		return nil
	})
	rev := &unstructured.Unstructured{}
	rev.SetGroupVersionKind(knativeRevisionGVK)
	env.Get(t, ns, "podinfo-00002", rev)
	rev.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}}
	if err := env.Client.Status().Update(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
	var seen [][2]int
	testenv.Eventually(t, 90*time.Second, func() error {
		if s, _ := k.traffic(); len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		if p := getCanary(t, ns, "podinfo").Status.Phase; p != flaggerv1.CanaryPhaseSucceeded {
			return fmt.Errorf("phase %s (splits so far %v)", p, seen)
		}
		return nil
	})
	for _, want := range [][2]int{{75, 25}, {50, 50}} {
		if !slices.Contains(seen, want) {
			t.Errorf("splits seen %v, want %v among them", seen, want)
		}
	}
	if split, primary := k.traffic(); split != [2]int{100, 0} || primary != "podinfo-00002" {
		t.Errorf("after promotion the Knative Service routes %v with primary revision %q, want 100/0 on podinfo-00002", split, primary)
	}

	hooks.set("load", http.StatusInternalServerError)
	k.revision(3, true)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second, nil)
	if split, primary := k.traffic(); split != [2]int{100, 0} || primary != "podinfo-00002" {
		t.Errorf("after the rollback the Knative Service routes %v with primary revision %q, want 100/0 on podinfo-00002", split, primary)
	}
	// kubectl canary get shows the primary and the latest revision
	checkTargetTree(t, ns, []string{
		"Revision podinfo-00002 Ready: stable ghcr.io/stefanprodan/podinfo:6.0.2",
		"Revision podinfo-00003 Ready: canary ghcr.io/stefanprodan/podinfo:6.0.3",
	}, []string{"ghcr.io/stefanprodan/podinfo:6.0.2"}, []string{"ghcr.io/stefanprodan/podinfo:6.0.3"})
	// both releases are in the history, with the Knative Service's image
	if h := getCanary(t, ns, "podinfo").Status.History; len(h) != 2 || h[0].Outcome != flaggerv1.ReleaseSucceeded ||
		h[1].Outcome != flaggerv1.ReleaseFailed || !slices.Equal(h[1].Images, []string{"ghcr.io/stefanprodan/podinfo:6.0.1"}) {
		t.Errorf("release history %+v, want a promotion then a rollback of ghcr.io/stefanprodan/podinfo:6.0.1", h)
	}

	if err := env.Client.Delete(context.Background(), getCanary(t, ns, "podinfo")); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, "podinfo")
	u := k.service()
	if traffic, ok, _ := unstructured.NestedSlice(u.Object, "spec", "traffic"); ok {
		t.Errorf("traffic after the deletion %v, want none, as before Warbler", traffic)
	}
	if _, ok := u.GetAnnotations()["flagger.app/primary-revision"]; ok {
		t.Errorf("primary-revision annotation left after the deletion: %v", u.GetAnnotations())
	}
}

// checkTargetTree runs kubectl canary get -o json on the canary podinfo and
// compares the target's nodes, first under it ("<kind> <name> <status>: <info>")
// and the images it read for the two sides.
func checkTargetTree(t *testing.T, ns string, nodes, stable, canaryImages []string) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &canarycli.App{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return map[string]string{"KUBECONFIG": env.Kubeconfig}[k] }}
	if code := app.Run(context.Background(), []string{"get", "podinfo", "-n", ns, "-o", "json"}); code != 0 {
		t.Fatalf("kubectl canary get: exit %d: %s", code, &errOut)
	}
	var s canarycli.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatal(err)
	}
	// the target's nodes come first, before the route and the checks
	var got []string
	for _, n := range s.Tree.Children[:min(len(nodes), len(s.Tree.Children))] {
		got = append(got, fmt.Sprintf("%s %s %s: %s", n.Kind, n.Name, n.Status, n.Info))
	}
	if !slices.Equal(got, nodes) || !slices.Equal(s.StableImages, stable) || !slices.Equal(s.CanaryImages, canaryImages) {
		t.Errorf("kubectl canary get: target nodes %q, images %v / %v; want %q, %v / %v", got, s.StableImages, s.CanaryImages, nodes, stable, canaryImages)
	}
}
