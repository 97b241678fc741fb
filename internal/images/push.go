package images

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Push pushes the layouts that Build wrote to dir (dir/warbler,
// dir/loadtester) to registry (host/path): each image index under its
// version tag, then its SBOM referrers by digest (to the registry's
// referrers API, or its tag fallback). Credentials come from the Docker
// config, as with `docker login`. It prints one line per image to log.
func Push(ctx context.Context, dir, registry string, log io.Writer) error {
	for _, image := range []string{Controller, Loadtester} {
		if err := pushLayout(ctx, filepath.Join(dir, image), registry+"/"+image, log); err != nil {
			return fmt.Errorf("pushing %s: %w", image, err)
		}
	}
	return nil
}

func pushLayout(ctx context.Context, dir, repo string, log io.Writer) error {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return fmt.Errorf("%w (run make images first)", err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	im, err := top.IndexManifest()
	if err != nil {
		return err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
	tagged := 0
	// image indexes first: the referrers' subjects must exist
	for _, d := range im.Manifests {
		tag := d.Annotations[AnnotationRefName]
		if d.MediaType != types.OCIImageIndex || tag == "" {
			continue
		}
		ref, err := name.NewTag(repo + ":" + tag)
		if err != nil {
			return err
		}
		idx, err := top.ImageIndex(d.Digest)
		if err != nil {
			return err
		}
		if err := remote.WriteIndex(ref, idx, opts...); err != nil {
			return err
		}
		fmt.Fprintf(log, "pushed %s@%s\n", ref, d.Digest)
		tagged++
	}
	if tagged == 0 {
		return fmt.Errorf("%s: index.json names no image index with %s", dir, AnnotationRefName)
	}
	for _, d := range im.Manifests {
		if d.ArtifactType != SBOMMediaType {
			continue
		}
		img, err := top.Image(d.Digest)
		if err != nil {
			return err
		}
		ref, err := name.NewDigest(repo + "@" + d.Digest.String())
		if err != nil {
			return err
		}
		if err := remote.Write(ref, img, opts...); err != nil {
			return fmt.Errorf("SBOM %s: %w", d.Digest, err)
		}
		fmt.Fprintf(log, "pushed SBOM %s\n", ref)
	}
	return nil
}
