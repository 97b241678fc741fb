package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Paths the images read from the Debian root file system.
const (
	dpkgStatus = "var/lib/dpkg/status"
	caBundle   = "etc/ssl/certs/ca-certificates.crt"
	osRelease  = "usr/lib/os-release"
)

// rootfs returns the Debian root file system for arch as a gzipped tarball,
// from the cache or made by hack/images/rootfs.sh.
//
// Its SOURCE_DATE_EPOCH is the time of the last commit that changed the
// recipe, not of HEAD: still fixed by the commit, so the build stays
// reproducible, while commits that leave the recipe alone reuse the cached
// root instead of installing Debian again.
func (b *builder) rootfs(ctx context.Context, arch string) (string, error) {
	script := filepath.Join(b.Root, "hack", "images", "rootfs.sh")
	recipe, err := os.ReadFile(script)
	if err != nil {
		return "", err
	}
	epoch := b.recipeEpoch(ctx, "hack/images/rootfs.sh")
	sum := sha256.Sum256(recipe)
	key := fmt.Sprintf("rootfs-%s-%d-%x", arch, epoch, sum[:6])
	path := filepath.Join(b.Cache, key+".tar.gz")
	if _, err := os.Stat(path); err == nil {
		b.logf("Debian root for %s from the cache: %s", arch, path)
		return path, nil
	}
	if err := os.MkdirAll(b.Cache, 0o755); err != nil {
		return "", err
	}
	start := time.Now()
	logPath := filepath.Join(b.Cache, key+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return "", err
	}
	defer logFile.Close()
	b.logf("building the Debian root for %s with mmdebstrap (log: %s)", arch, logPath)
	tarPath := filepath.Join(b.work, key+".tar")
	cmd := exec.CommandContext(ctx, script, arch, tarPath)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/images/rootfs.sh %s: %w; the end of %s:\n%s", arch, err, logPath, tail(logPath, 20))
	}
	if err := gzipFile(tarPath, path); err != nil {
		return "", err
	}
	b.logf("built the Debian root for %s in %s", arch, time.Since(start).Round(time.Second))
	return path, nil
}

// recipeEpoch is the commit time of the last commit that changed file
// (relative to the root), or the build's SOURCE_DATE_EPOCH when no commit
// has.
func (b *builder) recipeEpoch(ctx context.Context, file string) int64 {
	out, err := exec.CommandContext(ctx, "git", "-C", b.Root, "log", "-1", "--format=%ct", "--", file).Output()
	if sec, perr := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && perr == nil {
		return sec
	}
	return b.stamp.Epoch.Unix()
}

func tail(path string, lines int) string {
	data, _ := os.ReadFile(path)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// gzipFile compresses src into dst (through a temporary file, so that a
// cache never holds half a file) and removes src.
func gzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	zw, err := gzip.NewWriterLevel(tmp, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, in); err != nil {
		tmp.Close()
		return err
	}
	if err := errors.Join(zw.Close(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// debianRoot is what the images take from a Debian root file system.
type debianRoot struct {
	// Packages are the installed packages, from dpkg's status.
	Packages []debPackage
	// CABundle is Debian's bundle of trusted certificates.
	CABundle []byte
	// Distro is ID-VERSION_ID of os-release, such as debian-13.
	Distro string
}

// readRoot reads dpkg's status, the CA bundle and os-release from a root
// file system tarball.
func readRoot(path string) (*debianRoot, error) {
	files, err := readTarFiles(path, dpkgStatus, caBundle, osRelease)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{dpkgStatus, caBundle, osRelease} {
		if len(files[name]) == 0 {
			return nil, fmt.Errorf("%s: no /%s (or it is empty)", path, name)
		}
	}
	pkgs, err := parseDpkgStatus(bytes.NewReader(files[dpkgStatus]))
	if err != nil {
		return nil, fmt.Errorf("%s: /%s: %w", path, dpkgStatus, err)
	}
	rel := parseOSRelease(files[osRelease])
	return &debianRoot{Packages: pkgs, CABundle: files[caBundle], Distro: rel["ID"] + "-" + rel["VERSION_ID"]}, nil
}

// readTarFiles returns the regular files called names (without a leading
// "./" or "/") of a gzipped tarball.
func readTarFiles(path string, names ...string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for len(out) < len(want) {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		if !want[name] || h.Typeflag != tar.TypeReg {
			continue
		}
		if out[name], err = io.ReadAll(tr); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
	}
	return out, nil
}

// parseOSRelease reads KEY=value lines, with or without quotes.
func parseOSRelease(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && !strings.HasPrefix(k, "#") {
			out[k] = strings.Trim(v, `"'`)
		}
	}
	return out
}
