package version

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stamp is what hack/version.sh derives from a checkout: the version and
// commit a build stamps into the binaries, the -ldflags that do it, and
// SOURCE_DATE_EPOCH.
type Stamp struct {
	Version, Commit, Ldflags string
	Epoch                    time.Time
}

// Describe runs hack/version.sh in the repository at root. The script is
// the one definition of the version, shared with the Makefile and CI.
func Describe(root string) (Stamp, error) {
	out, err := exec.Command(filepath.Join(root, "hack", "version.sh"), "env").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return Stamp{}, fmt.Errorf("hack/version.sh env: %w", err)
	}
	var s Stamp
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		v = strings.Trim(v, "'")
		switch k {
		case "VERSION":
			s.Version = v
		case "COMMIT":
			s.Commit = v
		case "LDFLAGS":
			s.Ldflags = v
		case "SOURCE_DATE_EPOCH":
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Stamp{}, fmt.Errorf("hack/version.sh env: SOURCE_DATE_EPOCH %q: %w", v, err)
			}
			s.Epoch = time.Unix(sec, 0).UTC()
		}
	}
	if s.Version == "" || s.Commit == "" || s.Ldflags == "" {
		return Stamp{}, fmt.Errorf("hack/version.sh env printed no VERSION, COMMIT or LDFLAGS:\n%s", out)
	}
	return s, nil
}
