package metrics

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// DefaultInterval is the query range of a metric that sets none.
const DefaultInterval = "1m"

// Model holds what a query template can refer to. Templates read it through
// functions, as in Flagger: {{ namespace }}, {{ target }},
// {{ variables.key }}, not {{ .Namespace }}; Warbler adds {{ primary }},
// {{ baseline }} and {{ side }}.
type Model struct {
	// Name and Namespace of the Canary: {{ name }}, {{ namespace }}.
	Name, Namespace string
	// Target is the name of the target workload: {{ target }}.
	Target string
	// Service, Ingress and Route are the apex service, the ingressRef and
	// the routeRef names: {{ service }}, {{ ingress }}, {{ route }}. Each
	// falls back to Target when empty.
	Service, Ingress, Route string
	// Interval is the metric's range, such as 1m: {{ interval }}.
	// DefaultInterval when empty.
	Interval string
	// Variables are the metric's templateVariables: {{ variables.key }}.
	Variables map[string]string
	// Primary and Baseline name the primary and the baseline workloads:
	// {{ primary }}, {{ baseline }}. Each falls back to Target plus its
	// suffix when empty.
	Primary, Baseline string
	// Side is the workload the query runs for: {{ side }}, SideCanary
	// when empty. ForSide sets it.
	Side Side

	canaryTarget string // Target before ForSide
}

// Side is the workload a query runs for: the canary, or the other side of
// a relative check or of the judge.
type Side string

// The sides.
const (
	SideCanary   Side = "canary"
	SidePrimary  Side = "primary"
	SideBaseline Side = "baseline"
)

// ForSide returns the Model of the same metric for another side: {{ target }}
// names that side's workload, so a template written for the canary queries
// the primary or the baseline unchanged, and {{ side }} says which.
func (m Model) ForSide(s Side) Model {
	if m.side() == SideCanary {
		// the names that fall back to the target keep the canary's
		m.canaryTarget = m.Target
		m.Service, m.Ingress, m.Route = orTarget(m.Service, m.Target), orTarget(m.Ingress, m.Target), orTarget(m.Route, m.Target)
	}
	switch s {
	case SidePrimary:
		m.Target = m.primary()
	case SideBaseline:
		m.Target = m.baseline()
	}
	m.Side = s
	return m
}

// canary is the canary's Model of a Model made by ForSide.
func (m Model) canary() Model {
	if m.side() == SideCanary {
		return m
	}
	m.Target, m.Side = m.canaryTarget, SideCanary
	return m
}

func (m Model) primary() string  { return cmp.Or(m.Primary, m.Target+flaggerv1.PrimarySuffix) }
func (m Model) baseline() string { return cmp.Or(m.Baseline, m.Target+flaggerv1.BaselineSuffix) }

func (m Model) side() Side { return cmp.Or(m.Side, SideCanary) }

// NewModel returns the Model of one metric of a canary.
func NewModel(c *flaggerv1.Canary, metric flaggerv1.CanaryMetric) Model {
	m := Model{
		Name:      c.Name,
		Namespace: c.Namespace,
		Target:    c.Spec.TargetRef.Name,
		Service:   c.ApexServiceName(),
		Interval:  metric.Interval,
		Variables: metric.TemplateVariables,
		Primary:   c.PrimaryName(),
		Baseline:  c.BaselineName(),
	}
	if c.Spec.IngressRef != nil {
		m.Ingress = c.Spec.IngressRef.Name
	}
	if c.Spec.RouteRef != nil {
		m.Route = c.Spec.RouteRef.Name
	}
	if ref := c.Spec.TargetRef; ref.Kind == "Service" && ref.APIVersion == "serving.knative.dev/v1" {
		// Flagger's {{ route }} of a Knative target is its latest created
		// revision, the canary; the controller records its name as the
		// revision under analysis
		m.Route = c.Status.LastAppliedSpec
	}
	return m
}

func orTarget(v, target string) string {
	if v == "" {
		return target
	}
	return v
}

func (m Model) funcs() template.FuncMap {
	interval := m.Interval
	if interval == "" {
		interval = DefaultInterval
	}
	vars := m.Variables
	if vars == nil {
		vars = map[string]string{}
	}
	return template.FuncMap{
		"name":      func() string { return m.Name },
		"namespace": func() string { return m.Namespace },
		"target":    func() string { return m.Target },
		"service":   func() string { return orTarget(m.Service, m.Target) },
		"ingress":   func() string { return orTarget(m.Ingress, m.Target) },
		"route":     func() string { return orTarget(m.Route, m.Target) },
		"interval":  func() string { return interval },
		"variables": func() map[string]string { return vars },
		"primary":   m.primary,
		"baseline":  m.baseline,
		"side":      func() string { return string(m.side()) },
	}
}

// Render executes a query template with the values of m, and collapses
// runs of whitespace into one space. name identifies the template in
// errors (for example "metrictemplate latency.prod"). Errors wrap
// ErrInvalidQuery: a syntax error, an unknown function, or a
// {{ variables.x }} that the metric's templateVariables do not set.
func Render(name, query string, m Model) (string, error) {
	q, err := render(name, query, m)
	return collapseSpace(q), err
}

