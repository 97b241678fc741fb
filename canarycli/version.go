package canarycli

import (
	"context"

	"github.com/warbler-dev/warbler/internal/version"
)

// versionCmd prints the plugin's own version; it needs no cluster.
func (a *App) versionCmd() *command {
	return &command{
		name: "version", args: "[-o json|yaml]", minArgs: 0, maxArgs: 0, output: true,
		summary: "print the plugin's version, commit and Go version",
		run: func(context.Context, []string) error {
			v := version.Get()
			if a.g.output != "" {
				return a.print(v)
			}
			return v.Fprint(a.Stdout)
		},
	}
}
