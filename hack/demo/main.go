// Command demo runs seed 003 on an embedded local stack (make demo): it
// starts the control plane, builds and starts the controller and the
// loadtester, releases podinfo 3.1.1 (promoted) and 3.1.2 (rolled back),
// prints a summary and stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/warbler-dev/warbler/internal/demo"
	"github.com/warbler-dev/warbler/internal/stack"
)

func main() {
	interval := flag.String("interval", "2s", "analysis interval of the demo Canary (seed 003 uses 10s)")
	keep := flag.Bool("keep", false, "keep the working directory with the processes' logs")
	flag.Parse()
	if err := run(*interval, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(interval string, keep bool) error {
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root, err := stack.Root()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "warbler-demo-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	fmt.Println("==> building the controller and the loadtester")
	bins := filepath.Join(dir, "bin")
	build := exec.CommandContext(ctx, "go", "build", "-o", bins+"/", "./cmd/warbler", "./cmd/loadtester")
	build.Dir, build.Stdout, build.Stderr = root, os.Stdout, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	fmt.Println("==> starting the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)")
	stackDir := filepath.Join(dir, "stack")
	kubeconfig, err := stack.Up(root, stackDir, os.Getpid())
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("==> stopping the local control plane")
		stack.Down(root, stackDir)
	}()
	fi, _ := os.Stdout.Stat()
	res, err := demo.Run(ctx, demo.Config{
		Root: root, Kubeconfig: kubeconfig, Dir: dir, Interval: interval,
		Warbler: filepath.Join(bins, "warbler"), Loadtester: filepath.Join(bins, "loadtester"),
		Out: os.Stdout, Live: fi != nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb",
	})
	if err != nil {
		if keep {
			fmt.Println("logs kept in", dir)
		}
		return err
	}
	fmt.Print("\n" + demo.Summary(res))
	fmt.Printf("  the demo took %s\n", time.Since(start).Round(time.Second))
	if keep {
		fmt.Println("  logs kept in", dir)
	}
	return nil
}
