package charts_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// valueSets are the values each chart is rendered with for the RBAC checks:
// the defaults, every toggle on, and the scoping variants.
func valueSets(t *testing.T) map[string]map[string]map[string]any {
	return map[string]map[string]map[string]any{
		warbler: {
			"default":         nil,
			"full":            fullValues(t, warbler),
			"leader election": {"replicas": 2, "leaderElection": map[string]any{"enabled": true}},
		},
		loadtester: {
			"default":                     nil,
			"full":                        fullValues(t, loadtester),
			"helm tests in a namespace":   {"rbac": map[string]any{"helmTests": map[string]any{"enabled": true, "namespaces": []any{"prod"}}}},
			"helm tests in the cluster":   {"rbac": map[string]any{"helmTests": map[string]any{"enabled": true}}},
			"serviceAccountName (seed)":   {"fullnameOverride": "helm-tester", "serviceAccountName": "helm-tester"},
			"existing credentials (auth)": {"auth": map[string]any{"existingSecret": "callers", "tokensFile": true}},
		},
	}
}

// rules returns every rule of the rendered Roles and ClusterRoles, by
// "Kind namespace/name".
func rules(t *testing.T, r rendered) map[string][]rbacv1.PolicyRule {
	out := map[string][]rbacv1.PolicyRule{}
	for _, u := range append(r.kinds("Role"), r.kinds("ClusterRole")...) {
		role := typed[rbacv1.Role](t, u)
		out[u.GetKind()+" "+u.GetNamespace()+"/"+u.GetName()] = role.Rules
	}
	return out
}

func TestRBACHasNoWildcards(t *testing.T) {
	for chart, sets := range valueSets(t) {
		for set, values := range sets {
			roles := rules(t, render(t, chart, "rel", "ns", values))
			if len(roles) == 0 {
				t.Errorf("%s (%s) renders no Role or ClusterRole", chart, set)
			}
			for role, rs := range roles {
				for _, rule := range rs {
					for field, list := range map[string][]string{
						"verbs": rule.Verbs, "apiGroups": rule.APIGroups, "resources": rule.Resources,
						"resourceNames": rule.ResourceNames, "nonResourceURLs": rule.NonResourceURLs,
					} {
						for _, s := range list {
							if strings.Contains(s, "*") {
								t.Errorf("%s (%s): %s has %q in %s", chart, set, role, s, field)
							}
						}
					}
				}
			}
		}
	}
}

// permissions flattens rules into "group/resource verb" lines, sorted.
func permissions(rs []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rs {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, fmt.Sprintf("%s/%s %s", g, res, v))
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func expand(groupResources []string, verbs ...string) []string {
	var out []string
	for _, gr := range groupResources {
		for _, v := range verbs {
			out = append(out, gr+" "+v)
		}
	}
	return out
}

// controllerPermissions is what the controller reads and writes (the list in
// docs/charts.md), and nothing more.
func controllerPermissions() []string {
	write := []string{"get", "list", "watch", "create", "update", "patch"}
	var p []string
	p = append(p, expand([]string{"flagger.app/canaries"}, "get", "list", "watch", "update", "patch")...)
	p = append(p, expand([]string{"flagger.app/canaries/status"}, "get", "update", "patch")...)
	p = append(p, expand([]string{"flagger.app/canaries/finalizers"}, "update")...)
	p = append(p, expand([]string{"flagger.app/metrictemplates", "flagger.app/alertproviders", "gateway.networking.k8s.io/gateways", "serving.knative.dev/revisions"}, "get", "list", "watch")...)
	p = append(p, expand([]string{"serving.knative.dev/services"}, "get", "list", "watch", "update", "patch")...)
	p = append(p, expand([]string{"/events", "events.k8s.io/events"}, "create", "patch")...)
	p = append(p, expand([]string{
		"apps/deployments", "apps/daemonsets", "/services", "/configmaps", "/secrets",
		"autoscaling/horizontalpodautoscalers", "discovery.k8s.io/endpointslices",
		"gateway.networking.k8s.io/httproutes", "split.smi-spec.io/trafficsplits", "getambassador.io/mappings",
		"networking.istio.io/virtualservices", "networking.istio.io/destinationrules", "networking.k8s.io/ingresses",
		"keda.sh/scaledobjects",
		"projectcontour.io/httpproxies", "gateway.solo.io/routetables", "gloo.solo.io/upstreams", "traefik.io/traefikservices",
		"kuma.io/trafficroutes", "kuma.io/meshhttproutes", "apisix.apache.org/apisixroutes",
	}, write...)...)
	p = append(p, "kuma.io/trafficroutes delete")
	// the keptn metric provider
	p = append(p, "metrics.keptn.sh/keptnmetrics get")
	p = append(p, expand([]string{"metrics.keptn.sh/analyses"}, "create", "delete", "get")...)
	slices.Sort(p)
	return p
}

func TestRBACIsExactlyWhatTheBinariesUse(t *testing.T) {
	leader := []string{"/events create", "/events patch", "coordination.k8s.io/leases create", "coordination.k8s.io/leases get",
		"coordination.k8s.io/leases update", "events.k8s.io/events create", "events.k8s.io/events patch"}
	gates := expand([]string{"/configmaps"}, "create", "get", "list", "update", "watch")
	// the ConfigMap on which the controller publishes its defaults
	clientConfig := []string{"/configmaps patch"}
	helmTests := []string{"/pods create", "/pods delete", "/pods get", "/pods list", "/pods watch", "/pods/log get",
		"/secrets get", "/secrets list", "/secrets update"}
	for _, tc := range []struct {
		name, chart string
		values      map[string]any
		want        map[string][]string
	}{
		{"controller, cluster-wide", warbler, nil, map[string][]string{
			"ClusterRole /rel-warbler-ns": controllerPermissions(),
			"Role ns/rel-warbler-config":  clientConfig,
		}},
		{"controller, one namespace, leader election", warbler, fullValues(t, warbler), map[string][]string{
			"Role apps/rel-warbler":               controllerPermissions(),
			"Role ns/rel-warbler-leader-election": leader,
			"Role ns/rel-warbler-config":          clientConfig,
		}},
		{"loadtester", loadtester, nil, map[string][]string{
			"Role ns/rel-loadtester-gates": gates,
		}},
		{"loadtester with helm tests", loadtester, map[string]any{"rbac": map[string]any{"helmTests": map[string]any{"enabled": true}}}, map[string][]string{
			"Role ns/rel-loadtester-gates":              gates,
			"ClusterRole /rel-loadtester-ns-helm-tests": helmTests,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rules(t, render(t, tc.chart, "rel", "ns", tc.values))
			for role, want := range tc.want {
				rs, ok := got[role]
				if !ok {
					t.Errorf("no %s; rendered %v", role, keys(got))
					continue
				}
				if p := permissions(rs); !slices.Equal(p, want) {
					t.Errorf("%s grants\n  %s\nwant\n  %s", role, strings.Join(p, "\n  "), strings.Join(want, "\n  "))
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("rendered roles %v, want %v", keys(got), keys(tc.want))
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
