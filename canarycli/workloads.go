package canarycli

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/alerts"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// workload is a Deployment or DaemonSet, reduced to what the tree shows.
type workload struct {
	obj      client.Object
	kind     string
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
	replicas Replicas
	health   Health
	status   string
}

// workloads reads the primary and the target with their ReplicaSets and
// pods, and fills the images and replicas of the summary.
func (a *App) workloads(ctx context.Context, cl *cluster, c *flaggerv1.Canary, s *Summary) ([]Node, error) {
	kind := c.Spec.TargetRef.Kind
	switch kind {
	case "Deployment", "DaemonSet":
	case "Service":
		if c.Spec.TargetRef.APIVersion == routers.KnativeServiceGVK.GroupVersion().String() {
			return a.revisionNodes(ctx, cl, c, s)
		}
		return a.serviceNodes(ctx, cl, c)
	default:
		return nil, nil
	}
	var out []Node
	for _, role := range []struct{ name, role string }{{c.PrimaryName(), "stable"}, {c.Spec.TargetRef.Name, "canary"}} {
		w, err := getWorkload(ctx, cl, kind, c.Namespace, role.name)
		if err != nil {
			return nil, err
		}
		if w == nil {
			out = append(out, Node{Kind: kind, Name: role.name, Status: "Missing", Health: Warning, Info: role.role})
			continue
		}
		images := imagesOf(w.template)
		if role.role == "stable" {
			s.StableImages = images
		} else {
			s.CanaryImages = images
		}
		w.replicas.Role = role.role
		s.Replicas = append(s.Replicas, w.replicas)
		n, err := a.workloadNode(ctx, cl, w, role.role+" "+strings.Join(images, ","))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func getWorkload(ctx context.Context, cl *cluster, kind, ns, name string) (*workload, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	var err error
	var w *workload
	if kind == "DaemonSet" {
		var d appsv1.DaemonSet
		if err = cl.client.Get(ctx, key, &d); err == nil {
			w = daemonSet(&d)
		}
	} else {
		var d appsv1.Deployment
		if err = cl.client.Get(ctx, key, &d); err == nil {
			w = deployment(&d)
		}
	}
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, explainAPIError(fmt.Errorf("reading %s %s.%s: %w", strings.ToLower(kind), name, ns, err), cl.config.Host)
	}
	return w, nil
}

func deployment(d *appsv1.Deployment) *workload {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	st := d.Status
	w := &workload{obj: d, kind: "Deployment", selector: d.Spec.Selector, template: d.Spec.Template,
		replicas: Replicas{Name: d.Name, Desired: desired, Current: st.Replicas, Updated: st.UpdatedReplicas, Ready: st.ReadyReplicas, Available: st.AvailableReplicas}}
	w.status, w.health = replicaHealth(w.replicas, d.Generation <= st.ObservedGeneration)
	for _, cond := range st.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ProgressDeadlineExceeded" {
			w.status, w.health = "Degraded", Bad
		}
	}
	return w
}

func daemonSet(d *appsv1.DaemonSet) *workload {
	st := d.Status
	w := &workload{obj: d, kind: "DaemonSet", selector: d.Spec.Selector, template: d.Spec.Template,
		replicas: Replicas{Name: d.Name, Desired: st.DesiredNumberScheduled, Current: st.CurrentNumberScheduled, Updated: st.UpdatedNumberScheduled,
			Ready: st.NumberReady, Available: st.NumberAvailable}}
	w.status, w.health = replicaHealth(w.replicas, d.Generation <= st.ObservedGeneration)
	return w
}

// replicaHealth words a workload's rollout state.
func replicaHealth(r Replicas, observed bool) (string, Health) {
	switch {
	case r.Desired == 0 && r.Current == 0:
		return "ScaledDown", Neutral
	case observed && r.Updated >= r.Desired && r.Current == r.Updated && r.Available >= r.Desired:
		return "Available", Healthy
	}
	return "Progressing", Progressing
}

