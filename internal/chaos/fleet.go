package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/stack"
)

// The images of a release: every canary starts on ImageV1 and is released
// to ImageV2.
const (
	ImageV1 = "example.com/app:1"
	ImageV2 = "example.com/app:2"
)

// Fleet is a set of Deployments with their Canaries in one namespace.
type Fleet struct {
	Client    client.Client
	Namespace string
	// Analysis is the analysis of every canary; Setup may change it per
	// canary (webhooks, metrics, labels).
	Analysis flaggerv1.CanaryAnalysis
	Setup    func(c *flaggerv1.Canary)
}

// Create creates a Deployment and its Canary for each name.
func (f *Fleet) Create(ctx context.Context, names ...string) error {
	for _, name := range names {
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.Namespace, Name: name, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: ImageV1}}}},
			},
		}
		a := f.Analysis
		c := &flaggerv1.Canary{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.Namespace, Name: name},
			Spec: flaggerv1.CanarySpec{
				Provider:  "kubernetes",
				TargetRef: flaggerv1.LocalObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
				Service:   flaggerv1.CanaryService{Port: 8080},
				Analysis:  a.DeepCopy(),
			},
		}
		if f.Setup != nil {
			f.Setup(c)
		}
		for _, o := range []client.Object{d, c} {
			if err := f.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating %T %s: %w", o, name, err)
			}
		}
	}
	return nil
}

// Release changes the targets' image to ImageV2.
func (f *Fleet) Release(ctx context.Context, names ...string) error {
	patch := client.RawPatch("application/strategic-merge-patch+json",
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"`+ImageV2+`"}]}}}}`))
	for _, name := range names {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: f.Namespace, Name: name}}
		if err := retry(ctx, func() error { return f.Client.Patch(ctx, d, patch) }); err != nil {
			return fmt.Errorf("releasing %s: %w", name, err)
		}
	}
	return nil
}

// retry retries a request for a while: faults make the API server refuse
// requests for seconds.
func retry(ctx context.Context, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return stack.Poll(ctx, time.Second, f)
}

// WaitPhase waits until every named canary is in one of the phases.
func (f *Fleet) WaitPhase(ctx context.Context, timeout time.Duration, names []string, phases ...flaggerv1.CanaryPhase) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return stack.Poll(ctx, 500*time.Millisecond, func() error {
		var list flaggerv1.CanaryList
		if err := f.Client.List(ctx, &list, client.InNamespace(f.Namespace)); err != nil {
			return err
		}
		have := map[string]flaggerv1.CanaryPhase{}
		for _, c := range list.Items {
			have[c.Name] = c.Status.Phase
		}
		var behind []string
		for _, n := range names {
			if !contains(phases, have[n]) {
				behind = append(behind, fmt.Sprintf("%s %s", n, have[n]))
			}
		}
		if len(behind) > 0 {
			sort.Strings(behind)
			return fmt.Errorf("%w: waiting for %v: %s", errTimeout, phases, strings.Join(behind, ", "))
		}
		return nil
	})
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Outcome is how a release ended, as a user sees it.
type Outcome struct {
	Phase flaggerv1.CanaryPhase
	// PrimaryImage is what the primary runs; Promotions how many times its
	// template changed since it was created (the Deployment's generation
	// counts spec changes).
	PrimaryImage string
	Promotions   int64
	// TargetReplicas: the canary is scaled to zero after either outcome.
	TargetReplicas int32
	// Status fields that must be back to rest.
	Weight, Iterations int
	Promoted           string // the reason of the Promoted condition
}

// Outcomes reads how each release ended.
func (f *Fleet) Outcomes(ctx context.Context, names ...string) (map[string]Outcome, error) {
	out := map[string]Outcome{}
	for _, name := range names {
		var c flaggerv1.Canary
		var primary, target appsv1.Deployment
		for key, obj := range map[string]client.Object{name: &c, name + flaggerv1.PrimarySuffix: &primary} {
			if err := retry(ctx, func() error {
				return f.Client.Get(ctx, client.ObjectKey{Namespace: f.Namespace, Name: key}, obj)
			}); err != nil {
				return nil, err
			}
		}
		if err := retry(ctx, func() error {
			return f.Client.Get(ctx, client.ObjectKey{Namespace: f.Namespace, Name: name}, &target)
		}); err != nil {
			return nil, err
		}
		o := Outcome{Phase: c.Status.Phase, Promotions: primary.Generation - 1, TargetReplicas: ptr.Deref(target.Spec.Replicas, 1),
			Weight: c.Status.CanaryWeight, Iterations: c.Status.Iterations}
		if cs := primary.Spec.Template.Spec.Containers; len(cs) > 0 {
			o.PrimaryImage = cs[0].Image
		}
		if cond := c.Status.Condition("Promoted"); cond != nil {
			o.Promoted = cond.Reason
		}
		out[name] = o
	}
	return out, nil
}

// Check compares an outcome with the one expected: promoted once to
// ImageV2, or rolled back with the primary untouched. It returns what is
// wrong, or "".
func (o Outcome) Check(wantSucceeded bool) string {
	var wrong []string
	want := Outcome{Phase: flaggerv1.CanaryPhaseSucceeded, PrimaryImage: ImageV2, Promotions: 1, Promoted: "Succeeded"}
	if !wantSucceeded {
		want = Outcome{Phase: flaggerv1.CanaryPhaseFailed, PrimaryImage: ImageV1, Promotions: 0, Promoted: "Failed"}
	}
	if o.Phase != want.Phase {
		wrong = append(wrong, fmt.Sprintf("phase %s, want %s", o.Phase, want.Phase))
	}
	if o.PrimaryImage != want.PrimaryImage {
		wrong = append(wrong, fmt.Sprintf("primary runs %s, want %s", o.PrimaryImage, want.PrimaryImage))
	}
	if o.Promotions != want.Promotions {
		wrong = append(wrong, fmt.Sprintf("primary changed %d times, want %d", o.Promotions, want.Promotions))
	}
	if o.TargetReplicas != 0 || o.Weight != 0 || o.Iterations != 0 || o.Promoted != want.Promoted {
		wrong = append(wrong, fmt.Sprintf("status not at rest: target replicas %d, weight %d, iterations %d, Promoted condition %q (want %q)",
			o.TargetReplicas, o.Weight, o.Iterations, o.Promoted, want.Promoted))
	}
	return strings.Join(wrong, "; ")
}

// Names returns prefix-0 … prefix-(n-1).
func Names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// Tally counts what the fault did to a set of releases.
type Tally struct {
	// Releases that ended, those that ended as expected, those promoted
	// more than once.
	Releases, AsExpected, PromotedTwice int
	// Wrong describes the first few releases that did not end as expected.
	Wrong []string
}

// Add checks the outcomes against the expected ones (name → succeeds).
func (t *Tally) Add(outcomes map[string]Outcome, succeeds func(name string) bool) {
	names := make([]string, 0, len(outcomes))
	for n := range outcomes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		o := outcomes[n]
		t.Releases++
		if o.Promotions > 1 {
			t.PromotedTwice++
		}
		if w := o.Check(succeeds(n)); w != "" {
			if len(t.Wrong) < 5 {
				t.Wrong = append(t.Wrong, n+": "+w)
			}
			continue
		}
		t.AsExpected++
	}
}
