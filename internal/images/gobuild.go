package images

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// goBuild builds the two binaries for p, static and stamped with the
// version, and returns their paths by name. -trimpath keeps the checkout's
// path out of them, so another clone of the commit builds the same bytes.
func (b *builder) goBuild(ctx context.Context, p v1.Platform) (map[string]string, error) {
	dir := filepath.Join(b.work, "bin-"+p.Architecture)
	b.logf("go build %s, %s for %s", Controller, Loadtester, platformString(p))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w "+b.stamp.Ldflags,
		"-o", dir+string(filepath.Separator), "./cmd/"+Controller, "./cmd/"+Loadtester)
	cmd.Dir = b.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return map[string]string{
		Controller: filepath.Join(dir, Controller),
		Loadtester: filepath.Join(dir, Loadtester),
	}, nil
}

// kubectl returns kubectl for linux/arch, built by hack/stack.sh at the
// version of the local stack (the client-go minor Warbler is built with).
func (b *builder) kubectl(ctx context.Context, arch string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.Root, "hack", "stack.sh"), "bin", "kubectl-linux-"+arch)
	cmd.Stderr = b.Log
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/stack.sh bin kubectl-linux-%s: %w", arch, err)
	}
	return strings.TrimSpace(string(out)), nil
}
