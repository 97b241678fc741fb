package charts_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Flux's helm-controller renders and installs a chart much as `helm
// install` does, but a template that calls lookup renders differently in
// dry runs (`helm template`, diff previews), .Release.IsInstall is false on
// every upgrade and rollback, hook objects escape drift detection and
// health checks, and files outside the chart are not in the artifact Flux
// builds from a Git path.
func TestTemplatesAvoidWhatFluxBreaks(t *testing.T) {
	forbidden := regexp.MustCompile(`\blookup\b|\.Release\.IsInstall|\.Release\.IsUpgrade|helm\.sh/hook|\.Files\.Get\s+"\.\./`)
	for _, chart := range []string{warbler, loadtester} {
		files, err := filepath.Glob(filepath.Join(chartDir(chart), "templates", "*"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < 5 {
			t.Fatalf("chart %s has %d template files", chart, len(files))
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(data), "\n") {
				if m := forbidden.FindString(line); m != "" {
					t.Errorf("%s:%d uses %s: %s", f, i+1, m, strings.TrimSpace(line))
				}
			}
		}
	}
}

// The HelmReleases of docs/examples/flux-helmrelease.yaml name charts that
// exist, and their values lint clean and render.
func TestFluxExampleRenders(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(env.Root, "docs", "examples", "flux-helmrelease.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var releases int
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("docs/examples/flux-helmrelease.yaml: %v\n%s", err, doc)
		}
		u := unstructured.Unstructured{Object: obj}
		if u.GetKind() != "HelmRelease" {
			continue
		}
		releases++
		path, _, _ := unstructured.NestedString(obj, "spec", "chart", "spec", "chart")
		chart := strings.TrimPrefix(path, "./charts/")
		if chart != warbler && chart != loadtester {
			t.Errorf("HelmRelease %s: chart %q is not ./charts/warbler or ./charts/loadtester", u.GetName(), path)
			continue
		}
		release, _, _ := unstructured.NestedString(obj, "spec", "releaseName")
		values, _, _ := unstructured.NestedMap(obj, "spec", "values")
		for _, err := range lint(chart, merge(values)).Errors {
			t.Errorf("HelmRelease %s: helm lint --strict: %v", u.GetName(), err)
		}
		r := render(t, chart, release, u.GetNamespace(), values)
		if len(r.kinds("Deployment")) != 1 {
			t.Errorf("HelmRelease %s renders %s", u.GetName(), r)
		}
	}
	if releases != 3 {
		t.Errorf("found %d HelmReleases, want the controller, a loadtester and seed 003's helm-tester", releases)
	}
}
