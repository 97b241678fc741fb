package charts_test

import (
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/lint/support"
)

// lint runs `helm lint --strict` on a chart with values.
func lint(name string, values map[string]any) *action.LintResult {
	l := action.NewLint()
	l.Strict, l.Namespace, l.KubeVersion = true, "warbler-system", kubeVersion
	return l.Run([]string{chartDir(name)}, values)
}

func TestLintStrictIsClean(t *testing.T) {
	for _, name := range []string{warbler, loadtester} {
		for _, tc := range []struct {
			values string
			vals   map[string]any
		}{
			{"default", nil},
			{"full", fullValues(t, name)},
		} {
			t.Run(name+"/"+tc.values, func(t *testing.T) {
				res := lint(name, tc.vals)
				if res.TotalChartsLinted != 1 {
					t.Fatalf("linted %d charts, want 1: %v", res.TotalChartsLinted, res.Errors)
				}
				for _, m := range res.Messages {
					// The only INFO helm lint gives a clean chart here is that an
					// icon is recommended; the charts have no hosted icon yet.
					if m.Severity == support.InfoSev && strings.Contains(m.Err.Error(), "icon is recommended") {
						continue
					}
					t.Errorf("helm lint: %s", m)
				}
				for _, err := range res.Errors {
					t.Errorf("helm lint --strict: %v", err)
				}
			})
		}
	}
}

// Values a user can get wrong are refused with a message that says what to
// change, by `helm template`, `helm install` and Flux alike. Type errors
// come from values.schema.json, which `helm lint` checks too; rules across
// values are `fail` calls, which `helm lint` only logs.
func TestBadValuesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name, chart string
		values      func() map[string]any // lint changes the map it is given
		want        string
		schema      bool
	}{
		{"replicas without leader election", warbler,
			func() map[string]any { return map[string]any{"replicas": 2} },
			"replicas: 2 needs leaderElection.enabled=true", false},
		{"Flagger's leaderElection.replicaCount without leader election", warbler,
			func() map[string]any { return map[string]any{"leaderElection": map[string]any{"replicaCount": 3}} },
			"replicas: 3 needs leaderElection.enabled=true", false},
		{"tokens file without a Secret to read it from", loadtester,
			func() map[string]any {
				return map[string]any{"auth": map[string]any{"tokensFile": true, "bearerToken": "x"}}
			},
			`auth.tokensFile needs auth.existingSecret: a Secret with the key "tokens"`, false},
		{"unknown log level", warbler,
			func() map[string]any { return map[string]any{"logLevel": "verbose"} },
			"logLevel", true},
		{"replicas as a string", warbler,
			func() map[string]any { return map[string]any{"replicas": "two"} },
			"replicas", true},
		{"timeout that is not a Go duration", loadtester,
			func() map[string]any { return map[string]any{"timeout": "one hour"} },
			"timeout", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tryRender(tc.chart, "rel", "ns", tc.values()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("rendering %s with %v: want an error containing %q, got %v", tc.chart, tc.values(), tc.want, err)
			}
			if !tc.schema {
				return
			}
			var msgs []string
			for _, err := range lint(tc.chart, tc.values()).Errors {
				msgs = append(msgs, err.Error())
			}
			if !strings.Contains(strings.Join(msgs, "\n"), tc.want) {
				t.Errorf("helm lint of %s with %v: want an error containing %q, got %q", tc.chart, tc.values(), tc.want, msgs)
			}
		})
	}
}
