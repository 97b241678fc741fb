package manifests_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warbler-dev/warbler/canarycli/manifests"
)

// The embedded copy must be the chart's CRDs, byte for byte.
func TestEmbeddedCRDsMatchTheChart(t *testing.T) {
	embedded, err := manifests.CRDFiles()
	if err != nil {
		t.Fatal(err)
	}
	chart, err := filepath.Glob("../../charts/warbler/crds/*.yaml")
	if err != nil || len(chart) == 0 {
		t.Fatalf("no CRDs in charts/warbler/crds: %v", err)
	}
	for _, f := range chart {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := embedded[filepath.Base(f)]; !ok || !bytes.Equal(got, want) {
			t.Errorf("canarycli/manifests/crds/%s is stale or missing: run `go generate ./canarycli/manifests`", filepath.Base(f))
		}
		delete(embedded, filepath.Base(f))
	}
	for name := range embedded {
		t.Errorf("canarycli/manifests/crds/%s is not in the chart any more: run `go generate ./canarycli/manifests` after deleting it", name)
	}
}

// Every CEL rule of the schemas has a Go rendering.
func TestEveryValidationRuleIsCheckedOffline(t *testing.T) {
	s, err := manifests.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rules := s.Rules()
	if len(rules) == 0 {
		t.Fatal("the schemas hold no validation rules; the walk is broken")
	}
	for _, r := range rules {
		if !manifests.KnownRule(r) {
			t.Errorf("validation rule %q has no offline check: add it to canarycli/manifests/rules.go", r)
		}
	}
}

func check(t *testing.T, data string) []*manifests.Document {
	t.Helper()
	s, err := manifests.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := manifests.Read([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		s.Check(d)
	}
	return docs
}

// The API server's own test manifests: every valid one passes, every
// invalid one fails.
func TestAPITestdata(t *testing.T) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("../../api/v1beta1/testdata", dir, "*.yaml"))
		if len(files) == 0 {
			t.Fatalf("no files in api/v1beta1/testdata/%s", dir)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range check(t, string(data)) {
				if d.Valid() != (dir == "valid") {
					t.Errorf("%s/%s: valid=%v, problems %v", dir, filepath.Base(f), d.Valid(), d.Problems)
				}
			}
		}
	}
}

const canaryHead = `apiVersion: flagger.app/v1beta1
kind: Canary
metadata:
  name: podinfo
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: podinfo
  service:
    port: 9898
`

func TestProblemsNameTheField(t *testing.T) {
	cases := []struct {
		name, analysis, want string
	}{
		{"bound", "    interval: 1m\n    threshold: 5\n    stepWeight: 120\n", "spec.analysis.stepWeight: should be less than or equal to 100"},
		{"unknown field", "    interval: 1m\n    threshold: 5\n    stepweight: 10\n", "spec.analysis.stepweight: unknown field"},
		{"rule", "    interval: 1m\n    threshold: 5\n    stepWeight: 10\n    iterations: 3\n", "spec.analysis: set exactly one of analysis.iterations"},
		{"pattern", "    interval: 1h\n    threshold: 5\n    stepWeight: 10\n", "spec.analysis.interval: should match"},
		{"webhook url", "    interval: 1m\n    threshold: 5\n    stepWeight: 10\n    webhooks:\n    - name: gate\n      url: loadtester/gate/check\n", "spec.analysis.webhooks[0].url: webhook url must be an absolute http or https URL"},
		{"enum", "    interval: 1m\n    threshold: 5\n    stepWeight: 10\n    alerts:\n    - name: a\n      severity: critical\n      providerRef:\n        name: slack\n", "spec.analysis.alerts[0].severity: should be one of"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := check(t, canaryHead+"  analysis:\n"+tc.analysis)[0]
			var got []string
			for _, p := range d.Problems {
				got = append(got, p.String())
			}
			if d.Valid() || !strings.Contains(strings.Join(got, "\n"), tc.want) {
				t.Errorf("problems %q, want one containing %q", got, tc.want)
			}
		})
	}
}

func TestReadErrorsNameTheLine(t *testing.T) {
	_, err := manifests.Read([]byte("apiVersion: v1\nkind: ConfigMap\n---\n# second\napiVersion: flagger.app/v1beta1\nkind: Canary\nspec:\n  a: b\n c: d\n"))
	if err == nil || !strings.Contains(err.Error(), "document 2 (line 4): line 8: did not find expected key") {
		t.Errorf("error %v, want document 2 starting at line 4 and the line in the file", err)
	}
}

func TestOtherGroupsAreLeftAlone(t *testing.T) {
	s, _ := manifests.Embedded()
	docs, err := manifests.Read([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Check(docs[0]) || len(docs[0].Problems) > 0 {
		t.Errorf("a Deployment was checked: %v", docs[0].Problems)
	}
}
