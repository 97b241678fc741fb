package metrics

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

func TestRender(t *testing.T) {
	full := Model{
		Name: "podinfo", Namespace: "prod", Target: "podinfo-deploy",
		Service: "podinfo-svc", Ingress: "podinfo-ing", Route: "podinfo-route", Interval: "2m",
		Variables: map[string]string{"path": "/api", "quantile": "0.95"},
	}
	bare := Model{Name: "podinfo", Namespace: "prod", Target: "podinfo-deploy"}
	tests := []struct {
		name    string
		query   string
		model   Model
		want    string
		wantErr []string // substrings of an ErrInvalidQuery; empty means success
	}{
		{name: "every function", model: full,
			query: "{{ name }} {{ namespace }} {{ target }} {{ service }} {{ ingress }} {{ route }} {{ interval }}",
			want:  "podinfo prod podinfo-deploy podinfo-svc podinfo-ing podinfo-route 2m"},
		{name: "service, ingress and route fall back to the target, interval to 1m", model: bare,
			query: "{{ service }} {{ ingress }} {{ route }} {{ interval }}",
			want:  "podinfo-deploy podinfo-deploy podinfo-deploy 1m"},
		{name: "variables are read as variables.key", model: full,
			query: `histogram_quantile({{ variables.quantile }}, rate(x{path="{{ variables.path }}"}[{{ interval }}]))`,
			want:  `histogram_quantile(0.95, rate(x{path="/api"}[2m]))`},
		{name: "whitespace collapses", model: full,
			query: "sum(\n\trate(\n\t\tx{ns=\"{{ namespace }}\"}[1m]\n\t)\n)\n",
			want:  `sum( rate( x{ns="prod"}[1m] ) )`},
		{name: "a missing variable is named with the template", model: full,
			query:   `rate(x{code="{{ variables.code }}"}[1m])`,
			wantErr: []string{`template latency.prod uses variable "code"`, "set: path, quantile"}},
		{name: "several missing variables are named at once, also inside if", model: bare,
			query:   `{{ if variables.a }}{{ variables.b }}{{ end }}{{ variables.a }}`,
			wantErr: []string{`variables "a", "b"`, "(set: none)"}},
		{name: "fields are not the way in, as in Flagger", model: full,
			query: "{{ .Namespace }}", wantErr: []string{"latency.prod", "not fields"}},
		{name: "an unknown function is an error", model: full,
			query: "{{ canary }}", wantErr: []string{`function "canary" not defined`}},
		{name: "a syntax error is an error", model: full,
			query: "{{ namespace ", wantErr: []string{"latency.prod:1: unclosed action"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render("latency.prod", tt.query, tt.model)
			if len(tt.wantErr) == 0 {
				if err != nil || got != tt.want {
					t.Fatalf("Render = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			checkErr(t, err, "invalid query", tt.wantErr...)
		})
	}
}

func TestNewModel(t *testing.T) {
	c := &flaggerv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "prod"},
		Spec: flaggerv1.CanarySpec{
			TargetRef:  flaggerv1.LocalObjectReference{Name: "podinfo-deploy"},
			Service:    flaggerv1.CanaryService{Name: "podinfo-svc"},
			IngressRef: &flaggerv1.IngressReference{Name: "podinfo-ing"},
		},
	}
	metric := flaggerv1.CanaryMetric{Name: "latency", Interval: "30s", TemplateVariables: map[string]string{"x": "1"}}
	got, err := Render("t", "{{ name }}.{{ namespace }} {{ target }} {{ service }} {{ ingress }} {{ route }} {{ interval }} {{ variables.x }}", NewModel(c, metric))
	if err != nil {
		t.Fatal(err)
	}
	if want := "podinfo.prod podinfo-deploy podinfo-svc podinfo-ing podinfo-deploy 30s 1"; got != want {
		t.Errorf("rendered %q, want %q", got, want)
	}
}

// recordingProvider answers every query with value and keeps the queries.
type recordingProvider struct {
	value   float64
	queries []string
}

func (r *recordingProvider) Query(_ context.Context, q string) (float64, error) {
	r.queries = append(r.queries, q)
	return r.value, nil
}

func (r *recordingProvider) IsOnline(context.Context) (bool, error) { return true, nil }

func TestEvaluateRendersThenQueries(t *testing.T) {
	p := &recordingProvider{value: 7}
	m := Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Variables: map[string]string{"x": "42"}}
	q, v, err := Evaluate(context.Background(), p, "t", `up{ns="{{ namespace }}", x="{{ variables.x }}"}`, m)
	if err != nil || v != 7 || q != `up{ns="prod", x="42"}` {
		t.Fatalf("Evaluate = %q, %v, %v", q, v, err)
	}
	if len(p.queries) != 1 || p.queries[0] != q {
		t.Errorf("provider ran %q, want [%q]", p.queries, q)
	}

	_, _, err = Evaluate(context.Background(), p, "t", `{{ variables.y }}`, m)
	if !errors.Is(err, ErrInvalidQuery) || len(p.queries) != 1 {
		t.Errorf("a template error must stop before the provider: err %v, queries %q", err, p.queries)
	}
}
