package images_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/warbler-dev/warbler/internal/images"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// The charts packaged at the built version install exactly the images that
// were built (their image tags default to appVersion), and `helm lint
// --strict` has nothing to say about them.
func TestChartsInstallTheBuiltImages(t *testing.T) {
	res := build(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	paths, err := images.PackageCharts(root, t.TempDir(), res.Stamp.Version)
	if err != nil {
		t.Fatal(err)
	}
	kube := &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	for i, n := range []string{images.Controller, images.Loadtester} {
		t.Run(n, func(t *testing.T) {
			want := image(t, res, n).Ref
			if base := filepath.Base(paths[i]); base != fmt.Sprintf("%s-%s.tgz", n, strings.TrimPrefix(res.Stamp.Version, "v")) {
				t.Errorf("packaged as %s", base)
			}
			lint := action.NewLint()
			lint.Strict, lint.Namespace, lint.KubeVersion = true, "warbler-system", kube
			lr := lint.Run([]string{paths[i]}, nil)
			for _, m := range lr.Messages {
				// helm recommends an icon; the charts have no hosted one yet
				if m.Severity != support.InfoSev || !strings.Contains(m.Err.Error(), "icon is recommended") {
					t.Errorf("helm lint --strict: %s", m)
				}
			}
			for _, err := range lr.Errors {
				t.Errorf("helm lint --strict: %v", err)
			}
			c, err := loader.Load(paths[i])
			if err != nil {
				t.Fatal(err)
			}
			install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
			install.DryRun, install.ClientOnly, install.Replace = true, true, true
			install.ReleaseName, install.Namespace, install.KubeVersion = "rel", "warbler-system", kube
			rel, err := install.Run(c, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
				var d appsv1.Deployment
				if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
					continue
				}
				for _, ctr := range d.Spec.Template.Spec.Containers {
					got = append(got, ctr.Image)
				}
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("the chart at %s runs images %q, want [%s]", res.Stamp.Version, got, want)
			}
		})
	}
}

// `make push` puts the built layouts into a real registry (Debian's
// docker-registry, the CNCF distribution registry): the tag resolves to the
// built index, and each platform image's SBOM is found as its referrer
// (through the tag fallback, since that registry has no referrers API).
func TestPushToRegistry(t *testing.T) {
	res := build(t)
	registry := startRegistry(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := filepath.Dir(image(t, res, images.Controller).Layout)
	if err := images.Push(ctx, dir, registry+"/warbler-dev", &out); err != nil {
		t.Fatalf("push: %v\n%s", err, out.String())
	}
	for _, n := range []string{images.Controller, images.Loadtester} {
		im := image(t, res, n)
		tag, err := name.NewTag(registry + "/warbler-dev/" + n + ":" + res.Stamp.Version)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(tag, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if desc.Digest != im.Index {
			t.Errorf("%s is %s, want the built index %s", tag, desc.Digest, im.Index)
		}
		_, platform := platformImage(t, im, "amd64")
		refs, err := remote.Referrers(tag.Context().Digest(platform.Digest.String()), remote.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		m, err := refs.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].ArtifactType != images.SBOMMediaType {
			t.Errorf("referrers of %s@%s: %+v, want its SBOM", n, platform.Digest, m.Manifests)
		}
	}
}

// startRegistry runs Debian's docker-registry on a free port until the test
// ends and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin := testenv.StackBinary(t, "docker-registry")
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf("version: 0.1\nlog: {level: warn}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: %q}\n", dir, addr)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.StartProcess(t, "docker-registry", bin, "serve", path)
	testenv.WaitHTTP(t, "http://"+addr+"/v2/", time.Minute)
	return addr
}
