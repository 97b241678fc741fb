// Command images builds, pushes and packages what a Warbler release ships,
// without a Docker daemon (see package internal/images):
//
//	go run ./hack/images build  [-out dist/images] [-platforms linux/amd64,linux/arm64] [-repository ghcr.io/warbler-dev]
//	go run ./hack/images push   -registry HOST/PATH [-out dist/images]
//	go run ./hack/images charts [-out dist/charts]
//
// The Makefile runs them as `make images`, `make push REGISTRY=...` and
// `make charts`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/warbler-dev/warbler/internal/images"
	"github.com/warbler-dev/warbler/internal/stack"
	"github.com/warbler-dev/warbler/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("usage: images build|push|charts [flags]")}
	}
	root, err := stack.Root()
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("images "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "build":
		out := fs.String("out", "dist/images", "folder of the OCI layouts and docker-archives")
		platforms := fs.String("platforms", strings.Join(images.DefaultPlatforms, ","), "comma-separated platforms: linux/amd64, linux/arm64")
		repo := fs.String("repository", images.DefaultRepository, "repository the images are tagged for (<repository>/warbler:<version>)")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		start := time.Now()
		res, err := images.Build(ctx, images.Options{Root: root, Out: *out, Repository: *repo, Platforms: strings.Split(*platforms, ","), Log: stderr})
		if err != nil {
			return err
		}
		for _, im := range res.Images {
			fmt.Fprintf(stdout, "%s@%s\t%s\n", im.Ref, im.Index, im.Layout)
		}
		fmt.Fprintf(stderr, "built in %s\n", time.Since(start).Round(time.Second))
		return nil
	case "push":
		out := fs.String("out", "dist/images", "folder of the OCI layouts that build wrote")
		registry := fs.String("registry", "", "registry and path to push to, such as ghcr.io/warbler-dev")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if *registry == "" {
			return usageError{errors.New("push: -registry HOST/PATH is required")}
		}
		return images.Push(ctx, *out, strings.TrimSuffix(*registry, "/"), stdout)
	case "charts":
		out := fs.String("out", "dist/charts", "folder of the packaged charts")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		stamp, err := version.Describe(root)
		if err != nil {
			return err
		}
		paths, err := images.PackageCharts(root, *out, stamp.Version)
		for _, p := range paths {
			fmt.Fprintln(stdout, p)
		}
		return err
	default:
		return usageError{fmt.Errorf("unknown command %q: valid are build, push and charts", args[0])}
	}
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}