// render is Render without collapsing whitespace, for the providers whose
// languages are line-oriented (see multiline).
func render(name, query string, m Model) (string, error) {
	t, err := template.New(name).Funcs(m.funcs()).Option("missingkey=error").Parse(query)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidQuery, err)
	}
	if err := checkVariables(name, t, m.Variables); err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, nil); err != nil {
		hint := ""
		if strings.Contains(err.Error(), "nil data") {
			hint = "; the values are functions, as in {{ namespace }}, not fields"
		}
		return "", fmt.Errorf("%w: %v%s", ErrInvalidQuery, err, hint)
	}
	return strings.TrimSpace(b.String()), nil
}

// multiline is a Provider whose query language is line-oriented: a
// SignalFlow program is a list of statements, one per line, and Flux has
// line comments. Their queries keep their line breaks (Flagger does not
// collapse them either).
type multiline interface{ multiline() }

// checkVariables reports every {{ variables.x }} of t that vars lacks, so
// that the error names the variables rather than quoting text/template's
// "map has no entry for key".
func checkVariables(name string, t *template.Template, vars map[string]string) error {
	var missing []string
	walkTemplate(t.Root, func(key string) {
		if _, ok := vars[key]; !ok && !slices.Contains(missing, key) {
			missing = append(missing, key)
		}
	})
	if len(missing) == 0 {
		return nil
	}
	set := "none"
	if len(vars) > 0 {
		set = strings.Join(sortedKeys(vars), ", ")
	}
	noun := "variable"
	if len(missing) > 1 {
		noun = "variables"
	}
	return fmt.Errorf("%w: template %s uses %s %s that the metric's templateVariables do not set (set: %s)",
		ErrInvalidQuery, name, noun, quoteAll(missing), set)
}

func quoteAll(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = fmt.Sprintf("%q", k)
	}
	return strings.Join(q, ", ")
}

// walkTemplate calls used with the key of every variables.key chain in the
// tree under n.
func walkTemplate(n parse.Node, used func(key string)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n != nil {
			for _, c := range n.Nodes {
				walkTemplate(c, used)
			}
		}
	case *parse.ActionNode:
		walkTemplate(n.Pipe, used)
	case *parse.PipeNode:
		if n != nil {
			for _, c := range n.Cmds {
				walkTemplate(c, used)
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			walkTemplate(a, used)
		}
	case *parse.ChainNode:
		if id, ok := n.Node.(*parse.IdentifierNode); ok && id.Ident == "variables" && len(n.Field) > 0 {
			used(n.Field[0])
		}
		walkTemplate(n.Node, used)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, used)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, used)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, used)
	case *parse.TemplateNode:
		walkTemplate(n.Pipe, used)
	}
}

func walkBranch(b *parse.BranchNode, used func(key string)) {
	walkTemplate(b.Pipe, used)
	walkTemplate(b.List, used)
	walkTemplate(b.ElseList, used)
}

// canaryQuerier is a Provider whose answer depends on the canary a query
// is for, not only on the query: the loadtest provider reads that canary's
// results.
type canaryQuerier interface {
	queryCanary(ctx context.Context, namespace, name, q string) (float64, error)
}

// Evaluate renders a MetricTemplate query with m and runs it on p. It
// returns the rendered query, which is what the check records, and its
// value. Providers that read per-canary data (loadtest) get the canary from
// m, so the template's query can be a bare field name such as p99;
// providers whose query covers a time range (datadog, cloudwatch,
// newrelic, dynatrace, splunk) get the metric's interval. Errors
// are Render's and p's, with their classes (ErrInvalidQuery, ErrNoValues).
func Evaluate(ctx context.Context, p Provider, name, query string, m Model) (string, float64, error) {
	renderer := Render
	if _, ok := p.(multiline); ok {
		renderer = render
	}
	q, err := renderer(name, query, m)
	if err != nil {
		return "", 0, err
	}
	var v float64
	switch p := p.(type) {
	case canaryQuerier:
		if m.side() != SideCanary {
			return q, 0, fmt.Errorf("%w: this provider reads the canary's own results; it cannot query the %s (compare); use a prometheus template", ErrInvalidQuery, m.side())
		}
		v, err = p.queryCanary(ctx, m.Namespace, m.Name, q)
	case windowQuerier:
		var d time.Duration
		if d, err = parseInterval(m.Interval); err == nil {
			v, err = p.queryWindow(ctx, q, d)
		}
	default:
		v, err = p.Query(ctx, q)
	}
	return q, v, err
}

// EvaluateRange renders a query with m, as Evaluate, and runs it on p over
// [start, end] every step: the samples of a judged metric, NaN left out. A
// provider that cannot run range queries is an ErrInvalidQuery.
func EvaluateRange(ctx context.Context, p Provider, name, query string, m Model, start, end time.Time, step time.Duration) (string, []float64, error) {
	q, err := Render(name, query, m)
	if err != nil {
		return "", nil, err
	}
	rq, ok := p.(RangeQuerier)
	if !ok {
		return q, nil, fmt.Errorf("%w: this provider returns one value, not samples over time; judged metrics need a prometheus provider", ErrInvalidQuery)
	}
	v, err := rq.QueryRange(ctx, q, start, end, step)
	return q, v, err
}
