package images

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations of the layout's index.json entry for the image index.
const (
	// AnnotationRefName is the OCI layout's tag of the image: its version.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationImageName is the full reference, which `ctr import` of a
	// tarred layout names the image after.
	AnnotationImageName = "io.containerd.image.name"
)

// write writes the images of one name: the OCI layout at Out/<name> (the
// image index tagged with the version, then each platform's SBOM referrer)
// and a docker-archive per platform at Out/<name>-<os>-<arch>.tar.
func (b *builder) write(image string, imgs []platformImage) (Image, error) {
	ref, err := name.NewTag(b.ref(image))
	if err != nil {
		return Image{}, err
	}
	adds := make([]mutate.IndexAddendum, 0, len(imgs))
	for _, im := range imgs {
		p := im.platform
		adds = append(adds, mutate.IndexAddendum{Add: im.image, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	idx = mutate.Annotations(idx, map[string]string{
		"org.opencontainers.image.version":  b.stamp.Version,
		"org.opencontainers.image.revision": b.stamp.Commit,
		"org.opencontainers.image.created":  b.stamp.Epoch.Format(time.RFC3339),
		"org.opencontainers.image.source":   Source,
	}).(v1.ImageIndex)
	digest, err := idx.Digest()
	if err != nil {
		return Image{}, err
	}

	dir := filepath.Join(b.Out, image)
	b.logf("writing %s (%s) to %s", ref, digest, dir)
	if err := os.RemoveAll(dir); err != nil {
		return Image{}, err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return Image{}, err
	}
	err = lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		AnnotationRefName: ref.TagStr(), AnnotationImageName: ref.Name(),
	}))
	if err != nil {
		return Image{}, err
	}
	out := Image{Name: image, Ref: ref.Name(), Layout: dir, Index: digest, Archives: map[string]string{}}
	for _, im := range imgs {
		zipped, unzipped, err := sizes(im.image)
		if err != nil {
			return Image{}, err
		}
		b.logf("%s %s: %.1f MB compressed, %.1f MB uncompressed", image, platformString(im.platform), float64(zipped)/1e6, float64(unzipped)/1e6)
		if err := lp.AppendImage(im.sbom); err != nil {
			return Image{}, fmt.Errorf("SBOM of %s: %w", platformString(im.platform), err)
		}
		archive := filepath.Join(b.Out, fmt.Sprintf("%s-%s-%s.tar", image, im.platform.OS, im.platform.Architecture))
		if err := tarball.WriteToFile(archive, ref, im.image); err != nil {
			return Image{}, fmt.Errorf("docker-archive %s: %w", archive, err)
		}
		out.Archives[platformString(im.platform)] = archive
	}
	return out, nil
}

// sizes returns what pulling an image downloads (config and compressed
// layers) and what it takes unpacked (the layers' tar streams).
func sizes(img v1.Image) (compressed, uncompressed int64, err error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, 0, err
	}
	compressed = m.Config.Size
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return 0, 0, err
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, err
		}
		u, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return 0, 0, err
		}
		compressed, uncompressed = compressed+n, uncompressed+u
	}
	return compressed, uncompressed, nil
}
