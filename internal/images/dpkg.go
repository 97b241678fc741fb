package images

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// debPackage is an installed Debian package.
type debPackage struct {
	Name, Version, Architecture string
	// Source is the source package when it differs from Name, such as
	// "curl" for libcurl4t64.
	Source string
}

// parseDpkgStatus returns the installed packages of a dpkg status file
// (deb822 stanzas), sorted by name. Packages that are only known to dpkg
// (removed, config-files) are left out.
func parseDpkgStatus(r io.Reader) ([]debPackage, error) {
	var out []debPackage
	fields := map[string]string{}
	var last string
	start := 0 // line of the stanza's first field
	flush := func() error {
		defer clear(fields)
		if len(fields) == 0 || !strings.HasSuffix(fields["Status"], " installed") {
			return nil
		}
		p := debPackage{Name: fields["Package"], Version: fields["Version"], Architecture: fields["Architecture"]}
		if p.Name == "" || p.Version == "" || p.Architecture == "" {
			return fmt.Errorf("line %d: a stanza without Package, Version or Architecture: %v", start, fields)
		}
		// "Source: glibc (2.41-12)" names the source and its version
		if src, _, _ := strings.Cut(fields["Source"], " "); src != "" && src != p.Name {
			p.Source = src
		}
		out = append(out, p)
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			if err := flush(); err != nil {
				return nil, err
			}
			last = ""
		case line[0] == ' ' || line[0] == '\t':
			// a continuation line of a multi-line field (Description, Conffiles)
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line before any field", n)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: %q is not a field", n, line)
			}
			if len(fields) == 0 {
				start = n
			}
			last = k
			fields[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if err := flush(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// packageList is "name=version" of each package, space-separated: the
// value of the images' dev.warbler.debian.packages label.
func packageList(pkgs []debPackage) string {
	var b strings.Builder
	for i, p := range pkgs {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.Name + "=" + p.Version)
	}
	return b.String()
}
