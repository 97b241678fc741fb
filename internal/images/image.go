package images

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Source is the project's address, in the images' labels.
const Source = "https://github.com/warbler-dev/warbler"

// Labels of the images beyond the OCI ones.
const (
	// LabelPackages lists the Debian packages of an image, "name=version"
	// separated by spaces.
	LabelPackages = "dev.warbler.debian.packages"
)

// platformImage is one image for one platform, before it joins its index.
type platformImage struct {
	name     string
	platform v1.Platform
	image    v1.Image
	sbom     v1.Image // the referrer artifact whose subject is image
}

// layer is a layer with the history entry that says what it holds.
type layer struct {
	v1.Layer
	createdBy string
}

// spec is what goes into one image for one platform.
type spec struct {
	name, description string
	platform          v1.Platform
	layers            []layer
	// programs maps paths in the image to the binaries they hold.
	programs map[string]string
	packages []debPackage
	distro   string
}

// platform builds both images for p.
func (b *builder) platform(ctx context.Context, p v1.Platform) ([]platformImage, error) {
	bins, err := b.goBuild(ctx, p)
	if err != nil {
		return nil, err
	}
	rootPath, err := b.rootfs(ctx, p.Architecture)
	if err != nil {
		return nil, err
	}
	root, err := readRoot(rootPath)
	if err != nil {
		return nil, err
	}
	kubectl, err := b.kubectl(ctx, p.Architecture)
	if err != nil {
		return nil, err
	}
	ctrl, err := b.controllerSpec(p, bins[Controller], root)
	if err != nil {
		return nil, err
	}
	lt, err := b.loadtesterSpec(p, bins[Loadtester], kubectl, rootPath, root)
	if err != nil {
		return nil, err
	}
	var out []platformImage
	for _, s := range []*spec{ctrl, lt} {
		im, err := b.assemble(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		out = append(out, im)
	}
	return out, nil
}

// controllerSpec: the static binary on an empty base, with Debian's CA
// certificates (from the loadtester's root of the same architecture) and
// an /etc/passwd that names the user it runs as.
func (b *builder) controllerSpec(p v1.Platform, bin string, root *debianRoot) (*spec, error) {
	var ca []debPackage
	for _, pkg := range root.Packages {
		if pkg.Name == "ca-certificates" {
			ca = append(ca, pkg)
		}
	}
	if len(ca) == 0 {
		return nil, fmt.Errorf("the Debian root has no ca-certificates package")
	}
	base, err := newLayer([]file{
		dir("etc/", 0o755),
		regular("etc/group", 0o644, fmt.Appendf(nil, "root:x:0:\nnonroot:x:%d:\n", NonRoot)),
		regular("etc/passwd", 0o644, fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", NonRoot, NonRoot)),
		dir("etc/ssl/", 0o755),
		dir("etc/ssl/certs/", 0o755),
		regular("etc/ssl/certs/ca-certificates.crt", 0o644, root.CABundle),
		dir("home/", 0o755),
		{path: "home/nonroot/", mode: 0o755, uid: NonRoot, gid: NonRoot},
		dir("tmp/", 0o1777),
	}, b.stamp.Epoch)
	if err != nil {
		return nil, err
	}
	prog, err := b.programLayer(Controller, bin)
	if err != nil {
		return nil, err
	}
	return &spec{
		name: Controller, description: "Warbler, a Flagger-compatible canary release controller for Kubernetes",
		platform: p,
		layers: []layer{
			{base, fmt.Sprintf("hack/images: /etc/passwd and /etc/group (nonroot %d), CA certificates of Debian's ca-certificates %s", NonRoot, ca[0].Version)},
			prog,
		},
		programs: map[string]string{"/usr/local/bin/" + Controller: bin},
		packages: ca, distro: root.Distro,
	}, nil
}

// loadtesterSpec: the Debian root file system, kubectl for `type: cmd` and
// `type: kubectl` hooks, and the binary.
func (b *builder) loadtesterSpec(p v1.Platform, bin, kubectl, rootPath string, root *debianRoot) (*spec, error) {
	rootLayer, err := fileLayer(rootPath)
	if err != nil {
		return nil, err
	}
	kc, err := b.programLayer("kubectl", kubectl)
	if err != nil {
		return nil, err
	}
	prog, err := b.programLayer(Loadtester, bin)
	if err != nil {
		return nil, err
	}
	return &spec{
		name: Loadtester, description: "Warbler's loadtester, a Flagger-compatible webhook executor for canary analysis",
		platform: p,
		layers: []layer{
			{rootLayer, fmt.Sprintf("hack/images/rootfs.sh: %s (mmdebstrap --variant=essential), %d packages", root.Distro, len(root.Packages))},
			kc, prog,
		},
		programs: map[string]string{"/usr/local/bin/kubectl": kubectl, "/usr/local/bin/" + Loadtester: bin},
		packages: root.Packages, distro: root.Distro,
	}, nil
}

// programLayer puts the binary at /usr/local/bin/<name>.
func (b *builder) programLayer(name, bin string) (layer, error) {
	prog, err := binaryFile("usr/local/bin/"+name, bin)
	if err != nil {
		return layer{}, err
	}
	l, err := newLayer([]file{dir("usr/", 0o755), dir("usr/local/", 0o755), dir("usr/local/bin/", 0o755), prog}, b.stamp.Epoch)
	return layer{l, "hack/images: /usr/local/bin/" + name}, err
}

// assemble makes the image of s and its SBOM referrer.
func (b *builder) assemble(s *spec) (platformImage, error) {
	created := v1.Time{Time: b.stamp.Epoch}
	cfg := &v1.ConfigFile{
		Architecture: s.platform.Architecture, OS: s.platform.OS, Variant: s.platform.Variant,
		Created: created,
		Config: v1.Config{
			Entrypoint: []string{"/usr/local/bin/" + s.name},
			User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
			WorkingDir: "/home/nonroot",
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Labels: map[string]string{
				"org.opencontainers.image.title":       s.name,
				"org.opencontainers.image.description": s.description,
				"org.opencontainers.image.version":     b.stamp.Version,
				"org.opencontainers.image.revision":    b.stamp.Commit,
				"org.opencontainers.image.created":     b.stamp.Epoch.Format(time.RFC3339),
				"org.opencontainers.image.source":      Source,
				"org.opencontainers.image.url":         Source,
				LabelPackages:                          packageList(s.packages),
			},
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return platformImage{}, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	for _, l := range s.layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: l.Layer, MediaType: types.OCILayer,
			History: v1.History{Created: created, CreatedBy: l.createdBy}})
		if err != nil {
			return platformImage{}, err
		}
	}
	desc, err := descriptor(img)
	if err != nil {
		return platformImage{}, err
	}
	doc, err := sbom(sbomInput{
		image: b.Repository + "/" + s.name, version: b.stamp.Version, digest: desc.Digest, platform: s.platform,
		created: b.stamp.Epoch, programs: s.programs, packages: s.packages, distro: s.distro,
	})
	if err != nil {
		return platformImage{}, err
	}
	art, err := newArtifact(SBOMMediaType, "sbom.cdx.json", doc, desc, b.stamp.Epoch)
	if err != nil {
		return platformImage{}, err
	}
	return platformImage{name: s.name, platform: s.platform, image: img, sbom: art}, nil
}

// descriptor is the descriptor of an image manifest.
func descriptor(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, err
}
