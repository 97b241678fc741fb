package images

import (
	"strings"
	"testing"
)

func TestParseDpkgStatus(t *testing.T) {
	status := `Package: libcurl4t64
Status: install ok installed
Architecture: amd64
Source: curl (8.14.1-2)
Version: 8.14.1-2+b1
Description: easy-to-use client-side URL transfer library
 libcurl is an easy-to-use client-side URL transfer library.
 .
 More text.

Package: bash
Status: install ok installed
Version: 5.2.37-2+b5
Architecture: amd64
Source: bash

Package: old-thing
Status: deinstall ok config-files
Version: 1.0
Architecture: amd64
`
	got, err := parseDpkgStatus(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	want := []debPackage{
		{Name: "bash", Version: "5.2.37-2+b5", Architecture: "amd64"},
		{Name: "libcurl4t64", Version: "8.14.1-2+b1", Architecture: "amd64", Source: "curl"},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
	if l := packageList(got); l != "bash=5.2.37-2+b5 libcurl4t64=8.14.1-2+b1" {
		t.Errorf("package list %q", l)
	}
}

func TestParseDpkgStatusRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct{ status, want string }{
		{"Package: a\nStatus: install ok installed\nArchitecture: amd64\n", "line 1: a stanza without Package, Version or Architecture"},
		{" continued\n", "line 1: continuation line before any field"},
		{"Package a\n", `line 1: "Package a" is not a field`},
	} {
		_, err := parseDpkgStatus(strings.NewReader(tc.status))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.status, err, tc.want)
		}
	}
}

func TestParsePlatforms(t *testing.T) {
	got, err := parsePlatforms([]string{"linux/amd64", " linux/arm64"})
	if err != nil || len(got) != 2 || got[1].Architecture != "arm64" || got[1].Variant != "v8" {
		t.Errorf("parsed %+v, %v", got, err)
	}
	if _, err := parsePlatforms([]string{"linux/s390x"}); err == nil || !strings.Contains(err.Error(), `platform "linux/s390x": valid platforms are linux/amd64 and linux/arm64`) {
		t.Errorf("error %v", err)
	}
}
