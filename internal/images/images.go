// Package images builds Warbler's two container images, the controller
// (warbler) and the loadtester, without a Docker daemon: go-containerregistry
// assembles them from layers written here and writes each as an OCI image
// layout (an image index over linux/amd64 and linux/arm64), plus one
// docker-archive per platform for `kind load image-archive`.
//
//   - warbler: the static binary on an empty base, Debian's CA certificates,
//     /etc/passwd naming the non-root user 65532 it runs as.
//   - loadtester: a Debian root file system installed by mmdebstrap
//     (hack/images/rootfs.sh: bash, curl, grep, jq, ca-certificates and the
//     Essential set), kubectl, and the binary.
//
// Builds are reproducible: binaries are built with -trimpath, every layer
// written here has sorted entries owned by root (or 65532) with the commit's
// time (SOURCE_DATE_EPOCH), and the Debian root is cached per recipe, so the
// same commit on the same day's mirror gives the same digests.
//
// Each platform image has a CycloneDX SBOM, made from the Go build
// information of its binaries and dpkg's status of its root file system. It
// is an OCI 1.1 referrer: an artifact manifest (artifactType
// application/vnd.cyclonedx+json) whose subject is the image manifest,
// listed in the layout's index.json and pushed with the image.
package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/warbler-dev/warbler/internal/version"
)

// Names of the images, which are also the names of their binaries.
const (
	Controller = "warbler"
	Loadtester = "loadtester"
)

// DefaultRepository is where released images live: ghcr.io/warbler-dev/warbler
// and ghcr.io/warbler-dev/loadtester.
const DefaultRepository = "ghcr.io/warbler-dev"

// DefaultPlatforms are the platforms of a release.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// NonRoot is the uid and gid both images run as.
const NonRoot = 65532

// Options say what to build and where.
type Options struct {
	// Root is the repository root.
	Root string
	// Out is the folder that receives <name>/ (the OCI layout) and
	// <name>-<os>-<arch>.tar (docker-archives) for each image.
	Out string
	// Repository prefixes the image names in tags; DefaultRepository when
	// empty.
	Repository string
	// Platforms to build, such as "linux/amd64"; DefaultPlatforms when
	// empty.
	Platforms []string
	// Cache keeps the Debian root file systems; ~/.cache/warbler/images
	// when empty.
	Cache string
	// Log receives progress lines; os.Stderr when nil.
	Log io.Writer
}

// Image is one built image.
type Image struct {
	// Name is Controller or Loadtester.
	Name string
	// Ref is the tag the image is built for: <repository>/<name>:<version>.
	Ref string
	// Layout is the folder of its OCI image layout.
	Layout string
	// Index is the digest of its image index.
	Index v1.Hash
	// Archives maps a platform ("linux/amd64") to its docker-archive.
	Archives map[string]string
}

// Result is what Build made.
type Result struct {
	Stamp  version.Stamp
	Images []Image
}

// Image returns the built image called name.
func (r *Result) Image(name string) (Image, bool) {
	for _, im := range r.Images {
		if im.Name == name {
			return im, true
		}
	}
	return Image{}, false
}

// builder carries one Build's options and what every step reads.
type builder struct {
	Options
	stamp version.Stamp
	work  string // scratch folder, removed at the end
}

// Build builds both images for every platform and writes them to o.Out.
func Build(ctx context.Context, o Options) (*Result, error) {
	b, err := newBuilder(o)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.work)
	plats, err := parsePlatforms(b.Platforms)
	if err != nil {
		return nil, err
	}
	perName := map[string][]platformImage{}
	for _, p := range plats {
		imgs, err := b.platform(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", platformString(p), err)
		}
		for _, im := range imgs {
			perName[im.name] = append(perName[im.name], im)
		}
	}
	res := &Result{Stamp: b.stamp}
	for _, name := range []string{Controller, Loadtester} {
		im, err := b.write(name, perName[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		res.Images = append(res.Images, im)
	}
	return res, nil
}

func newBuilder(o Options) (*builder, error) {
	if o.Root == "" || o.Out == "" {
		return nil, fmt.Errorf("images: Root and Out must be set")
	}
	if o.Repository == "" {
		o.Repository = DefaultRepository
	}
	o.Repository = strings.TrimSuffix(o.Repository, "/")
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		o.Cache = filepath.Join(home, ".cache", "warbler", "images")
	}
	stamp, err := version.Describe(o.Root)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "warbler-images-")
	if err != nil {
		return nil, err
	}
	return &builder{Options: o, stamp: stamp, work: work}, nil
}

func (b *builder) logf(format string, args ...any) {
	fmt.Fprintf(b.Log, "[images %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// ref is the tag of the image called name.
func (b *builder) ref(name string) string {
	return b.Repository + "/" + name + ":" + b.stamp.Version
}

// parsePlatforms accepts "linux/amd64" and "linux/arm64".
func parsePlatforms(ss []string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range ss {
		switch s = strings.TrimSpace(s); s {
		case "linux/amd64":
			out = append(out, v1.Platform{OS: "linux", Architecture: "amd64"})
		case "linux/arm64", "linux/arm64/v8":
			out = append(out, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"})
		default:
			return nil, fmt.Errorf("platform %q: valid platforms are linux/amd64 and linux/arm64", s)
		}
	}
	return out, nil
}

func platformString(p v1.Platform) string { return p.OS + "/" + p.Architecture }
