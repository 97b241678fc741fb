package images_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/warbler-dev/warbler/internal/images"
	"github.com/warbler-dev/warbler/internal/testenv"
)

// The tests build for linux/amd64 only, the platform they can run; `make
// images` adds linux/arm64 (a cross build, and a Debian root installed
// under qemu-user, which would add minutes to a cold `make test`).
var testPlatforms = []string{"linux/amd64"}

var (
	buildOnce sync.Once
	built     *images.Result
	buildErr  error
	scratch   string // removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if scratch != "" {
		os.RemoveAll(scratch)
	}
	os.Exit(code)
}

// build builds both images once per test binary, as `make images` does.
func build(t *testing.T) *images.Result {
	t.Helper()
	buildOnce.Do(func() {
		if scratch, buildErr = os.MkdirTemp("", "warbler-images-test-"); buildErr == nil {
			built, buildErr = buildInto(t, filepath.Join(scratch, "first"))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func buildInto(t *testing.T, out string) (*images.Result, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	var log bytes.Buffer
	res, err := images.Build(ctx, images.Options{Root: root, Out: out, Platforms: testPlatforms, Log: &log})
	t.Logf("images.Build into %s:\n%s", out, log.String())
	return res, err
}

// layoutOf reads the layout of an image and returns its image index.
func layoutOf(t *testing.T, im images.Image) (v1.ImageIndex, *v1.IndexManifest) {
	t.Helper()
	lp, err := layout.FromPath(im.Layout)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return top, m
}

// platformImage returns the image of the index for linux/arch.
func platformImage(t *testing.T, im images.Image, arch string) (v1.Image, v1.Descriptor) {
	t.Helper()
	top, _ := layoutOf(t, im)
	idx, err := top.ImageIndex(im.Index)
	if err != nil {
		t.Fatalf("%s: the layout has no image index %s: %v", im.Name, im.Index, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == arch {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img, d
		}
	}
	t.Fatalf("%s: no linux/%s image in %v", im.Name, arch, m.Manifests)
	return nil, v1.Descriptor{}
}

func image(t *testing.T, res *images.Result, name string) images.Image {
	t.Helper()
	im, ok := res.Image(name)
	if !ok {
		t.Fatalf("no image %s in %+v", name, res.Images)
	}
	return im
}

// Each layout tags one image index with the version, has an image per
// platform with the entrypoint, user and labels the charts rely on, and an
// SBOM referrer per platform image.
func TestLayoutsDescribeTheImages(t *testing.T) {
	res := build(t)
	for _, name := range []string{images.Controller, images.Loadtester} {
		t.Run(name, func(t *testing.T) {
			im := image(t, res, name)
			if want := images.DefaultRepository + "/" + name + ":" + res.Stamp.Version; im.Ref != want {
				t.Errorf("ref %s, want %s", im.Ref, want)
			}
			if _, err := os.Stat(filepath.Join(im.Layout, "oci-layout")); err != nil {
				t.Errorf("not an OCI layout: %v", err)
			}
			top, m := layoutOf(t, im)
			tagged := m.Manifests[0]
			if tagged.MediaType != types.OCIImageIndex || tagged.Digest != im.Index ||
				tagged.Annotations[images.AnnotationRefName] != res.Stamp.Version || tagged.Annotations[images.AnnotationImageName] != im.Ref {
				t.Errorf("index.json's first entry %+v, want the image index %s tagged %s", tagged, im.Index, res.Stamp.Version)
			}
			idx, err := top.ImageIndex(im.Index)
			if err != nil {
				t.Fatal(err)
			}
			im2, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im2.Manifests) != len(testPlatforms) {
				t.Errorf("%d platform images, want %d", len(im2.Manifests), len(testPlatforms))
			}
			img, desc := platformImage(t, im, "amd64")
			checkConfig(t, name, img, res)
			checkSBOM(t, name, m, desc, res)
		})
	}
}

func checkConfig(t *testing.T, name string, img v1.Image, res *images.Result) {
	t.Helper()
	mt, _ := img.MediaType()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if mt != types.OCIManifestSchema1 || cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("media type %s, platform %s/%s; want an OCI manifest for linux/amd64", mt, cfg.OS, cfg.Architecture)
	}
	c := cfg.Config
	if want := []string{"/usr/local/bin/" + name}; !slices.Equal(c.Entrypoint, want) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want %q and no cmd (the charts pass only args)", c.Entrypoint, c.Cmd, want)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", c.User)
	}
	if !cfg.Created.Equal(res.Stamp.Epoch) {
		t.Errorf("created %s, want the commit time %s", cfg.Created, res.Stamp.Epoch)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  res.Stamp.Version,
		"org.opencontainers.image.revision": res.Stamp.Commit,
		"org.opencontainers.image.title":    name,
		"org.opencontainers.image.source":   images.Source,
		"org.opencontainers.image.created":  res.Stamp.Epoch.Format(time.RFC3339),
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s=%q, want %q", k, c.Labels[k], want)
		}
	}
	if pkgs := c.Labels[images.LabelPackages]; !strings.Contains(pkgs, "ca-certificates=") ||
		name == images.Loadtester && !(strings.Contains(pkgs, "bash=") && strings.Contains(pkgs, "curl=") && strings.Contains(pkgs, "grep=")) {
		t.Errorf("label %s=%q lacks the image's Debian packages", images.LabelPackages, pkgs)
	}
	layers, _ := img.Layers()
	if len(layers) != len(cfg.History) || len(layers) != len(cfg.RootFS.DiffIDs) {
		t.Errorf("%d layers, %d history entries, %d diff IDs", len(layers), len(cfg.History), len(cfg.RootFS.DiffIDs))
	}
}

