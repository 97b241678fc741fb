package routers

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// EmissaryRouter routes with two Mappings (getambassador.io), as Emissary's own
// canary releases do: the primary Mapping <svc> sends traffic to
// <svc>-primary, and the canary Mapping <svc>-canary, a copy of it with the
// same prefix and host, sends weight% to <svc>-canary. A primary Mapping
// the user wrote is taken over (only its service changes); otherwise
// Warbler writes one for prefix / (or service.match[0].uri.prefix) and
// hosts[0].
type EmissaryRouter struct {
	Deps
	version string
}

var _ BaselineRouter = (*EmissaryRouter)(nil)

// NewEmissaryV3alpha1 returns the router of emissary and ambassador
// (Mapping getambassador.io/v3alpha1, Emissary 2 and 3).
func NewEmissaryV3alpha1(d Deps) Router { return &EmissaryRouter{Deps: d, version: "v3alpha1"} }

// NewEmissaryV2 returns the router of emissary:v2 and ambassador:v2
// (Mapping getambassador.io/v2, Ambassador 1).
func NewEmissaryV2(d Deps) Router { return &EmissaryRouter{Deps: d, version: "v2"} }

// Reconcile writes the primary Mapping and the canary Mapping (at weight 0
// when new).
func (e *EmissaryRouter) Reconcile(ctx context.Context, c *flaggerv1.Canary) error {
	return e.write(ctx, c, nil)
}

// SetRoutes sets the weight of the canary Mapping; mirrored makes it a
// shadow Mapping that copies analysis.mirrorWeight percent (all by
// default) of the traffic to the canary.
func (e *EmissaryRouter) SetRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight int, mirrored bool) error {
	if err := checkWeights(c, primaryWeight, canaryWeight); err != nil {
		return err
	}
	return e.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight, mirrored: mirrored})
}

// SetBaselineRoutes sets the weights of the canary Mapping and of the
// baseline Mapping, <svc>-baseline, another copy of the primary Mapping.
func (e *EmissaryRouter) SetBaselineRoutes(ctx context.Context, c *flaggerv1.Canary, primaryWeight, canaryWeight, baselineWeight int) error {
	if err := checkWeights(c, primaryWeight, canaryWeight, baselineWeight); err != nil {
		return err
	}
	return e.write(ctx, c, &split{primary: primaryWeight, canary: canaryWeight, baseline: baselineWeight})
}

// GetBaselineRoute reads the weight of the baseline Mapping; none is 0.
func (e *EmissaryRouter) GetBaselineRoute(ctx context.Context, c *flaggerv1.Canary) (int, error) {
	u := e.mapping(c, c.BaselineServiceName())
	err := e.Client.Get(ctx, client.ObjectKeyFromObject(u), u)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", describe(e.Deps, u), err)
	}
	s, err := mappingSplit(u)
	return s.canary, err
}

// GetRoutes reads the weight of the canary Mapping; the primary has the
// rest, but for the baseline Mapping's.
func (e *EmissaryRouter) GetRoutes(ctx context.Context, c *flaggerv1.Canary) (int, int, bool, error) {
	u := e.mapping(c, canaryService(c))
	if err := fetch(ctx, e.Deps, u); err != nil {
		return 0, 0, false, err
	}
	s, err := mappingSplit(u)
	if err != nil {
		return 0, 0, false, err
	}
	b, err := e.GetBaselineRoute(ctx, c)
	return s.primary - b, s.canary, s.mirrored, err
}

// Finalize restores a primary Mapping that existed before Warbler; the
// canary Mapping is deleted with the Canary by garbage collection.
func (e *EmissaryRouter) Finalize(ctx context.Context, c *flaggerv1.Canary) error {
	return restore(ctx, e.Deps, c, e.mapping(c, c.ApexServiceName()))
}

func (e *EmissaryRouter) write(ctx context.Context, c *flaggerv1.Canary, want *split) error {
	if m := abMatch(c); len(m) > 1 {
		return fmt.Errorf("canary %s: provider emissary takes one analysis.match condition (a Mapping has one set of headers), not %d", c.Key(), len(m))
	}
	primary := e.mapping(c, c.ApexServiceName())
	if err := upsert(ctx, e.Deps, c, primary, func() error { return e.writePrimary(c, primary) }); err != nil {
		return err
	}
	canary := e.mapping(c, canaryService(c))
	if err := upsert(ctx, e.Deps, c, canary, func() error {
		s := split{primary: 100}
		if want != nil {
			s = *want
		} else if have, err := mappingSplit(canary); err == nil {
			s = have
		}
		// Emissary groups Mappings by their labels too (Host mappingSelector).
		canary.SetLabels(merged(canary.GetLabels(), primary.GetLabels()))
		return setSpec(canary, canarySpec(c, specOf(primary), s))
	}); err != nil {
		return err
	}
	return e.writeBaseline(ctx, c, primary, want)
}

