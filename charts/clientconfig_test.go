package charts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// checkProviderDiscovery: the installed controller, running with the
// release's RBAC, publishes its -mesh-provider on the chart's ConfigMap,
// and kubectl canary shows a canary without spec.provider with that
// provider; $WARBLER_MESH_PROVIDER and --mesh-provider still override it.
func checkProviderDiscovery(t *testing.T, ns, configMap, provider string) {
	t.Helper()
	testenv.Eventually(t, time.Minute, func() error {
		var cm corev1.ConfigMap
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: configMap}, &cm); err != nil {
			return err
		}
		if cm.Data[flaggerv1.ConfigMeshProvider] != provider || cm.Data[flaggerv1.ConfigWatchNamespace] != ns || cm.Data[flaggerv1.ConfigVersion] == "" {
			return fmt.Errorf("ConfigMap %s data %v: want meshProvider %s, watchNamespace %s and a version", configMap, cm.Data, provider, ns)
		}
		return nil
	})
	env.Create(t, testenv.Canary(ns, "discovered", "", &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 1, Iterations: 2}))
	for _, tc := range []struct {
		env, flag, want string
	}{
		{"", "", provider},
		{"linkerd", "", "linkerd"},
		{"linkerd", "gatewayapi:v1", "gatewayapi:v1"},
	} {
		args := []string{"get", "discovered", "-n", ns, "-o", "json"}
		if tc.flag != "" {
			args = append(args, "--mesh-provider", tc.flag)
		}
		var stdout, stderr bytes.Buffer
		app := &canarycli.App{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
			switch k {
			case "KUBECONFIG":
				return env.Kubeconfig
			case canarycli.MeshProviderEnv:
				return tc.env
			}
			return ""
		}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		code := app.Run(ctx, args)
		cancel()
		var s canarycli.Summary
		if err := json.Unmarshal(stdout.Bytes(), &s); code != 0 || err != nil {
			t.Fatalf("kubectl canary %v: exit %d, %v, stderr %s", args, code, err, stderr.String())
		}
		if s.Provider != tc.want {
			t.Errorf("%s=%q --mesh-provider=%q: provider %q, want %q", canarycli.MeshProviderEnv, tc.env, tc.flag, s.Provider, tc.want)
		}
	}
}
