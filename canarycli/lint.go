package canarycli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/canarycli/manifests"
	"github.com/warbler-dev/warbler/providers/metrics"
	"github.com/warbler-dev/warbler/providers/routers"
)

// files is a repeatable -f flag.
type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

// register adds -f and --filename.
func (f *files) register(set *flag.FlagSet) {
	set.Var(f, "filename", "manifest `file`, '-' for stdin (repeatable)")
	alias(set, "f", "filename")
}

func (a *App) lintCmd() *command {
	var fs files
	var mesh string
	return &command{
		name: "lint", args: "-f FILE [-f FILE...] [-o json|yaml]", minArgs: 0, maxArgs: 0, offline: true, output: true,
		summary: "check Canary, MetricTemplate and AlertProvider manifests offline against the CRD schemas and the analysis rules",
		flags: func(set *flag.FlagSet) {
			fs.register(set)
			meshFlag(set, &mesh)
		},
		run: func(_ context.Context, _ []string) error {
			if len(fs) == 0 {
				return usagef("lint needs -f FILE")
			}
			return a.lint(fs, a.offlineProvider(mesh))
		},
	}
}

// readManifest reads a file, or stdin for "-".
func (a *App) readManifest(path string) ([]*manifests.Document, error) {
	var data []byte
	var err error
	if path == "-" {
		in := a.Stdin
		if in == nil {
			in = os.Stdin
		}
		data, err = io.ReadAll(in)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	docs, err := manifests.Read(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return docs, nil
}

func (a *App) lint(paths []string, mesh string) error {
	schemas, err := manifests.Embedded()
	if err != nil {
		return err
	}
	invalid, checked := 0, 0
	results := []LintResult{}
	files := map[string][]*manifests.Document{}
	for _, path := range paths {
		docs, err := a.readManifest(path)
		if err != nil {
			return err
		}
		files[path] = docs
	}
	templates := metricTemplates(files)
	for _, path := range paths {
		for _, d := range files[path] {
			res := LintResult{File: path, Document: d.Index, Line: d.Line, Kind: d.Kind, Name: d.Name}
			if !schemas.Check(d) {
				res.Skipped = true
				results = append(results, res)
				if a.g.output == "" {
					fmt.Fprintf(a.Stdout, "%s: %s: skipped, not a %s object\n", path, d.Ref(), schemas.Group())
				}
				continue
			}
			checked++
			if d.Kind == "Canary" && d.Valid() {
				checkCanary(d, mesh, templates)
			}
			if !d.Valid() {
				invalid++
			}
			res.Valid = d.Valid()
			for _, p := range d.Problems {
				res.Problems = append(res.Problems, LintProblem{Field: p.Field, Message: p.Message, Warning: p.Warning})
			}
			results = append(results, res)
			if a.g.output == "" {
				a.report(path, d)
			}
		}
	}
	if a.g.output != "" {
		if err := a.print(results); err != nil {
			return err
		}
	}
	if invalid > 0 {
		return fmt.Errorf("%d of %d %s objects invalid", invalid, checked, schemas.Group())
	}
	return nil
}

func (a *App) report(path string, d *manifests.Document) {
	verdict := "valid"
	if !d.Valid() {
		verdict = "invalid"
	}
	fmt.Fprintf(a.Stdout, "%s: %s: %s\n", path, d.Ref(), verdict)
	for _, p := range d.Problems {
		prefix := "  error: "
		if p.Warning {
			prefix = "  warning: "
		}
		fmt.Fprintln(a.Stdout, prefix+p.String())
	}
}

// checkCanary adds what the schema cannot express: the provider, the
// analysis's own validation (stepWeights increasing, metric sources,
// no-data policies, the baseline), with its notes as warnings, and whether
// relative and judged metrics can query the other side.
func checkCanary(d *manifests.Document, mesh string, templates map[string]string) {
	var c flaggerv1.Canary
	if err := json.Unmarshal(d.JSON, &c); err != nil {
		d.Add("", "cannot be read as a Canary: %v", err)
		return
	}
	if c.Spec.Provider != "" {
		if _, err := routers.New(c.Spec.Provider, routers.Deps{}); err != nil {
			d.Add("spec.provider", "%v", err)
			return
		}
	}
	spec, err := analysisSpec(&c, providerOf(&c, mesh), time.Second)
	var se *analysis.SpecError
	switch {
	case errors.As(err, &se):
		d.Add(se.Field, "%s", se.Msg)
	case err != nil:
		d.Add("spec", "%v", err)
	}
	for _, n := range spec.Notes {
		d.Problems = append(d.Problems, manifests.Problem{Field: "spec.analysis", Message: n, Warning: true})
	}
	if err == nil {
		checkSides(d, &c, metrics.BuiltinProvider(mesh, c.Spec.Provider), templates)
	}
}

// LintResult is one document of `lint -o json|yaml`.
type LintResult struct {
	File     string `json:"file"`
	Document int    `json:"document"`
	Line     int    `json:"line"`
	Kind     string `json:"kind,omitempty"`
	Name     string `json:"name,omitempty"`
	// Skipped: not a flagger.app object.
	Skipped  bool          `json:"skipped,omitempty"`
	Valid    bool          `json:"valid"`
	Problems []LintProblem `json:"problems,omitempty"`
}

// LintProblem is an error, or a warning, about a field.
type LintProblem struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Warning bool   `json:"warning,omitempty"`
}