// writeBaseline keeps the baseline Mapping: written while the baseline has
// a share, deleted when a split gives it none, left as it is by Reconcile.
func (e *EmissaryRouter) writeBaseline(ctx context.Context, c *flaggerv1.Canary, primary *unstructured.Unstructured, want *split) error {
	baseline := e.mapping(c, c.BaselineServiceName())
	switch {
	case want == nil:
		return nil
	case want.baseline == 0:
		// read from the cache first: most canaries never had one
		err := e.Client.Get(ctx, client.ObjectKeyFromObject(baseline), baseline)
		if err == nil {
			err = e.Client.Delete(ctx, baseline)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting %s: %w", describe(e.Deps, baseline), err)
		}
		return nil
	}
	return upsert(ctx, e.Deps, c, baseline, func() error {
		baseline.SetLabels(merged(baseline.GetLabels(), primary.GetLabels()))
		spec := canarySpec(c, specOf(primary), split{canary: want.baseline})
		current, _ := spec["service"].(string)
		spec["service"] = mappingService(current, c.BaselineServiceName(), c.Namespace, c.Spec.Service.Port)
		return setSpec(baseline, spec)
	})
}

// writePrimary points the primary Mapping at <svc>-primary, or fills in a
// new one.
func (e *EmissaryRouter) writePrimary(c *flaggerv1.Canary, u *unstructured.Unstructured) error {
	spec := runtime.DeepCopyJSON(specOf(u))
	if u.GetResourceVersion() == "" {
		spec = e.newPrimarySpec(c)
	}
	current, _ := spec["service"].(string)
	spec["service"] = mappingService(current, primaryService(c), c.Namespace, c.Spec.Service.Port)
	return setSpec(u, spec)
}

func (e *EmissaryRouter) newPrimarySpec(c *flaggerv1.Canary) map[string]any {
	prefix := "/"
	if m := c.Spec.Service.Match; len(m) > 0 && m[0].URI != nil && m[0].URI.Prefix != "" {
		prefix = m[0].URI.Prefix
	}
	spec := map[string]any{"prefix": prefix}
	host := "*"
	if h := c.Spec.Service.Hosts; len(h) > 0 {
		host = h[0]
	}
	switch {
	case e.version == "v3alpha1":
		spec["hostname"] = host
	case host != "*":
		spec["host"] = host
	}
	if t := c.Spec.Service.Timeout; t != "" {
		if ms, err := milliseconds(t); err == nil {
			spec["timeout_ms"] = ms
		}
	}
	return spec
}

// canarySpec copies the primary Mapping, routes it to <svc>-canary with
// the weight, adds the A/B headers and, when mirroring, makes it a shadow.
func canarySpec(c *flaggerv1.Canary, primary map[string]any, s split) map[string]any {
	spec := runtime.DeepCopyJSON(primary)
	current, _ := spec["service"].(string)
	spec["service"] = mappingService(current, canaryService(c), c.Namespace, c.Spec.Service.Port)
	delete(spec, "shadow")
	spec["weight"] = int64(s.canary)
	if m := abMatch(c); len(m) == 1 {
		addMappingMatch(spec, m[0])
	}
	if s.mirrored {
		spec["shadow"] = true
		delete(spec, "weight")
		if a := c.Spec.Analysis; a != nil && a.MirrorWeight > 0 {
			spec["weight"] = int64(a.MirrorWeight)
		}
	}
	return spec
}

// addMappingMatch adds an A/B condition: exact values to headers and
// query_parameters, the others as regular expressions.
func addMappingMatch(spec map[string]any, m flaggerv1.HTTPMatchRequest) {
	add := func(exactKey, regexKey string, matches map[string]flaggerv1.StringMatch) {
		for _, name := range slices.Sorted(maps.Keys(matches)) {
			exact, value := matchValue(matches[name])
			key := regexKey
			if exact {
				key = exactKey
			}
			set, _ := spec[key].(map[string]any)
			if set == nil {
				set = map[string]any{}
			}
			set[name] = value
			spec[key] = set
		}
	}
	add("headers", "regex_headers", m.Headers)
	add("query_parameters", "regex_query_parameters", m.QueryParams)
}

// mappingService rewrites a Mapping service ("[scheme://]name[.namespace...][:port]")
// to name, keeping the scheme and namespace part and setting service.port.
// An empty service becomes name.namespace:port.
func mappingService(service, name, namespace string, port int32) string {
	scheme, rest, found := strings.Cut(service, "://")
	if !found {
		scheme, rest = "", service
	}
	host, _, _ := strings.Cut(rest, ":")
	domain := "." + namespace
	if _, d, ok := strings.Cut(host, "."); ok {
		domain = "." + d
	}
	out := fmt.Sprintf("%s%s:%d", name, domain, port)
	if scheme != "" {
		out = scheme + "://" + out
	}
	return out
}

// mappingSplit reads the canary Mapping: weight (0 when unset) and shadow.
func mappingSplit(u *unstructured.Unstructured) (split, error) {
	spec := specOf(u)
	if shadow, _ := spec["shadow"].(bool); shadow {
		return split{primary: 100, mirrored: true}, nil
	}
	w, err := number(spec["weight"])
	if err != nil || w < 0 || w > 100 {
		return split{}, fmt.Errorf("weight %v of Mapping %s.%s is not a percentage", spec["weight"], u.GetName(), u.GetNamespace())
	}
	return split{primary: 100 - int(w), canary: int(w)}, nil
}

func (e *EmissaryRouter) mapping(c *flaggerv1.Canary, name string) *unstructured.Unstructured {
	gvk := schema.GroupVersionKind{Group: "getambassador.io", Version: e.version, Kind: "Mapping"}
	return newUnstructured(gvk, c.Namespace, name)
}

// milliseconds converts a duration such as "30s" to Emissary's timeout_ms.
func milliseconds(d string) (int64, error) {
	t, err := time.ParseDuration(d)
	return t.Milliseconds(), err
}
