package images

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"path"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/uuid"
	"github.com/package-url/packageurl-go"
)

// SBOMMediaType is the media type of the SBOMs, and the artifactType of
// the referrers that carry them.
const SBOMMediaType = "application/vnd.cyclonedx+json"

// sbomInput is what an image's SBOM lists.
type sbomInput struct {
	image    string // repository/name, such as ghcr.io/warbler-dev/warbler
	version  string
	digest   v1.Hash // of the platform image manifest
	platform v1.Platform
	created  time.Time
	// programs maps a path in the image to the Go binary it holds.
	programs map[string]string
	packages []debPackage
	distro   string // debian-13
}

// sbom writes a CycloneDX 1.6 SBOM: the image as the described component;
// each Go program (from its build information) with its modules and the
// standard library; each Debian package with its version and architecture.
// Everything is sorted and the serial number derives from the image
// digest, so the same image gives the same document.
func sbom(in sbomInput) ([]byte, error) {
	imageRef := packageurl.NewPackageURL(packageurl.TypeOCI, "", path.Base(in.image), in.digest.String(),
		packageurl.QualifiersFromMap(map[string]string{
			"repository_url": in.image, "arch": in.platform.Architecture, "tag": in.version,
		}), "").ToString()
	c := components{byRef: map[string]cdx.Component{}, deps: map[string][]string{}}
	var top []string
	for _, p := range sortedKeys(in.programs) {
		ref, err := c.program(p, in.programs[p])
		if err != nil {
			return nil, err
		}
		top = append(top, ref)
	}
	for _, p := range in.packages {
		top = append(top, c.add(debComponent(p, in.distro)))
	}
	c.deps[imageRef] = top

	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(imageRef)).String()
	bom.Metadata = &cdx.Metadata{
		Timestamp: in.created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "warbler hack/images", Version: in.version,
		}}},
		Component: &cdx.Component{
			BOMRef: imageRef, Type: cdx.ComponentTypeContainer, Name: in.image, Version: in.version, PackageURL: imageRef,
		},
	}
	bom.Components, bom.Dependencies = c.sorted()
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// components collects SBOM components by bom-ref (their package URL), so
// a module two programs share is listed once.
type components struct {
	byRef map[string]cdx.Component
	deps  map[string][]string
}

func (c *components) add(comp cdx.Component) string {
	if _, ok := c.byRef[comp.BOMRef]; !ok {
		c.byRef[comp.BOMRef] = comp
	}
	return comp.BOMRef
}

// program adds the Go binary at imagePath (read from file) and what it was
// built from. Its component is the module holding its main package, at
// that package's subpath: pkg:golang/k8s.io/kubernetes@v1.36.3#cmd/kubectl.
func (c *components) program(imagePath, file string) (string, error) {
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("SBOM of %s: %w", imagePath, err)
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	main := bi.Main
	for _, m := range mods {
		if m.Path == bi.Path || strings.HasPrefix(bi.Path, m.Path+"/") {
			main = *m
		}
	}
	sub := strings.TrimPrefix(strings.TrimPrefix(bi.Path, main.Path), "/")
	comp := goComponent(main.Path, main.Version, sub)
	comp.Type, comp.Name = cdx.ComponentTypeApplication, path.Base(imagePath)
	comp.Evidence = &cdx.Evidence{Occurrences: &[]cdx.EvidenceOccurrence{{Location: imagePath}}}
	var props []cdx.Property
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS", "GOARCH", "CGO_ENABLED", "-trimpath", "vcs.revision", "vcs.modified", "vcs.time":
			props = append(props, cdx.Property{Name: "cdx:gomod:build:" + s.Key, Value: s.Value})
		}
	}
	comp.Properties = &props
	ref := c.add(comp)
	std := c.add(goComponent("stdlib", strings.TrimPrefix(bi.GoVersion, "go"), ""))
	deps := []string{std}
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		if m.Path != main.Path {
			deps = append(deps, c.add(goComponent(m.Path, m.Version, "")))
		}
	}
	c.deps[ref] = deps
	return ref, nil
}

// goComponent is a Go module (or the standard library) as a library.
func goComponent(modPath, version, subpath string) cdx.Component {
	ns, name := path.Split(modPath)
	purl := packageurl.NewPackageURL(packageurl.TypeGolang, strings.TrimSuffix(ns, "/"), name, version, nil, subpath).ToString()
	return cdx.Component{BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: modPath, Version: version, PackageURL: purl}
}

// debComponent is an installed Debian package, with its source package as
// the purl's upstream qualifier (what vulnerability scanners match on).
func debComponent(p debPackage, distro string) cdx.Component {
	q := map[string]string{"arch": p.Architecture, "distro": distro}
	if p.Source != "" {
		q["upstream"] = p.Source
	}
	purl := packageurl.NewPackageURL(packageurl.TypeDebian, "debian", p.Name, p.Version, packageurl.QualifiersFromMap(q), "").ToString()
	return cdx.Component{BOMRef: purl, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: purl}
}

// sorted returns the components and dependencies in bom-ref order.
func (c *components) sorted() (*[]cdx.Component, *[]cdx.Dependency) {
	comps := make([]cdx.Component, 0, len(c.byRef))
	for _, ref := range sortedKeys(c.byRef) {
		comps = append(comps, c.byRef[ref])
	}
	deps := make([]cdx.Dependency, 0, len(c.deps))
	for _, ref := range sortedKeys(c.deps) {
		on := append([]string(nil), c.deps[ref]...)
		sort.Strings(on)
		deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &on})
	}
	return &comps, &deps
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
