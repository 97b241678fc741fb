// Package manifests checks Warbler manifests offline against the CRD
// schemas the API server would enforce: the structural OpenAPI schema
// (types, enums, patterns, bounds, required fields), unknown fields, and
// the x-kubernetes-validations rules.
//
// The schemas are a copy of charts/warbler/crds embedded in the binary, so
// the kubectl plugin needs no cluster to lint. `make generate` does not
// refresh the copy; `go generate ./canarycli/manifests` does, and a test
// fails while the copy differs from the chart.
//
// The API server evaluates the validation rules with CEL. The CEL runtime
// is not a dependency of this module, so each rule of the schemas is
// implemented here in Go, keyed by its text; a test fails when the schemas
// hold a rule this package does not know, and at run time such a rule is
// reported as a warning rather than ignored.
package manifests

//go:generate sh -c "cp ../../charts/warbler/crds/*.yaml crds/"

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

//go:embed crds/*.yaml
var crdFiles embed.FS

// CRDFiles returns the embedded CRD files by base name, for the test that
// keeps them in step with the chart.
func CRDFiles() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := fs.WalkDir(crdFiles, "crds", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := crdFiles.ReadFile(p)
		out[path.Base(p)] = data
		return err
	})
	return out, err
}

// kindSchema is the schema of one kind and version.
type kindSchema struct {
	group, version, kind string
	structural           *structuralschema.Structural
	openAPI              *spec.Schema
}

// Schemas holds the structural schemas of the embedded CRDs by kind.
type Schemas struct {
	group    string
	versions map[string][]string // kind -> served versions
	byKind   map[string]*kindSchema
}

// Embedded loads the schemas of the embedded CRDs.
func Embedded() (*Schemas, error) {
	files, err := CRDFiles()
	if err != nil {
		return nil, err
	}
	s := &Schemas{versions: map[string][]string{}, byKind: map[string]*kindSchema{}}
	for name, data := range files {
		if err := s.add(name, data); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Schemas) add(file string, data []byte) error {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return fmt.Errorf("embedded CRD %s: %w", file, err)
	}
	s.group = crd.Spec.Group
	kind := crd.Spec.Names.Kind
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		s.versions[kind] = append(s.versions[kind], v.Name)
		var internal apiextensionsinternal.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return fmt.Errorf("embedded CRD %s: %w", file, err)
		}
		st, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return fmt.Errorf("embedded CRD %s: %w", file, err)
		}
		s.byKind[kind+"/"+v.Name] = &kindSchema{group: crd.Spec.Group, version: v.Name, kind: kind, structural: st, openAPI: st.ToKubeOpenAPI()}
	}
	return nil
}

// Kinds lists the kinds of the group, sorted.
func (s *Schemas) Kinds() []string {
	var out []string
	for k := range s.versions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Group is the API group of the schemas (flagger.app).
func (s *Schemas) Group() string { return s.group }

// Rules lists every validation rule of the schemas.
func (s *Schemas) Rules() []string {
	var out []string
	for _, k := range s.byKind {
		walkRules(k.structural, func(r apiextensionsv1.ValidationRule) { out = append(out, r.Rule) })
	}
	sort.Strings(out)
	return out
}

func walkRules(st *structuralschema.Structural, f func(apiextensionsv1.ValidationRule)) {
	if st == nil {
		return
	}
	for _, r := range st.XValidations {
		f(r)
	}
	for _, p := range st.Properties {
		walkRules(&p, f)
	}
	walkRules(st.Items, f)
	if st.AdditionalProperties != nil {
		walkRules(st.AdditionalProperties.Structural, f)
	}
}
