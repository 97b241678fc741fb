// Package version holds what a build of Warbler's binaries stamps into
// them: the version and commit, set with
//
//	-ldflags "-X github.com/warbler-dev/warbler/internal/version.Version=v0.1.0
//	          -X github.com/warbler-dev/warbler/internal/version.Commit=<sha>"
//
// as `make build`, `make images` and the tests' builds do (hack/version.sh
// prints those flags). The version is `git describe --tags --dirty` of the
// commit; before the first tag it is v0.0.0-<commits>-g<short sha>, so
// untagged builds still sort by history.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Set at link time; see the package doc.
var (
	Version = "dev"
	Commit  = ""
)

// Info is the version of the running binary.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"goVersion"`
	Platform string `json:"platform"`
}

// Get returns the version of the running binary. A build without -ldflags
// (go run, go build) reports version "dev" and, when Go recorded it, the
// commit of the checkout it was built in.
func Get() Info {
	return Info{Version: Version, Commit: commit(), Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func commit() string {
	if Commit != "" {
		return Commit
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, modified := "unknown", ""
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			modified = "-dirty"
		}
	}
	return rev + modified
}

// Fprint writes the version as `<program> -version` prints it, one
// "key: value" line each for the version, the commit and the Go version.
func (i Info) Fprint(w io.Writer) error {
	_, err := fmt.Fprintf(w, "version: %s\ncommit: %s\ngo: %s %s\n", i.Version, i.Commit, i.Go, i.Platform)
	return err
}
