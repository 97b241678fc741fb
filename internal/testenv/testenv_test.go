package testenv_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

// The stack must turn Deployments into Ready pods without a kubelet: the
// whole lifecycle depends on readyReplicas.
func TestDeploymentGetsReadyPodsAndScales(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "podinfo"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "podinfo", Image: "ghcr.io/stefanprodan/podinfo:6.9.2"}}},
			},
		},
	}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	waitReady := func(want int32) {
		t.Helper()
		testenv.Eventually(t, 60*time.Second, func() error {
			var got appsv1.Deployment
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(d), &got); err != nil {
				return err
			}
			if got.Status.ReadyReplicas != want || got.Status.Replicas != want {
				return fmt.Errorf("readyReplicas=%d replicas=%d, want %d", got.Status.ReadyReplicas, got.Status.Replicas, want)
			}
			return nil
		})
	}
	scale := func(n int32) {
		t.Helper()
		patch := client.RawPatch("application/merge-patch+json", fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n))
		if err := env.Client.Patch(ctx, d, patch); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(2)
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			t.Errorf("pod %s: phase %s, IP %q; want Running with an IP", p.Name, p.Status.Phase, p.Status.PodIP)
		}
	}
	scale(0)
	waitReady(0)
	scale(2)
	waitReady(2)
}

// helm test hooks are bare pods with restartPolicy Never: kwok must finish
// them, Succeeded by default and Failed when annotated with an exit code.
func TestBarePodsRunToCompletion(t *testing.T) {
	ns := env.Namespace(t)
	ctx := context.Background()
	for name, want := range map[string]corev1.PodPhase{"passes": corev1.PodSucceeded, "fails": corev1.PodFailed} {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "test", Image: "busybox"}},
			},
		}
		if want == corev1.PodFailed {
			p.Annotations = map[string]string{"warbler.dev/exit-code": "3"}
		}
		if err := env.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, func() error {
			var got corev1.Pod
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(p), &got); err != nil {
				return err
			}
			if got.Status.Phase != want {
				return fmt.Errorf("pod %s phase %s, want %s", name, got.Status.Phase, want)
			}
			if want == corev1.PodFailed {
				if cs := got.Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 3 {
					return fmt.Errorf("pod %s container statuses %+v, want exit code 3", name, cs)
				}
			}
			return nil
		})
	}
}
