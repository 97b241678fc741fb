package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
)

// PackageCharts packages charts/warbler and charts/loadtester into out, as
// `helm package --version <version without v> --app-version <version>`
// does: the charts' image tags default to their appVersion, so a packaged
// chart installs the images built from the same commit. It returns the
// paths of the .tgz files.
func PackageCharts(root, out, version string) ([]string, error) {
	chartVersion := strings.TrimPrefix(version, "v")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, name := range []string{Controller, Loadtester} {
		c, err := loader.Load(filepath.Join(root, "charts", name))
		if err != nil {
			return nil, err
		}
		c.Metadata.Version, c.Metadata.AppVersion = chartVersion, version
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("chart %s at version %s: %w", name, chartVersion, err)
		}
		p, err := chartutil.Save(c, out)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
