// Command kubectl-canary is the kubectl plugin `kubectl canary`: install
// the binary on the PATH and kubectl finds it. It only wires the process
// (arguments, signals, exit code) to package canarycli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/warbler-dev/warbler/canarycli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := canarycli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
