package canarycli

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// shorthandUsage marks a one-letter flag as the shorthand of a long one:
// it is registered with the usage "shorthand for --<long>".
const shorthandUsage = "shorthand for --"

// alias registers short as the shorthand of the long flag that is already
// registered.
func alias(fs *flag.FlagSet, short, long string) {
	fs.Var(fs.Lookup(long).Value, short, shorthandUsage+long)
}

// The flags every command accepts, by section of the help.
var (
	clusterFlags = []string{"kubeconfig", "context", "namespace", "n", "request-timeout"}
	globalFlags  = []string{"no-color"}
)

// flagHelp is one line of a command's help.
type flagHelp struct {
	short, long, arg, usage, def string
}

// printFlags writes the flags of fs named in only (every flag when only is
// nil, except those in skip) as kubectl does: "-o, --output FORMAT", long
// names with two dashes, shorthands beside them.
func printFlags(w io.Writer, fs *flag.FlagSet, only, skip []string) {
	shorts := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if long, ok := strings.CutPrefix(f.Usage, shorthandUsage); ok {
			shorts[long] = f.Name
		}
	})
	var lines []flagHelp
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Usage, shorthandUsage) || slices.Contains(skip, f.Name) || (only != nil && !slices.Contains(only, f.Name)) {
			return
		}
		arg, usage := flag.UnquoteUsage(f)
		h := flagHelp{short: shorts[f.Name], long: f.Name, arg: arg, usage: usage}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			h.def = f.DefValue
		}
		lines = append(lines, h)
	})
	width := 0
	names := make([]string, len(lines))
	for i, h := range lines {
		name := "    --" + h.long
		if h.short != "" {
			name = "-" + h.short + ", --" + h.long
		}
		if h.arg != "" {
			name += " " + h.arg
		}
		names[i] = name
		width = max(width, len(name))
	}
	for i, h := range lines {
		usage := h.usage
		if h.def != "" {
			usage += fmt.Sprintf(" (default %s)", h.def)
		}
		fmt.Fprintf(w, "  %-*s  %s\n", width, names[i], usage)
	}
}
