package canarycli_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/warbler-dev/warbler/canarycli"
)

func TestDashboardFlagsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dashboard", "--port", "70000"}, "--port 70000: valid ports are 0 to 65535"},
		{[]string{"dashboard", "--address", "my-laptop"}, `--address "my-laptop": give an IP address, such as 127.0.0.1`},
		{[]string{"dashboard", "extra"}, "usage: kubectl canary dashboard"},
	} {
		code, _, stderr := run(t, "", tc.args...)
		if code != canarycli.ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, canarycli.ExitUsage, tc.want)
		}
	}
}

// A port already taken is one line that says so, before anything is
// served.
func TestDashboardPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// a kubeconfig that parses; the API server is never called
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
		"users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: prod}}]\ncurrent-context: x\n"
	if err := os.WriteFile(kc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	code, stdout, stderr := run(t, "", "dashboard", "--kubeconfig", kc, "--port", port)
	if code != canarycli.ExitFailed || stdout != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing served", code, stdout)
	}
	oneErrorLine(t, stderr, "serving the dashboard on 127.0.0.1:"+port+": listen tcp 127.0.0.1:"+port+": bind: address already in use (choose another --port)")
}
