package canarycli

import (
	"encoding/json"
	"fmt"
	"strings"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli/manifests"
	"github.com/warbler-dev/warbler/providers/metrics"
)

// metricTemplates maps "<namespace>/<name>" of the MetricTemplates among
// the linted documents to their provider type.
func metricTemplates(files map[string][]*manifests.Document) map[string]string {
	out := map[string]string{}
	for _, docs := range files {
		for _, d := range docs {
			if d.Kind != "MetricTemplate" {
				continue
			}
			var t flaggerv1.MetricTemplate
			if json.Unmarshal(d.JSON, &t) == nil {
				out[t.Namespace+"/"+t.Name] = t.Spec.Provider.Type
			}
		}
	}
	return out
}

// checkSides reports relative and judged metrics whose query cannot run
// for the other side: a builtin query that reads the same for every side
// (nginx), a template whose provider reads the canary's own results
// (loadtest), or a judged template whose provider has no range queries.
// Templates that are not among the linted files are left to the
// controller.
func checkSides(d *manifests.Document, c *flaggerv1.Canary, builtinProvider string, templates map[string]string) {
	for i, m := range c.Spec.Analysis.Metrics {
		side, what := metrics.SideBaseline, "judge"
		switch {
		case m.Compare != nil:
			what = "compare"
			if m.Compare.Against == flaggerv1.ComparePrimary {
				side = metrics.SidePrimary
			}
		case m.Judge == nil:
			continue
		}
		field := fmt.Sprintf("spec.analysis.metrics[%d].%s", i, what)
		if _, builtin := metrics.BuiltinUnit(m.Name); builtin {
			model := metrics.NewModel(c, m).ForSide(side)
			if _, err := metrics.BuiltinQuery(builtinProvider, m.Name, model); err != nil {
				d.Add(field, "%s", unwrapInvalid(err))
			}
			continue
		}
		if m.TemplateRef == nil {
			continue
		}
		ns := m.TemplateRef.Namespace
		if ns == "" {
			ns = c.Namespace
		}
		typ, found := templates[ns+"/"+m.TemplateRef.Name]
		switch {
		case !found:
		case typ == metrics.TypeLoadtest:
			d.Add(field, "metric template %s uses provider loadtest, which reads the canary's own results; it cannot query the %s", m.TemplateRef.Name, side)
		case m.Judge != nil && typ != metrics.TypePrometheus:
			d.Add(field, "metric template %s uses provider %s, which returns one value, not samples over time; judged metrics need a prometheus provider", m.TemplateRef.Name, typ)
		}
	}
}

// unwrapInvalid drops the "invalid query: " prefix of a metrics error.
func unwrapInvalid(err error) string {
	return strings.TrimPrefix(err.Error(), metrics.ErrInvalidQuery.Error()+": ")
}
