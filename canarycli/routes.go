package canarycli

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// routeRef names the object that carries a canary's traffic split.
type routeRef struct {
	gvk  schema.GroupVersionKind
	kind string
	name string
}

// routeObject is the traffic object of a provider, named as the routers
// name it: the route <svc> for meshes and gateways, the EndpointSlice
// <svc>-warbler for kubernetes:replicas, the canary Ingress for nginx, the
// canary Mapping for Emissary, and the apex Service for blue/green.
func routeObject(provider string, c *flaggerv1.Canary) (routeRef, bool) {
	apex := c.ApexServiceName()
	gvk := func(group, version, kind string) schema.GroupVersionKind {
		return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
	}
	switch provider {
	case routers.Kubernetes:
		return routeRef{gvk("", "v1", "Service"), "Service", apex}, true
	case routers.KubernetesReplicas:
		return routeRef{gvk("discovery.k8s.io", "v1", "EndpointSlice"), "EndpointSlice", apex + "-warbler"}, true
	case routers.GatewayAPIV1, routers.GatewayAPIV1beta1:
		return routeRef{gvk("gateway.networking.k8s.io", strings.TrimPrefix(provider, "gatewayapi:"), "HTTPRoute"), "HTTPRoute", apex}, true
	case routers.SMIV1alpha1, routers.Linkerd:
		return routeRef{gvk("split.smi-spec.io", "v1alpha1", "TrafficSplit"), "TrafficSplit", apex}, true
	case routers.SMIV1alpha2, routers.OSM:
		return routeRef{gvk("split.smi-spec.io", "v1alpha2", "TrafficSplit"), "TrafficSplit", apex}, true
	case routers.SMIV1alpha3:
		return routeRef{gvk("split.smi-spec.io", "v1alpha3", "TrafficSplit"), "TrafficSplit", apex}, true
	case routers.Istio:
		return routeRef{gvk("networking.istio.io", "v1beta1", "VirtualService"), "VirtualService", apex}, true
	case routers.NGINX:
		if c.Spec.IngressRef == nil {
			return routeRef{}, false
		}
		return routeRef{gvk("networking.k8s.io", "v1", "Ingress"), "Ingress", c.Spec.IngressRef.Name + "-canary"}, true
	case routers.AmbassadorV2, routers.EmissaryV2:
		return routeRef{gvk("getambassador.io", "v2", "Mapping"), "Mapping", apex + flaggerv1.CanarySuffix}, true
	case routers.Ambassador, routers.AmbassadorV3alpha1, routers.Emissary, routers.EmissaryV3alpha1:
		return routeRef{gvk("getambassador.io", "v3alpha1", "Mapping"), "Mapping", apex + flaggerv1.CanarySuffix}, true
	case routers.Contour:
		return routeRef{gvk("projectcontour.io", "v1", "HTTPProxy"), "HTTPProxy", apex}, true
	case routers.Gloo:
		return routeRef{gvk("gateway.solo.io", "v1", "RouteTable"), "RouteTable", apex}, true
	case routers.Traefik:
		return routeRef{gvk("traefik.io", "v1alpha1", "TraefikService"), "TraefikService", apex}, true
	case routers.Kuma:
		return routeRef{gvk("kuma.io", "v1alpha1", "TrafficRoute"), "TrafficRoute", apex}, true
	case routers.KumaMeshHTTPRoute:
		return routeRef{gvk("kuma.io", "v1alpha1", "MeshHTTPRoute"), "MeshHTTPRoute", apex}, true
	case routers.Skipper:
		if c.Spec.IngressRef == nil {
			return routeRef{}, false
		}
		return routeRef{gvk("networking.k8s.io", "v1", "Ingress"), "Ingress", c.Spec.IngressRef.Name + "-canary"}, true
	case routers.APISIX:
		if c.Spec.RouteRef == nil {
			return routeRef{}, false
		}
		return routeRef{gvk("apisix.apache.org", "v2", "ApisixRoute"), "ApisixRoute", c.Spec.RouteRef.Name + "-" + apex + flaggerv1.CanarySuffix}, true
	}
	return routeRef{}, false
}

// objectCreated reads an object's metadata and returns when it was
// created.
func (a *App) objectCreated(ctx context.Context, cl *cluster, ns string, ref routeRef) (time.Time, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ref.gvk)
	if ref.kind == "TrafficRoute" { // Kuma's is cluster-scoped
		ns = ""
	}
	if err := cl.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.name}, u); err != nil {
		return time.Time{}, err
	}
	return u.GetCreationTimestamp().Time, nil
}
