package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/internal/version"
)

// build compiles the plugin as kubectl would find it on the PATH, stamped
// with the checkout's version as `make build` does.
func build(t *testing.T) string {
	t.Helper()
	return filepath.Join(testenv.Build(t, "./cmd/kubectl-canary"), "kubectl-canary")
}

// `kubectl canary version` prints what -ldflags stamped into the binary
// and the Go version it was built with; a cluster it cannot reach does not
// make it fail.
func TestBinaryVersion(t *testing.T) {
	bin := build(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stamp, err := version.Describe(root)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version", "--client").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("version: %s\ncommit: %s\ngo: %s %s/%s\n", stamp.Version, stamp.Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if string(out) != want {
		t.Errorf("kubectl canary version --client printed\n%s\nwant\n%s", out, want)
	}
	// no cluster: the plugin's version, and a note saying why the
	// controllers' is missing
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "version", "--kubeconfig", closedKubeconfig(t))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != want || !strings.Contains(stderr.String(), "kubectl-canary: no controller version: cannot reach the Kubernetes API") {
		t.Errorf("kubectl canary version without a cluster: %v\nstdout:\n%s\nstderr:\n%s\nwant exit 0, stdout\n%s", err, &stdout, &stderr, want)
	}
	out, err = exec.Command(bin, "version", "--client", "-o", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got version.Info
	if err := json.Unmarshal(out, &got); err != nil || got.Version != stamp.Version || got.Commit != stamp.Commit || got.Go != runtime.Version() {
		t.Errorf("kubectl canary version -o json printed %s (%v), want version %s, commit %s, go %s", out, err, stamp.Version, stamp.Commit, runtime.Version())
	}
}

func closedKubeconfig(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://%s\"}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: t}\n", addr)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The built binary reports bad input as one line on stderr and exits with
// the documented code.
func TestBinaryExitCodes(t *testing.T) {
	bin := build(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("kind: Canary\nspec:\n  a: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	kubeconfig := closedKubeconfig(t)
	cases := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"--help"}, 0, ""},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"lint", "-f", broken}, 1, broken + ": document 1 (line 1): line 3: did not find expected node content"},
		{[]string{"simulate", "-f", broken}, 1, broken + ": document 1 (line 1): line 3: did not find expected node content"},
		{[]string{"get", "podinfo", "--kubeconfig", kubeconfig}, 1, "cannot reach the Kubernetes API"},
		{[]string{"abort", "podinfo", "-n", "prod"}, 1, "cannot reach the Kubernetes API"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "NO_COLOR=1")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
			if tc.stderr == "" {
				return
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.stderr) {
				t.Errorf("stderr %q, want one line with %q", stderr.String(), tc.stderr)
			}
		})
	}
}
