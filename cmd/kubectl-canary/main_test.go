package main_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// build compiles the plugin as kubectl would find it on the PATH.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kubectl-canary")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
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
