package manifests

import (
	"bufio"
	"bytes"
	"fmt"
	"sort"
	"strings"

	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// Document is one YAML document of a file.
type Document struct {
	// Index counts documents from 1; Line is where the document starts.
	Index, Line int
	// APIVersion, Kind and Name as written.
	APIVersion, Kind, Name string
	// Object is the document as JSON-compatible values, integers as int64.
	Object map[string]any
	// JSON is the document converted to JSON.
	JSON []byte
	// Problems found by Check.
	Problems []Problem
}

// Problem is one finding in a document.
type Problem struct {
	// Field is the path of the field at fault, such as
	// "spec.analysis.stepWeight"; empty for the whole document.
	Field   string
	Message string
	// Warning: worth saying, but the API server would accept it.
	Warning bool
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// Valid reports whether the document has no problem other than warnings.
func (d *Document) Valid() bool {
	for _, p := range d.Problems {
		if !p.Warning {
			return false
		}
	}
	return true
}

// Ref names the document in messages: "Canary podinfo (document 1, line 1)".
func (d *Document) Ref() string {
	name := d.Name
	if name == "" {
		name = "(no name)"
	}
	kind := d.Kind
	if kind == "" {
		kind = "object"
	}
	return fmt.Sprintf("%s %s (document %d, line %d)", kind, name, d.Index, d.Line)
}

// Add records a problem.
func (d *Document) Add(field, format string, args ...any) {
	d.Problems = append(d.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Read splits a multi-document YAML file and decodes each document. A
// syntax error names the document and its line in the file.
func Read(data []byte) ([]*Document, error) {
	var out []*Document
	for i, part := range split(data) {
		doc := &Document{Index: i + 1, Line: part.line}
		j, err := yaml.YAMLToJSONStrict(part.data)
		if err != nil {
			return nil, fmt.Errorf("document %d (line %d): %s", doc.Index, doc.Line, yamlError(err, part.line))
		}
		if err := utiljson.Unmarshal(j, &doc.Object); err != nil || doc.Object == nil {
			return nil, fmt.Errorf("document %d (line %d): not a YAML mapping (an object with apiVersion, kind and metadata)", doc.Index, doc.Line)
		}
		doc.JSON = j
		doc.APIVersion, _ = doc.Object["apiVersion"].(string)
		doc.Kind, _ = doc.Object["kind"].(string)
		if md, ok := doc.Object["metadata"].(map[string]any); ok {
			doc.Name, _ = md["name"].(string)
		}
		out = append(out, doc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no YAML document found")
	}
	return out, nil
}

type part struct {
	data []byte
	line int
}

// split cuts a file at "---" lines, keeping where each document starts and
// dropping documents with only comments or blanks.
func split(data []byte) []part {
	var parts []part
	var cur bytes.Buffer
	start, n, content := 1, 0, false
	flush := func() {
		if content {
			parts = append(parts, part{data: bytes.Clone(cur.Bytes()), line: start})
		}
		cur.Reset()
		content = false
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimPrefix(line, "---")) == "" {
			flush()
			start = n + 1
			continue
		}
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") && !content {
			content = true
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return parts
}

// yamlError rewrites "yaml: line N: ..." to the line in the file.
func yamlError(err error, start int) string {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	var n int
	var rest string
	if k, _ := fmt.Sscanf(msg, "yaml: line %d:", &n); k == 1 {
		if i := strings.Index(msg, ":"); i >= 0 {
			if j := strings.Index(msg[i+1:], ":"); j >= 0 {
				rest = strings.TrimSpace(msg[i+1+j+1:])
			}
		}
		return fmt.Sprintf("line %d: %s", start+n-1, rest)
	}
	return msg
}

// Check validates a document of the schemas' group: its version and kind,
// metadata.name, unknown fields, the OpenAPI schema and the validation
// rules. It reports whether the document belongs to the group; documents
// of other groups are left alone.
func (s *Schemas) Check(d *Document) bool {
	group, version, _ := strings.Cut(d.APIVersion, "/")
	if group != s.group {
		return false
	}
	ks := s.byKind[d.Kind+"/"+version]
	switch {
	case s.versions[d.Kind] == nil:
		d.Add("kind", "%q is not a kind of %s; valid kinds: %s", d.Kind, s.group, strings.Join(s.Kinds(), ", "))
		return true
	case ks == nil:
		d.Add("apiVersion", "%s does not serve %s; valid: %s/%s", d.APIVersion, d.Kind, s.group, strings.Join(s.versions[d.Kind], ", "+s.group+"/"))
		return true
	}
	if d.Name == "" {
		if md, _ := d.Object["metadata"].(map[string]any); md == nil || md["generateName"] == nil {
			d.Add("metadata.name", "required")
		}
	}
	obj := deepCopy(d.Object)
	unknown := pruning.PruneWithOptions(obj, ks.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	sort.Strings(unknown)
	for _, f := range unknown {
		d.Add(f, "unknown field (check the spelling; the API server would drop it silently or reject it with strict field validation)")
	}
	s.validateOpenAPI(d, ks, obj)
	d.Problems = append(d.Problems, checkRules(ks.structural, obj)...)
	return true
}

// validateOpenAPI runs the schema validator the API server uses.
func (s *Schemas) validateOpenAPI(d *Document, ks *kindSchema, obj map[string]any) {
	res := validate.NewSchemaValidator(ks.openAPI, nil, "", strfmt.Default).Validate(obj)
	for _, err := range res.Errors {
		field, msg := "", err.Error()
		if ve, ok := err.(*errors.Validation); ok {
			field = ve.Name
			msg = strings.TrimSpace(strings.TrimPrefix(msg, ve.Name))
			msg = strings.TrimSpace(strings.TrimPrefix(msg, "in body"))
		}
		d.Add(field, "%s", msg)
	}
}

// deepCopy copies JSON-compatible values, so pruning leaves the document
// as written.
func deepCopy(m map[string]any) map[string]any {
	return copyValue(m).(map[string]any)
}

func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = copyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}