// checkSBOM finds the SBOM referrer of the platform image in index.json
// and checks what it lists.
func checkSBOM(t *testing.T, name string, m *v1.IndexManifest, subject v1.Descriptor, res *images.Result) {
	t.Helper()
	lp, err := layout.FromPath(image(t, res, name).Layout)
	if err != nil {
		t.Fatal(err)
	}
	var refs []v1.Descriptor
	for _, d := range m.Manifests {
		if d.ArtifactType == images.SBOMMediaType {
			refs = append(refs, d)
		}
	}
	if len(refs) != len(testPlatforms) {
		t.Fatalf("%d SBOM referrers in index.json, want one per platform: %+v", len(refs), m.Manifests)
	}
	art, err := lp.Image(refs[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	am, err := art.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if am.Subject == nil || am.Subject.Digest != subject.Digest || am.ArtifactType != images.SBOMMediaType ||
		len(am.Layers) != 1 || am.Layers[0].MediaType != images.SBOMMediaType || am.Config.MediaType != types.OCIEmptyJSON {
		t.Fatalf("SBOM manifest %+v, want a CycloneDX artifact whose subject is %s", am, subject.Digest)
	}
	blob, err := lp.Blob(am.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(blob, cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("decoding the SBOM: %v", err)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.Version != res.Stamp.Version ||
		!strings.Contains(bom.Metadata.Component.PackageURL, subject.Digest.String()) {
		t.Errorf("SBOM metadata %+v, want the image %s at %s", bom.Metadata, subject.Digest, res.Stamp.Version)
	}
	purls := map[string]cdx.Component{}
	for _, c := range *bom.Components {
		purls[c.PackageURL] = c
	}
	// package URLs by prefix and suffix
	want := [][2]string{
		{"pkg:golang/github.com/warbler-dev/warbler@", "#cmd/" + name}, // the program, from its build info
		{"pkg:golang/k8s.io/client-go@v0.", ""},                        // a module it is built from
		{"pkg:golang/stdlib@" + strings.TrimPrefix(runtime.Version(), "go"), ""},
		{"pkg:deb/debian/ca-certificates@", ""}, // where its certificates come from
	}
	if name == images.Loadtester {
		want = append(want, [][2]string{{"pkg:deb/debian/bash@", ""}, {"pkg:deb/debian/curl@", ""}, {"pkg:deb/debian/grep@", ""},
			{"pkg:golang/k8s.io/kubernetes@v1.", "#cmd/kubectl"}, {"pkg:golang/helm.sh/helm/v3@", ""}}...)
	}
	for _, w := range want {
		found := false
		for p := range purls {
			found = found || strings.HasPrefix(p, w[0]) && strings.HasSuffix(p, w[1])
		}
		if !found {
			t.Errorf("the SBOM of %s lists no component %s...%s", name, w[0], w[1])
		}
	}
	for p, c := range purls {
		if strings.HasPrefix(p, "pkg:deb/") && !strings.Contains(p, "arch=amd64") && !strings.Contains(p, "arch=all") {
			t.Errorf("Debian package %s without its architecture", p)
		}
		if c.Type == cdx.ComponentTypeApplication && (c.Evidence == nil || c.Evidence.Occurrences == nil) {
			t.Errorf("program %s without its path in the image", p)
		}
	}
}

// Each docker-archive, for `kind load image-archive`, holds the same image
// as the layout, tagged with the ref.
func TestDockerArchivesMatchTheLayouts(t *testing.T) {
	res := build(t)
	for _, n := range []string{images.Controller, images.Loadtester} {
		im := image(t, res, n)
		tag, err := name.NewTag(im.Ref)
		if err != nil {
			t.Fatal(err)
		}
		fromArchive, err := tarball.ImageFromPath(im.Archives["linux/amd64"], &tag)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		fromLayout, _ := platformImage(t, im, "amd64")
		a, _ := fromArchive.ConfigName()
		b, _ := fromLayout.ConfigName()
		la, _ := fromArchive.Layers()
		lb, _ := fromLayout.Layers()
		if a != b || len(la) != len(lb) {
			t.Errorf("%s: the docker-archive's config %s (%d layers), the layout's %s (%d layers)", n, a, len(la), b, len(lb))
		}
	}
}

// rootFS extracts the amd64 image of name into a folder, adding the /proc
// and /dev/null a container runtime would provide.
func rootFS(t *testing.T, name string) string {
	t.Helper()
	img, _ := platformImage(t, image(t, build(t), name), "amd64")
	dir := t.TempDir()
	cmd := exec.Command("tar", "-x", "--numeric-owner", "-C", dir)
	cmd.Stdin = mutate.Extract(img)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", name, err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "proc"), 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mknod(filepath.Join(dir, "dev", "null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		t.Fatal(err)
	}
	return dir
}

// inImage is a command line that runs argv in root as the images' user, in
// a PID namespace with its own /proc, with only the image's environment.
func inImage(root string, env []string, argv ...string) *exec.Cmd {
	args := append([]string{"-f", "-p", "--mount-proc=" + filepath.Join(root, "proc"), "env", "-i"}, env...)
	args = append(args, "chroot", "--userspec=65532:65532", root)
	cmd := exec.Command("unshare", append(args, argv...)...)
	// the whole tree is stopped through its process group
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

func imageEnv(t *testing.T, name string) []string {
	t.Helper()
	img, _ := platformImage(t, image(t, build(t), name), "amd64")
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Config.Env
}

// Both entrypoints run from their root file systems and print the version
// they were built with; the controller's CA bundle is Debian's.
func TestEntrypointsRunFromTheirRootFS(t *testing.T) {
	res := build(t)
	wantVersion := fmt.Sprintf("version: %s\ncommit: %s\ngo: %s linux/amd64\n", res.Stamp.Version, res.Stamp.Commit, runtime.Version())
	for _, name := range []string{images.Controller, images.Loadtester} {
		t.Run(name, func(t *testing.T) {
			root := rootFS(t, name)
			out, err := inImage(root, imageEnv(t, name), "/usr/local/bin/"+name, "-version").CombinedOutput()
			if err != nil || string(out) != wantVersion {
				t.Errorf("%s -version: %v\n%s\nwant\n%s", name, err, out, wantVersion)
			}
		})
	}
	t.Run("controller start-up and certificates", func(t *testing.T) {
		root := rootFS(t, images.Controller)
		out, _ := inImage(root, imageEnv(t, images.Controller), "/usr/local/bin/warbler", "-kubeconfig=/nonexistent").CombinedOutput()
		want := fmt.Sprintf(`"msg":"Starting warbler version %s revision %s mesh provider istio"`, res.Stamp.Version, res.Stamp.Commit)
		if !strings.Contains(string(out), want) {
			t.Errorf("the controller's log lacks %s:\n%s", want, out)
		}
		if n := countCerts(t, filepath.Join(root, "etc/ssl/certs/ca-certificates.crt")); n < 100 {
			t.Errorf("the controller's CA bundle holds %d certificates, want Debian's (over 100)", n)
		}
		passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
		if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd: %v\n%s", err, passwd)
		}
	})
	t.Run("kubectl in the loadtester", func(t *testing.T) {
		root := rootFS(t, images.Loadtester)
		out, err := inImage(root, imageEnv(t, images.Loadtester), "kubectl", "version", "--client").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Client Version: v1.") {
			t.Errorf("kubectl version --client: %v\n%s", err, out)
		}
	})
}

func countCerts(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return n
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Errorf("certificate %d of %s: %v", n+1, path, err)
		}
		n++
	}
}

