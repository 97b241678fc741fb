package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
)

var scaledObjectGVK = schema.GroupVersionKind{Group: "keda.sh", Version: "v1alpha1", Kind: "ScaledObject"}

const rpsQuery = `sum(rate(http_requests_total{deployment="podinfo"}[1m])) + sum(rate(http_requests_total{deployment="podinfo-canary"}[1m]))`

// scaledObject is the ScaledObject podinfo of the Deployment podinfo: a
// named Prometheus trigger whose query names the target, and a CPU trigger.
func scaledObject(ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"scaleTargetRef":  map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
		"minReplicaCount": int64(2), "maxReplicaCount": int64(5), "pollingInterval": int64(15),
		"advanced": map[string]any{"horizontalPodAutoscalerConfig": map[string]any{"name": "podinfo-hpa"}},
		"triggers": []any{
			map[string]any{"type": "prometheus", "name": "rps", "metadata": map[string]any{
				"serverAddress": "http://prometheus.monitoring:9090", "query": rpsQuery, "threshold": "100"}},
			map[string]any{"type": "cpu", "metricType": "Utilization", "metadata": map[string]any{"value": "80"}},
		},
	}}}
	u.SetGroupVersionKind(scaledObjectGVK)
	u.SetNamespace(ns)
	u.SetName("podinfo")
	return u
}

func getScaledObject(t *testing.T, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(scaledObjectGVK)
	env.Get(t, ns, name, u)
	return u
}

// trigger returns a trigger of a ScaledObject by type.
func trigger(u *unstructured.Unstructured, typ string) map[string]any {
	triggers, _, _ := unstructured.NestedSlice(u.Object, "spec", "triggers")
	for _, tr := range triggers {
		if m := tr.(map[string]any); m["type"] == typ {
			return m
		}
	}
	return nil
}

func pausedReplicas(t *testing.T, ns string) (string, bool) {
	v, ok := getScaledObject(t, ns, "podinfo").GetAnnotations()["autoscaling.keda.sh/paused-replicas"]
	return v, ok
}

// autoscalerRef.kind ScaledObject: <so>-primary scales <target>-primary with
// the trigger queries rewritten as Flagger does and primaryScalerReplicas,
// follows changes of the target's ScaledObject, and the target's
// ScaledObject is paused at zero while the canary is scaled down.
func TestKEDAScaledObject(t *testing.T) {
	env.TrafficCRDs(t, testenv.KEDA)
	for _, tc := range []struct {
		name    string
		queries map[string]string
		want    string
	}{
		{name: "target name rewritten", want: `sum(rate(http_requests_total{deployment="podinfo-primary"}[1m])) + sum(rate(http_requests_total{deployment="podinfo-primary"}[1m]))`},
		{name: "primaryScalerQueries by trigger name", queries: map[string]string{"rps": `sum(rate(http_requests_total{app="podinfo-primary"}[1m]))`, "other": "unused"},
			want: `sum(rate(http_requests_total{app="podinfo-primary"}[1m]))`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := env.Namespace(t)
			startController(t, nil, ns)
			c := canary(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 1, Iterations: 1})
			c.Spec.AutoscalerRef = &flaggerv1.AutoscalerReference{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: "podinfo",
				PrimaryScalerQueries:  tc.queries,
				PrimaryScalerReplicas: &flaggerv1.ScalerReplicas{MinReplicas: ptr.To[int32](3), MaxReplicas: ptr.To[int32](6)}}
			create(t, deployment(ns, "podinfo", imageV1, 2), scaledObject(ns), c)
			c = waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second, nil)

			p := getScaledObject(t, ns, "podinfo-primary")
			spec := p.Object["spec"].(map[string]any)
			if name, _, _ := unstructured.NestedString(spec, "scaleTargetRef", "name"); name != "podinfo-primary" {
				t.Errorf("primary ScaledObject scales %q, want podinfo-primary", name)
			}
			if got := trigger(p, "prometheus")["metadata"].(map[string]any)["query"]; got != tc.want {
				t.Errorf("primary rps query\n  %v\nwant\n  %s", got, tc.want)
			}
			if got := fmt.Sprint(trigger(p, "cpu")["metadata"]); got != "map[value:80]" {
				t.Errorf("primary cpu trigger metadata %s, want it unchanged", got)
			}
			if spec["minReplicaCount"] != int64(3) || spec["maxReplicaCount"] != int64(6) || spec["pollingInterval"] != int64(15) {
				t.Errorf("primary replicas %v..%v polling %v, want primaryScalerReplicas 3..6 and the target's pollingInterval", spec["minReplicaCount"], spec["maxReplicaCount"], spec["pollingInterval"])
			}
			if hpa, _, _ := unstructured.NestedString(spec, "advanced", "horizontalPodAutoscalerConfig", "name"); hpa != "podinfo-hpa-primary" {
				t.Errorf("primary HPA name %q, want podinfo-hpa-primary", hpa)
			}
			if !metav1.IsControlledBy(p, c) {
				t.Errorf("primary ScaledObject has no controller reference to the Canary: %v", p.GetOwnerReferences())
			}
			if v, ok := pausedReplicas(t, ns); !ok || v != "0" {
				t.Errorf("target ScaledObject paused-replicas %q (set %v) after init, want \"0\"", v, ok)
			}

			// an edit of the target's ScaledObject reaches the primary's
			// while no release runs
			so := getScaledObject(t, ns, "podinfo")
			tr := trigger(so, "cpu")
			tr["metadata"] = map[string]any{"value": "60"}
			_ = unstructured.SetNestedSlice(so.Object, []any{trigger(so, "prometheus"), tr}, "spec", "triggers")
			if err := env.Client.Update(context.Background(), so); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, 30*time.Second, func() error {
				if got := fmt.Sprint(trigger(getScaledObject(t, ns, "podinfo-primary"), "cpu")["metadata"]); got != "map[value:60]" {
					return fmt.Errorf("primary cpu trigger %s, want the target's new value 60", got)
				}
				return nil
			})

			// a release resumes the target's ScaledObject while the canary
			// runs and pauses it again once it is scaled down
			setImage(t, ns, "podinfo", imageV2)
			testenv.Eventually(t, 60*time.Second, func() error {
				if v, ok := pausedReplicas(t, ns); ok {
					return fmt.Errorf("target ScaledObject still paused (%q) during the release (phase %s)", v, getCanary(t, ns, "podinfo").Status.Phase)
				}
				return nil
			})
			waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 90*time.Second, nil)
			if v, ok := pausedReplicas(t, ns); !ok || v != "0" {
				t.Errorf("target ScaledObject paused-replicas %q (set %v) after promotion, want \"0\"", v, ok)
			}
			if d := getDeployment(t, ns, "podinfo"); *d.Spec.Replicas != 0 {
				t.Errorf("target has %d replicas after promotion, want 0", *d.Spec.Replicas)
			}
		})
	}
}
