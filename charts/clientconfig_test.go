package charts_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
	var published string
	testenv.Eventually(t, time.Minute, func() error {
		var cm corev1.ConfigMap
		if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: configMap}, &cm); err != nil {
			return err
		}
		if cm.Data[flaggerv1.ConfigMeshProvider] != provider || cm.Data[flaggerv1.ConfigWatchNamespace] != ns || cm.Data[flaggerv1.ConfigVersion] == "" {
			return fmt.Errorf("ConfigMap %s data %v: want meshProvider %s, watchNamespace %s and a version", configMap, cm.Data, provider, ns)
		}
		published = cm.Data[flaggerv1.ConfigVersion]
		return nil
	})
	checkControllerVersion(t, ns, configMap, provider, published)
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

// checkControllerVersion: kubectl canary version prints, after its own
// version, the installed controller's, as it published it.
func checkControllerVersion(t *testing.T, ns, configMap, provider, published string) {
	t.Helper()
	run := func(args ...string) string {
		var stdout, stderr bytes.Buffer
		app := &canarycli.App{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
			if k == "KUBECONFIG" {
				return env.Kubeconfig
			}
			return ""
		}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if code := app.Run(ctx, args); code != 0 || stderr.Len() > 0 {
			t.Fatalf("kubectl canary %v: exit %d, stderr %s", args, code, &stderr)
		}
		return stdout.String()
	}
	line := fmt.Sprintf("controller %s/%s: %s (watching namespace %s, mesh provider %s)\n", ns, configMap, published, ns, provider)
	if out := run("version"); !strings.HasPrefix(out, "version: ") || !strings.Contains(out, line) {
		t.Errorf("kubectl canary version printed\n%s\nwant the plugin's version, then the line\n%s", out, line)
	}
	var res canarycli.VersionResult
	if err := json.Unmarshal([]byte(run("version", "-o", "json")), &res); err != nil {
		t.Fatal(err)
	}
	want := canarycli.ControllerConfig{ConfigMap: ns + "/" + configMap, MeshProvider: provider, Version: published, WatchNamespace: ns}
	if res.Version == "" || !slices.Contains(res.Controllers, want) {
		t.Errorf("kubectl canary version -o json: %+v; want the plugin's version and the controller %+v", res, want)
	}
}
