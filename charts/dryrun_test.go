package charts_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Every rendered object is accepted by the API server (schema with unknown
// fields refused, defaults, admission, RBAC escalation checks) in a
// server-side dry run that stores nothing.
func TestServerSideDryRun(t *testing.T) {
	ns := env.Namespace(t)
	cases := []struct {
		name, chart string
		values      map[string]any
	}{
		{"warbler default", warbler, nil},
		// the watched namespace must exist for its Role
		{"warbler full", warbler, fullValues(t, warbler, map[string]any{"namespace": ns})},
		{"warbler sharded", warbler, map[string]any{"sharding": map[string]any{"shards": []any{"shard1", "shard2"}}, "replicas": 2,
			"leaderElection": map[string]any{"enabled": true}}},
		{"loadtester default", loadtester, nil},
		{"loadtester full", loadtester, fullValues(t, loadtester)},
		{"loadtester helm tests in listed namespaces", loadtester, map[string]any{
			"rbac": map[string]any{"helmTests": map[string]any{"enabled": true, "namespaces": []any{ns}}},
			"auth": map[string]any{"existingSecret": "callers", "tokensFile": true},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, tc.chart, "dry", ns, tc.values)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var checked int
			for _, obj := range r.objects {
				if obj.GetKind() == "ServiceMonitor" {
					// no Prometheus Operator CRD in the test cluster; the
					// rendered object is checked in TestWarblerFullValues
					svc := typed[corev1.Service](t, r.find(t, "Service", obj.GetName()))
					checkServiceMonitor(t, obj, svc)
					continue
				}
				if err := env.Client.Create(ctx, obj.DeepCopy(), client.DryRunAll, client.FieldOwner("helm"), client.FieldValidation("Strict")); err != nil {
					t.Errorf("API server refuses %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
				}
				checked++
			}
			if checked < 5 {
				t.Errorf("dry-ran %d objects (%s); want the whole chart", checked, r)
			}
		})
	}
}
