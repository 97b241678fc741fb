// Package stack is the Go side of hack/stack.sh: it starts and stops the
// local control plane, runs the helper processes (podinfo, Prometheus) on
// 127.0.0.1, and installs CRDs. The test harness (internal/testenv), the
// end-to-end scenario and `make demo` share it.
package stack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Root walks up from the working directory to the folder with go.mod.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func script(root string) string { return filepath.Join(root, "hack", "stack.sh") }

// Up starts a control plane in dir on free ports and returns the path of
// its admin kubeconfig. With ownerPID > 0 the stack stops by itself once
// that process is gone.
func Up(root, dir string, ownerPID int) (string, error) {
	base, err := FreePortRange(6)
	if err != nil {
		return "", err
	}
	cmd := exec.Command(script(root), "up", dir)
	cmd.Env = append(os.Environ(), "PORT_BASE="+strconv.Itoa(base))
	if ownerPID > 0 {
		cmd.Env = append(cmd.Env, "STACK_OWNER_PID="+strconv.Itoa(ownerPID))
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/stack.sh up: %w", err)
	}
	m := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("hack/stack.sh up printed no KUBECONFIG: %q", out)
	}
	return string(m[1]), nil
}

// Down stops the control plane in dir.
func Down(root, dir string) {
	cmd := exec.Command(script(root), "down", dir)
	cmd.Stderr = os.Stderr
	_ = cmd.Run()
}

// Binary returns the path of a binary from the stack's cache (etcd, kwok,
// kubectl, podinfo, prometheus, …), building or installing it if needed.
func Binary(root, name string) (string, error) {
	out, err := exec.Command(script(root), "bin", name).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("hack/stack.sh bin %s: %w: %s", name, err, msg)
	}
	return strings.TrimSpace(string(out)), nil
}

// WaitHTTP waits until GET url answers 200.
func WaitHTTP(ctx context.Context, url string) error {
	return Poll(ctx, 50*time.Millisecond, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	})
}

// Poll calls f every interval until it returns nil or ctx ends; it then
// returns the last error of f.
func Poll(ctx context.Context, interval time.Duration, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up after %v)", err, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) { return FreePortRange(1) }

// FreePortRange finds n consecutive free ports on 127.0.0.1.
func FreePortRange(n int) (int, error) {
	for range 50 {
		// below the ephemeral range (32768 and up on Linux), where any
		// client connection may hold a port between this check and the
		// bind of the process that needs it
		base := 20000 + rand.IntN(12000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no range of free ports found on 127.0.0.1")
}

// InstallCRDs creates or updates every CRD in dir and waits until each is
// Established.
func InstallCRDs(ctx context.Context, c client.Client, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		crds, err := readCRDs(f)
		if err != nil {
			return err
		}
		for _, crd := range crds {
			if err := applyCRD(ctx, c, crd); err != nil {
				return fmt.Errorf("installing %s from %s: %w", crd.Name, f, err)
			}
		}
	}
	return nil
}

func readCRDs(path string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, doc := range splitYAML(data) {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if crd.Kind == "CustomResourceDefinition" {
			crds = append(crds, crd)
		}
	}
	return crds, nil
}

// splitYAML splits a multi-document YAML file, dropping empty documents.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimRight(sc.Text(), " ") == "---" {
			flush()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

func applyCRD(ctx context.Context, c client.Client, want *apiextensionsv1.CustomResourceDefinition) error {
	for attempt := 0; ; attempt++ {
		have := &apiextensionsv1.CustomResourceDefinition{}
		err := c.Get(ctx, client.ObjectKey{Name: want.Name}, have)
		switch {
		case apierrors.IsNotFound(err):
			err = c.Create(ctx, want.DeepCopy())
		case err == nil:
			upd := want.DeepCopy()
			upd.ResourceVersion = have.ResourceVersion
			err = c.Update(ctx, upd)
		}
		if err == nil {
			break
		}
		if (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && attempt < 10 {
			continue
		}
		return err
	}
	return Poll(ctx, 200*time.Millisecond, func() error {
		have := &apiextensionsv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: want.Name}, have); err != nil {
			return err
		}
		for _, cond := range have.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("CRD %s not established", want.Name)
	})
}