func imagesOf(t corev1.PodTemplateSpec) []string {
	var out []string
	for _, c := range t.Spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

// workloadNode is the workload with its ReplicaSets (Deployments) and pods.
func (a *App) workloadNode(ctx context.Context, cl *cluster, w *workload, info string) (Node, error) {
	n := Node{Kind: w.kind, Name: w.obj.GetName(), Status: w.status, Health: w.health, Info: info, Created: w.obj.GetCreationTimestamp().Time}
	pods, err := listPods(ctx, cl, w)
	if err != nil {
		return n, err
	}
	if w.kind == "DaemonSet" {
		n.Children = podNodes(pods, w.obj.GetUID())
		return n, nil
	}
	var rsl appsv1.ReplicaSetList
	if err := cl.client.List(ctx, &rsl, client.InNamespace(w.obj.GetNamespace()), selectorOption(w.selector)); err != nil {
		return n, explainAPIError(err, cl.config.Host)
	}
	sort.Slice(rsl.Items, func(i, j int) bool { return revisionOf(&rsl.Items[i]) > revisionOf(&rsl.Items[j]) })
	newest := true
	for i := range rsl.Items {
		rs := &rsl.Items[i]
		if !metav1.IsControlledBy(rs, w.obj) {
			continue
		}
		// the current ReplicaSet, and older ones only while they have pods
		if newest || rs.Status.Replicas > 0 {
			n.Children = append(n.Children, replicaSetNode(rs, podNodes(pods, rs.UID)))
		}
		newest = false
	}
	return n, nil
}

func selectorOption(sel *metav1.LabelSelector) client.ListOption {
	if sel == nil {
		return client.MatchingLabels{}
	}
	return client.MatchingLabels(sel.MatchLabels)
}

func listPods(ctx context.Context, cl *cluster, w *workload) ([]corev1.Pod, error) {
	var pl corev1.PodList
	if err := cl.client.List(ctx, &pl, client.InNamespace(w.obj.GetNamespace()), selectorOption(w.selector)); err != nil {
		return nil, explainAPIError(err, cl.config.Host)
	}
	return pl.Items, nil
}

func revisionOf(rs *appsv1.ReplicaSet) int {
	var n int
	_, _ = fmt.Sscan(rs.Annotations["deployment.kubernetes.io/revision"], &n)
	return n
}

func replicaSetNode(rs *appsv1.ReplicaSet, pods []Node) Node {
	desired := int32(0)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	r := Replicas{Desired: desired, Current: rs.Status.Replicas, Updated: rs.Status.Replicas, Ready: rs.Status.ReadyReplicas, Available: rs.Status.AvailableReplicas}
	status, h := replicaHealth(r, true)
	if h == Healthy {
		status = "Healthy"
	}
	return Node{Kind: "ReplicaSet", Name: rs.Name, Status: status, Health: h, Created: rs.CreationTimestamp.Time,
		Info: fmt.Sprintf("revision %d", revisionOf(rs)), Children: pods}
}

// podNodes are the pods controlled by the owner, sorted by name.
func podNodes(pods []corev1.Pod, owner types.UID) []Node {
	var out []Node
	for i := range pods {
		p := &pods[i]
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != owner {
			continue
		}
		status, h := podHealth(p)
		out = append(out, Node{Kind: "Pod", Name: p.Name, Status: status, Health: h, Created: p.CreationTimestamp.Time, Info: podInfo(p)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func podHealth(p *corev1.Pod) (string, Health) {
	switch {
	case p.DeletionTimestamp != nil:
		return "Terminating", Neutral
	case p.Status.Phase == corev1.PodFailed:
		return "Failed", Bad
	case p.Status.Phase == corev1.PodSucceeded:
		return "Completed", Neutral
	case p.Status.Phase == corev1.PodRunning && podReady(p):
		return "Running", Healthy
	case p.Status.Phase == corev1.PodRunning:
		return "Running", Progressing
	}
	return string(p.Status.Phase), Progressing
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podInfo(p *corev1.Pod) string {
	ready, restarts := 0, int32(0)
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		restarts += cs.RestartCount
	}
	info := fmt.Sprintf("ready:%d/%d", ready, len(p.Spec.Containers))
	if restarts > 0 {
		info += fmt.Sprintf(",restarts:%d", restarts)
	}
	return info
}

// checkValue is a check's value and accepted range: "99.5 (min 99)".
func checkValue(ch flaggerv1.CheckResult) string {
	v := valueText(ch)
	if r := alerts.Range(ch.Min, ch.Max); r != "" {
		v += " (" + r + ")"
	}
	return v + checkDetail(ch)
}

// valueText is a check's value: a relative check's ratio to or difference
// from the other side, a judged metric's classification and effect size,
// a judgement's score.
func valueText(ch flaggerv1.CheckResult) string {
	v := "no value"
	if ch.Value != nil {
		v = alerts.FormatValue(*ch.Value)
	}
	switch r, j := ch.Relative, ch.Judge; {
	case r != nil && ch.Value != nil && r.As == flaggerv1.CompareDifference:
		v = fmt.Sprintf("%+g vs %s", math.Round(*ch.Value*100)/100, strings.ToLower(string(r.Against)))
	case r != nil && ch.Value != nil:
		v = fmt.Sprintf("%s× %s", v, strings.ToLower(string(r.Against)))
	case j != nil && j.Class == "" && j.Score != nil:
		v = fmt.Sprintf("score %s %s", alerts.FormatValue(*j.Score), j.Verdict)
	case j != nil && ch.Value != nil:
		v = fmt.Sprintf("%s ×%s", j.Class, v)
	case j != nil:
		v = string(j.Class)
	}
	return v
}

// checkDetail adds both sides of a relative check, the test of a judged
// metric, and marks a dry run.
func checkDetail(ch flaggerv1.CheckResult) string {
	var parts []string
	if r := ch.Relative; r != nil && r.Canary != nil && r.Reference != nil {
		parts = append(parts, fmt.Sprintf("canary %s, %s %s", alerts.FormatValue(*r.Canary), strings.ToLower(string(r.Against)), alerts.FormatValue(*r.Reference)))
	}
	if j := ch.Judge; j != nil && j.Class != "" && j.PValue != nil {
		parts = append(parts, fmt.Sprintf("p=%.2g, n=%d/%d", *j.PValue, j.CanarySamples, j.BaselineSamples))
	}
	if ch.DryRun {
		parts = append(parts, "dry run")
	}
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, "; ") + "]"
}

// age is a duration the way kubectl prints ages.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t))
}
