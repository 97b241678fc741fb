// Package charts_test checks the Helm charts in this folder the way a user
// meets them: `helm lint --strict`, the rendered manifests, a server-side
// dry run of every object against a real API server, and a real install and
// uninstall through the Helm SDK with pods turned Ready by kwok.
package charts_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/warbler-dev/warbler/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	env = testenv.New()
	os.Exit(env.Run(m))
}

// The charts, by folder name.
const (
	warbler    = "warbler"
	loadtester = "loadtester"
)

// kubeVersion is what rendering assumes in client-only mode: the version of
// the test cluster, and what a helm binary built against client-go v0.36
// reports.
var kubeVersion = &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}

func chartDir(name string) string { return filepath.Join(env.Root, "charts", name) }

func loadChart(t testing.TB, name string) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir(name))
	if err != nil {
		t.Fatalf("loading chart %s: %v", name, err)
	}
	return c
}

// fullValues reads the chart's ci/full-values.yaml, which turns every toggle
// on, and lays overrides over it.
func fullValues(t testing.TB, name string, overrides ...map[string]any) map[string]any {
	t.Helper()
	v, err := chartutil.ReadValuesFile(filepath.Join(chartDir(name), "ci", "full-values.yaml"))
	if err != nil {
		t.Fatalf("reading full values of %s: %v", name, err)
	}
	return merge(v.AsMap(), overrides...)
}

// merge lays each override over base, map by map, and returns a new map.
func merge(base map[string]any, overrides ...map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for _, o := range overrides {
		for k, v := range o {
			if vm, ok := v.(map[string]any); ok {
				if bm, ok := out[k].(map[string]any); ok {
					out[k] = merge(bm, vm)
					continue
				}
			}
			out[k] = v
		}
	}
	return out
}

// rendered is a chart rendered the way `helm template` does.
type rendered struct {
	objects []*unstructured.Unstructured
	notes   string
}

// render renders a chart client-side for release name in namespace.
func render(t testing.TB, name, release, namespace string, values map[string]any) rendered {
	t.Helper()
	r, err := tryRender(name, release, namespace, values)
	if err != nil {
		t.Fatalf("rendering %s: %v", name, err)
	}
	return r
}

func tryRender(name, release, namespace string, values map[string]any) (rendered, error) {
	c, err := loader.Load(chartDir(name))
	if err != nil {
		return rendered{}, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace, install.KubeVersion = release, namespace, kubeVersion
	rel, err := install.Run(c, values)
	if err != nil {
		return rendered{}, err
	}
	if len(rel.Hooks) > 0 {
		return rendered{}, fmt.Errorf("chart %s renders %d hooks; Flux runs only install/upgrade/test hooks and the charts need none", name, len(rel.Hooks))
	}
	var out rendered
	out.notes = rel.Info.Notes
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return rendered{}, fmt.Errorf("chart %s renders invalid YAML: %w\n%s", name, err, doc)
		}
		if len(m) == 0 {
			continue
		}
		out.objects = append(out.objects, &unstructured.Unstructured{Object: m})
	}
	return out, nil
}

// find returns the one rendered object of kind and name, or fails.
func (r rendered) find(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %s, rendered %d; objects: %s", kind, name, len(found), r)
		return nil
	}
	return found[0]
}

// kinds returns the rendered objects of kind.
func (r rendered) kinds(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) String() string {
	var names []string
	for _, o := range r.objects {
		names = append(names, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	return strings.Join(names, ", ")
}

// typed converts a rendered object into its Go type, refusing fields the
// type does not have (a typo in a template).
func typed[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}