// The loadtester, run from its image's root file system, serves /healthz
// and runs seed 003's bash acceptance test against podinfo: curl, grep and
// bash are in the image, and the canary's service name resolves.
func TestLoadtesterRunsSeed003BashHook(t *testing.T) {
	res := build(t)
	root := rootFS(t, images.Loadtester)
	podinfo := testenv.StartPodinfo(t, "podinfo-canary")
	// the cluster's DNS, for the name the seed's hook uses
	hosts := "127.0.0.1 localhost podinfo-canary\n"
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	env := append(imageEnv(t, images.Loadtester), "HOME=/tmp") // as the chart sets it
	cmd := inImage(root, env, "/usr/local/bin/loadtester", fmt.Sprintf("-port=%d", port), "-bind-address=127.0.0.1")
	var logs testenv.LogBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("loadtester log:\n%s", logs.String())
		}
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	testenv.WaitHTTP(t, url+"/healthz", 2*time.Minute)
	if want := fmt.Sprintf("Starting load tester %s API on port %d", res.Stamp.Version, port); !strings.Contains(logs.String(), want) {
		t.Errorf("the start-up log lacks %q:\n%s", want, logs.String())
	}
	hook := fmt.Sprintf("curl -sd 'test' http://podinfo-canary:%d/token | grep token", podinfo.Port)
	for _, tc := range []struct {
		cmd  string
		want int
	}{
		{hook, http.StatusOK},
		// the same pipeline failing proves that grep decides the answer
		{strings.Replace(hook, "grep token", "grep no-such-field", 1), http.StatusInternalServerError},
	} {
		body := fmt.Sprintf(`{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"type":"bash","cmd":%q}}`, tc.cmd)
		resp, err := http.Post(url+"/", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("bash %q: %d %s, want %d", tc.cmd, resp.StatusCode, got, tc.want)
		}
	}
}

// The same commit builds the same digests: a second build from scratch
// (go build, layers, SBOMs, layouts, archives) writes identical bytes.
func TestRebuildGivesTheSameDigests(t *testing.T) {
	first := build(t)
	second, err := buildInto(t, filepath.Join(scratch, "second"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{images.Controller, images.Loadtester} {
		a, b := image(t, first, name), image(t, second, name)
		if a.Index != b.Index {
			t.Errorf("%s: image index %s, then %s", name, a.Index, b.Index)
		}
		for _, f := range []string{"index.json", "oci-layout"} {
			x, _ := os.ReadFile(filepath.Join(a.Layout, f))
			y, _ := os.ReadFile(filepath.Join(b.Layout, f))
			if !bytes.Equal(x, y) {
				t.Errorf("%s: %s differs:\n%s\n%s", name, f, x, y)
			}
		}
		x, _ := os.ReadFile(a.Archives["linux/amd64"])
		y, _ := os.ReadFile(b.Archives["linux/amd64"])
		if !bytes.Equal(x, y) {
			t.Errorf("%s: the docker-archives differ", name)
		}
	}
}
