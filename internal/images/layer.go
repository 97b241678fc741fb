package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// file is one entry of a layer written here: a directory when its path
// ends in "/", else a regular file holding data.
type file struct {
	path     string // relative to /, such as "etc/passwd" or "tmp/"
	mode     int64  // permission bits (and sticky)
	uid, gid int
	data     []byte
}

// dir is a root-owned directory.
func dir(path string, mode int64) file { return file{path: path, mode: mode} }

// regular is a root-owned file.
func regular(path string, mode int64, data []byte) file {
	return file{path: path, mode: mode, data: data}
}

// binaryFile reads a program from disk into a root-owned, executable file
// at path.
func binaryFile(path, src string) (file, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return file{}, err
	}
	return regular(path, 0o755, data), nil
}

// newLayer writes files into a reproducible layer: entries sorted by path,
// times set to epoch, no user or group names, gzip without a timestamp.
func newLayer(files []file, epoch time.Time) (v1.Layer, error) {
	sorted := append([]file(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].path < sorted[j].path })
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, f := range sorted {
		h := &tar.Header{
			Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.gid,
			ModTime:  epoch,
			Typeflag: tar.TypeReg, Size: int64(len(f.data)),
		}
		if strings.HasSuffix(f.path, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(zw, &raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// fileLayer is a gzipped tarball on disk as a layer.
func fileLayer(path string) (v1.Layer, error) {
	return tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
}
