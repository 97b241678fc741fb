package manifests

import (
	"fmt"
	"net/url"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
)

// rule is a Go rendering of one CEL rule; self is the value at the rule's
// place in the object, after the API server's defaulting.
type rule func(self any) bool

// rules maps each CEL rule of the schemas, with its whitespace collapsed,
// to its Go rendering.
var rules = map[string]rule{
	"has(self.address) || has(self.secretRef)": func(self any) bool {
		return has(self, "address") || has(self, "secretRef")
	},
	"[has(self.iterations), has(self.stepWeight), has(self.stepWeights)].filter(x, x).size() == 1": func(self any) bool {
		n := 0
		for _, f := range []string{"iterations", "stepWeight", "stepWeights"} {
			if has(self, f) {
				n++
			}
		}
		return n == 1
	},
	"!has(self.match) || size(self.match) == 0 || has(self.iterations)": func(self any) bool {
		return size(field(self, "match")) == 0 || has(self, "iterations")
	},
	"!has(self.thresholdRange) || !has(self.thresholdRange.min) || !has(self.thresholdRange.max) || self.thresholdRange.min <= self.thresholdRange.max": func(self any) bool {
		r := field(self, "thresholdRange")
		lo, okLo := number(field(r, "min"))
		hi, okHi := number(field(r, "max"))
		return !okLo || !okHi || lo <= hi
	},
	"!has(self.primaryCookieName) || self.primaryCookieName != self.cookieName": func(self any) bool {
		return !has(self, "primaryCookieName") || field(self, "primaryCookieName") != field(self, "cookieName")
	},
	"isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')": func(self any) bool {
		s, _ := self.(string)
		u, err := url.ParseRequestURI(s)
		return err == nil && u.Host != "" && (u.Scheme == "http" || u.Scheme == "https")
	},
	"!(has(self.delegation) && self.delegation) || (!has(self.hosts) || size(self.hosts) == 0) && (!has(self.gateways) || size(self.gateways) == 0)": func(self any) bool {
		return field(self, "delegation") != true || size(field(self, "hosts")) == 0 && size(field(self, "gateways")) == 0
	},
	"(has(self.baseline) && self.baseline.enabled) || !has(self.metrics) || !self.metrics.exists(m, has(m.judge) || (has(m.compare) && m.compare.against == 'Baseline'))": func(self any) bool {
		if baselineEnabled(self) {
			return true
		}
		for _, m := range list(field(self, "metrics")) {
			if has(m, "judge") || field(field(m, "compare"), "against") == "Baseline" {
				return false
			}
		}
		return true
	},
	"!has(self.judge) || (has(self.metrics) && self.metrics.exists(m, has(m.judge)))": func(self any) bool {
		if !has(self, "judge") {
			return true
		}
		for _, m := range list(field(self, "metrics")) {
			if has(m, "judge") {
				return true
			}
		}
		return false
	},
	"!has(self.baseline) || !self.baseline.enabled || !has(self.iterations)": func(self any) bool {
		return !baselineEnabled(self) || !has(self, "iterations")
	},
	"!has(self.baseline) || !self.baseline.enabled || !has(self.mirror) || !self.mirror": func(self any) bool {
		return !baselineEnabled(self) || field(self, "mirror") != true
	},
	"!has(self.baseline) || !self.baseline.enabled || has(self.iterations) || (has(self.stepWeights) ? self.stepWeights[size(self.stepWeights) - 1] <= 50 : (has(self.maxWeight) && self.maxWeight <= 50))": func(self any) bool {
		if !baselineEnabled(self) || has(self, "iterations") {
			return true
		}
		if steps := list(field(self, "stepWeights")); len(steps) > 0 {
			last, _ := number(steps[len(steps)-1])
			return last <= 50
		}
		w, ok := number(field(self, "maxWeight"))
		return ok && w <= 50
	},
	"self.marginalScore <= self.passScore": func(self any) bool {
		// both are defaulted before the rule runs
		lo, okLo := number(field(self, "marginalScore"))
		hi, okHi := number(field(self, "passScore"))
		if !okLo {
			lo = 75
		}
		if !okHi {
			hi = 95
		}
		return lo <= hi
	},
	"!has(self.compare) || has(self.thresholdRange)": func(self any) bool {
		return !has(self, "compare") || has(self, "thresholdRange")
	},
	"!has(self.judge) || !has(self.compare) && !has(self.thresholdRange) && !has(self.threshold)": func(self any) bool {
		return !has(self, "judge") || !has(self, "compare") && !has(self, "thresholdRange") && !has(self, "threshold")
	},
	"(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true": func(self any) bool {
		// group and kind default to "" and Service before the rule runs
		group, kind := field(self, "group"), field(self, "kind")
		if group == nil {
			group = ""
		}
		if kind == nil {
			kind = "Service"
		}
		return !(group == "" && kind == "Service") || has(self, "port")
	},
}

// KnownRule reports whether a CEL rule is checked offline.
func KnownRule(text string) bool {
	_, ok := rules[normalize(text)]
	return ok
}

func normalize(text string) string { return strings.Join(strings.Fields(text), " ") }

func has(v any, name string) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[name]
	return ok
}

func baselineEnabled(analysis any) bool {
	return field(field(analysis, "baseline"), "enabled") == true
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func field(v any, name string) any {
	if m, ok := v.(map[string]any); ok {
		return m[name]
	}
	return nil
}

func size(v any) int {
	switch t := v.(type) {
	case []any:
		return len(t)
	case map[string]any:
		return len(t)
	case string:
		return len(t)
	}
	return 0
}

func number(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case float64:
		return t, true
	}
	return 0, false
}

// checkRules evaluates the validation rules of the schema over obj.
func checkRules(st *structuralschema.Structural, obj any) []Problem {
	var out []Problem
	walkValue(st, obj, nil, &out)
	return out
}

func walkValue(st *structuralschema.Structural, v any, path []string, out *[]Problem) {
	if st == nil || v == nil {
		return
	}
	for _, r := range st.XValidations {
		*out = append(*out, evaluate(r, v, path)...)
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if p, ok := st.Properties[k]; ok {
				walkValue(&p, e, append(path, k), out)
			} else if st.AdditionalProperties != nil {
				walkValue(st.AdditionalProperties.Structural, e, append(path, k), out)
			}
		}
	case []any:
		for i, e := range t {
			walkValue(st.Items, e, append(path, fmt.Sprintf("[%d]", i)), out)
		}
	}
}

func evaluate(r apiextensionsv1.ValidationRule, v any, path []string) []Problem {
	f, ok := rules[normalize(r.Rule)]
	where := joinPath(path)
	if r.FieldPath != "" {
		where += r.FieldPath
	}
	if !ok {
		return []Problem{{Field: where, Warning: true, Message: fmt.Sprintf("validation rule %q is not checked offline; the API server will check it", r.Rule)}}
	}
	if f(v) {
		return nil
	}
	msg := r.Message
	if msg == "" {
		msg = "failed rule: " + r.Rule
	}
	return []Problem{{Field: where, Message: msg}}
}

// joinPath prints a path as "spec.analysis.metrics[0]".
func joinPath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if b.Len() > 0 && !strings.HasPrefix(p, "[") {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}
