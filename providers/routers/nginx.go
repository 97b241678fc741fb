package routers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// NGINXRouter routes with ingress-nginx's canary annotations on <ingress>-canary,
// a copy of spec.ingressRef whose backends on the apex service point at
// <svc>-canary. The user's Ingress is never changed.
type NGINXRouter struct {
	Deps
}

var _ Router = (*NGINXRouter)(nil)

// NewNGINX returns the router of nginx.
func NewNGINX(d Deps) Router { return &NGINXRouter{Deps: d} }

// Reconcile writes the canary Ingress (weight 0 when new) from the current
// spec.ingressRef Ingress.
func (n *NGINXRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return n.write(ctx, c, nil)
}

// SetRoutes sets canary-weight, or in A/B testing the header or cookie
// conditions while the canary gets traffic. NGINX cannot mirror to a
// canary; mirrored is ignored.
func (n *NGINXRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, _ bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return n.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight})
}

// GetRoutes reads the canary annotations: A/B conditions mean 0/100,
// otherwise canary-weight.
func (n *NGINXRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	ing, err := n.canaryIngress(c)
	if err != nil {
		return 0, 0, false, err
	}
	if err := fetch(ctx, n.Deps, ing); err != nil {
		return 0, 0, false, err
	}
	s, err := n.split(ing)
	return s.primary, s.canary, false, err
}

// Finalize has nothing to restore: the user's Ingress was never changed,
// and the canary Ingress is deleted with the Canary.
func (n *NGINXRouter) Finalize(context.Context, *flaggerv1.Canary) error { return nil }

func (n *NGINXRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if a := c.Spec.Analysis; a != nil && a.Mirror {
		return errNGINXMirror(c)
	}
	ing, err := n.canaryIngress(c)
	if err != nil {
		return err
	}
	source := &networkingv1.Ingress{}
	if err := n.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.IngressRef.Name}, source); err != nil {
		return fmt.Errorf("canary %s: reading spec.ingressRef Ingress %s.%s: %w", c.Key(), c.Spec.IngressRef.Name, c.Namespace, err)
	}
	return upsert(ctx, n.Deps, c, ing, func() error {
		s := split{primary: 100}
		if want != nil {
			s = *want
		} else if have, err := n.split(ing); err == nil && ing.ResourceVersion != "" {
			s = have
		}
		return n.fill(c, source, ing, s)
	})
}

// fill copies the source Ingress into the canary Ingress and sets the
// canary annotations for s.
func (n *NGINXRouter) fill(c *flaggerv1.Canary, source, ing *networkingv1.Ingress, s split) error {
	ing.Spec = *source.Spec.DeepCopy()
	if n.IngressClass != "" {
		ing.Spec.IngressClassName = ptr.To(n.IngressClass)
	}
	apex, _, canary := c.ServiceNames()
	renameBackends(&ing.Spec, apex, canary)
	ing.Labels = merged(ing.Labels, source.Labels)
	annotations := map[string]string{}
	for k, v := range source.Annotations {
		if k != lastApplied && !strings.HasPrefix(k, n.prefix()+"/canary") {
			annotations[k] = v
		}
	}
	if v, ok := ing.Annotations[OriginalAnnotation]; ok {
		annotations[OriginalAnnotation] = v
	}
	maps.Copy(annotations, n.canaryAnnotations(c, s))
	ing.Annotations = annotations
	return nil
}

// canaryAnnotations are ingress-nginx's: canary, and canary-weight or, in
// A/B testing with traffic on the canary, canary-by-header[-value|-pattern]
// or canary-by-cookie from the first analysis.match condition.
func (n *NGINXRouter) canaryAnnotations(c *flaggerv1.Canary, s split) map[string]string {
	p := n.prefix() + "/"
	out := map[string]string{p + "canary": "true"}
	ab := abMatch(c)
	if len(ab) == 0 || s.canary == 0 {
		out[p+"canary-weight"] = strconv.Itoa(s.canary)
		return out
	}
	for _, name := range slices.Sorted(maps.Keys(ab[0].Headers)) {
		if strings.EqualFold(name, "cookie") {
			out[p+"canary-by-cookie"] = cookieName(ab[0].Headers[name])
			continue
		}
		out[p+"canary-by-header"] = name
		if exact, value := matchValue(ab[0].Headers[name]); exact {
			out[p+"canary-by-header-value"] = value
		} else {
			out[p+"canary-by-header-pattern"] = value
		}
		break
	}
	return out
}

// cookieName is the cookie an A/B condition on the cookie header names:
// ingress-nginx routes to the canary when that cookie is "always".
func cookieName(m flaggerv1.StringMatch) string {
	v := m.Exact + m.Regex + m.Prefix + m.Suffix
	v = strings.Trim(v, ".*^$")
	name, _, _ := strings.Cut(v, "=")
	return name
}

// split reads the canary annotations.
func (n *NGINXRouter) split(ing *networkingv1.Ingress) (split, error) {
	p := n.prefix() + "/"
	a := ing.Annotations
	if a[p+"canary-by-header"] != "" || a[p+"canary-by-cookie"] != "" {
		return split{canary: 100}, nil
	}
	w, err := strconv.Atoi(a[p+"canary-weight"])
	if err != nil || w < 0 || w > 100 {
		return split{}, fmt.Errorf("annotation %scanary-weight %q of Ingress %s.%s is not a percentage", p, a[p+"canary-weight"], ing.Name, ing.Namespace)
	}
	return split{primary: 100 - w, canary: w}, nil
}

func (n *NGINXRouter) prefix() string {
	if n.IngressAnnotationsPrefix != "" {
		return n.IngressAnnotationsPrefix
	}
	return "nginx.ingress.kubernetes.io"
}

func (n *NGINXRouter) canaryIngress(c *flaggerv1.Canary) (*networkingv1.Ingress, error) {
	if c.Spec.IngressRef == nil || c.Spec.IngressRef.Name == "" {
		return nil, fmt.Errorf("canary %s: spec.ingressRef must name an Ingress when using the nginx provider", c.Key())
	}
	ing := &networkingv1.Ingress{}
	ing.Name = c.Spec.IngressRef.Name + "-canary"
	ing.Namespace = c.Namespace
	return ing, nil
}

// renameBackends points every backend on the apex service at the canary
// service.
func renameBackends(spec *networkingv1.IngressSpec, apex, canary string) {
	rename := func(b *networkingv1.IngressBackend) {
		if b != nil && b.Service != nil && b.Service.Name == apex {
			b.Service.Name = canary
		}
	}
	rename(spec.DefaultBackend)
	for i := range spec.Rules {
		if spec.Rules[i].HTTP == nil {
			continue
		}
		for j := range spec.Rules[i].HTTP.Paths {
			rename(&spec.Rules[i].HTTP.Paths[j].Backend)
		}
	}
}

// errNGINXMirror refuses analysis.mirror. ingress-nginx mirrors with the
// mirror-target annotation, but ignores every annotation other than the
// canary ones on a canary Ingress: only the user's own Ingress could carry
// it, and Warbler never changes that Ingress (nor does Flagger, which has
// no NGINX mirroring). Silently skipping the mirror step would run a
// blue/green analysis that tests nothing, so the canary is held instead.
func errNGINXMirror(c *flaggerv1.Canary) error {
	return fmt.Errorf("canary %s: analysis.mirror is not supported by provider nginx: ingress-nginx ignores mirror annotations on the canary Ingress, and Warbler does not change the Ingress of spec.ingressRef; remove analysis.mirror, or mirror with gatewayapi:v1 or istio", c.Key())
}
