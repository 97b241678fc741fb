package canarycli

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// The tree of a canary whose target is not a workload: a core Service (its
// <target>-primary copy is the stable side, the Service itself the canary
// side) or a Knative Service (the revision named by
// flagger.app/primary-revision is stable, the latest created revision the
// canary).

// serviceNodes shows the primary copy and the target Service.
func (a *App) serviceNodes(ctx context.Context, cl *cluster, c *flaggerv1.Canary) ([]Node, error) {
	var out []Node
	for _, role := range []struct{ name, role string }{{c.PrimaryName(), "stable"}, {c.Spec.TargetRef.Name, "canary"}} {
		var svc corev1.Service
		err := cl.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: role.name}, &svc)
		if apierrors.IsNotFound(err) {
			out = append(out, Node{Kind: "Service", Name: role.name, Status: "Missing", Health: Warning, Info: role.role})
			continue
		}
		if err != nil {
			return nil, explainAPIError(fmt.Errorf("reading service %s.%s: %w", role.name, c.Namespace, err), cl.config.Host)
		}
		out = append(out, Node{Kind: "Service", Name: svc.Name, Status: "Found", Health: Healthy,
			Info: role.role + " " + serviceShape(&svc), Created: svc.CreationTimestamp.Time})
	}
	return out, nil
}

// serviceShape says where a Service sends its traffic: its selector, or the
// name an ExternalName Service stands for.
func serviceShape(svc *corev1.Service) string {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return "ExternalName " + svc.Spec.ExternalName
	}
	if len(svc.Spec.Selector) == 0 {
		return "no selector"
	}
	return "selector " + labels.Set(svc.Spec.Selector).String()
}

// revisionNodes shows the primary and the latest revision of a Knative
// Service with their Ready condition, and fills the summary's images.
func (a *App) revisionNodes(ctx context.Context, cl *cluster, c *flaggerv1.Canary, s *Summary) ([]Node, error) {
	svc := &unstructured.Unstructured{}
	svc.SetGroupVersionKind(routers.KnativeServiceGVK)
	err := cl.client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.TargetRef.Name}, svc)
	if apierrors.IsNotFound(err) {
		return []Node{{Kind: "Service", Name: c.Spec.TargetRef.Name, Status: "Missing", Health: Warning, Info: "knative service"}}, nil
	}
	if err != nil {
		return nil, explainAPIError(fmt.Errorf("reading knative service %s.%s: %w", c.Spec.TargetRef.Name, c.Namespace, err), cl.config.Host)
	}
	latest, _, _ := unstructured.NestedString(svc.Object, "status", "latestCreatedRevisionName")
	primary := svc.GetAnnotations()[routers.KnativePrimaryRevision]
	var out []Node
	for _, role := range []struct{ name, role string }{{primary, "stable"}, {latest, "canary"}} {
		if role.name == "" {
			what := "no revision yet (status.latestCreatedRevisionName)"
			if role.role == "stable" {
				what = "no primary revision yet (annotation " + routers.KnativePrimaryRevision + ")"
			}
			out = append(out, Node{Kind: "Revision", Name: "-", Status: "Missing", Health: Warning, Info: role.role + " " + what})
			continue
		}
		n, images, err := revisionNode(ctx, cl, c.Namespace, role.name, role.role)
		if err != nil {
			return nil, err
		}
		if role.role == "stable" {
			s.StableImages = images
		} else {
			s.CanaryImages = images
		}
		out = append(out, n)
	}
	return out, nil
}

// revisionNode is a Knative Revision with its Ready condition and images.
func revisionNode(ctx context.Context, cl *cluster, ns, name, role string) (Node, []string, error) {
	rev := &unstructured.Unstructured{}
	rev.SetGroupVersionKind(routers.KnativeRevisionGVK)
	err := cl.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rev)
	if apierrors.IsNotFound(err) {
		return Node{Kind: "Revision", Name: name, Status: "Missing", Health: Warning, Info: role}, nil, nil
	}
	if err != nil {
		return Node{}, nil, explainAPIError(fmt.Errorf("reading knative revision %s.%s: %w", name, ns, err), cl.config.Host)
	}
	images := routers.KnativeImages(rev, "spec", "containers")
	n := Node{Kind: "Revision", Name: name, Status: "Unknown", Health: Progressing, Info: strings.TrimSpace(role + " " + strings.Join(images, ",")),
		Created: rev.GetCreationTimestamp().Time}
	if m := routers.KnativeCondition(rev, "Ready"); m != nil {
		switch m["status"] {
		case "True":
			n.Status, n.Health = "Ready", Healthy
		case "False":
			n.Status, n.Health = "NotReady", Bad
			if msg, _ := m["message"].(string); msg != "" {
				n.Info += ": " + oneLine(msg)
			}
		}
	}
	return n, images, nil
}
