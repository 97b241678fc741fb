package stack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A component that exits during start-up stops the stack, and its log
// survives where the message says it is, even once the caller deleted the
// stack's folder (as make demo and the test harness do).
func TestFailedStartUpKeepsTheLogs(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	base, err := FreePortRange(6)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(script(root), "up", dir)
	// an unknown flag makes kube-controller-manager exit at once
	cmd.Env = append(os.Environ(), "PORT_BASE="+strconv.Itoa(base), "KCM_ARGS=--no-such-flag")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		Down(root, dir)
		t.Fatalf("hack/stack.sh up succeeded with a broken kube-controller-manager:\n%s", stderr.String())
	}
	m := regexp.MustCompile(`kube-controller-manager exited during start-up; read (\S+)`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("the error does not say which log to read:\n%s", stderr.String())
	}
	kept := filepath.Dir(m[1])
	t.Cleanup(func() { _ = os.RemoveAll(kept) })
	if strings.HasPrefix(m[1], dir) {
		t.Errorf("the log %s is inside the stack's folder, which its caller deletes", m[1])
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatalf("the log the message names is gone: %v", err)
	}
	if !strings.Contains(string(log), "no-such-flag") {
		t.Errorf("%s does not say why kube-controller-manager exited:\n%s", m[1], log)
	}
	if !strings.Contains(stderr.String(), "stopping what started (logs kept in "+kept+")") {
		t.Errorf("the stack was not stopped, or did not say where the logs are:\n%s", stderr.String())
	}
	for _, f := range []string{"kube-apiserver.log", "etcd.log"} {
		if _, err := os.Stat(filepath.Join(kept, f)); err != nil {
			t.Errorf("the other components' logs are not kept: %v", err)
		}
	}
}
