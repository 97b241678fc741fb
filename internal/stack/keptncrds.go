package stack

import (
	"context"
	_ "embed"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// keptnCRDs are Keptn's KeptnMetric and Analysis CRDs; see the comment at
// the top of the file for where they come from.
//
//go:embed keptn-crds.yaml
var keptnCRDs []byte

// InstallKeptnCRDs installs the KeptnMetric and Analysis CRDs
// (metrics.keptn.sh/v1beta1) that the keptn metric provider reads.
func InstallKeptnCRDs(ctx context.Context, c client.Client) error {
	dir, err := os.MkdirTemp("", "warbler-keptn-crds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "keptn.yaml"), keptnCRDs, 0o644); err != nil {
		return err
	}
	return InstallCRDs(ctx, c, dir)
}
