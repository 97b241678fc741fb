package images

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// emptyConfig is the OCI empty descriptor's content, the config of an
// artifact that has none.
var emptyConfig = []byte("{}")

// artifact is an OCI 1.1 artifact manifest: one blob, an artifactType, the
// empty config, and a subject it refers to. go-containerregistry writes and
// pushes it as any image (partial.CompressedToImage); it has no mutator
// that sets artifactType, hence this type.
type artifact struct {
	manifest []byte
	blob     v1.Layer
}

// newArtifact returns an artifact holding data as a blob of mediaType
// (also the artifactType) titled title, that refers to subject.
func newArtifact(mediaType, title string, data []byte, subject v1.Descriptor, created time.Time) (v1.Image, error) {
	blob := static.NewLayer(data, types.MediaType(mediaType))
	digest, err := blob.Digest()
	if err != nil {
		return nil, err
	}
	cfg, _, err := v1.SHA256(bytes.NewReader(emptyConfig))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  mediaType,
		Config:        v1.Descriptor{MediaType: types.OCIEmptyJSON, Digest: cfg, Size: int64(len(emptyConfig))},
		Layers: []v1.Descriptor{{
			MediaType: types.MediaType(mediaType), Digest: digest, Size: int64(len(data)),
			Annotations: map[string]string{"org.opencontainers.image.title": title},
		}},
		Subject:     &subject,
		Annotations: map[string]string{"org.opencontainers.image.created": created.UTC().Format(time.RFC3339)},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, blob: blob})
}

func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyConfig, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := a.blob.Digest(); err == nil && d == h {
		return a.blob, nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
