package canarycli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// completeCommand is the hidden command the completion scripts call, in
// cobra's protocol, which kubectl also speaks to plugins (an executable
// kubectl_complete-canary on the PATH): the words after the program name,
// the last being the word under the cursor; the answer is one candidate a
// line, then ":<directive>".
const completeCommand = "__complete"

// Directives of the completion protocol.
const (
	completeDefault   = 0 // the shell may complete file names
	completeNoFileArg = 4 // no file names
)

func (a *App) completionCmd() *command {
	return &command{
		name: "completion", args: "bash|zsh|fish", minArgs: 1, maxArgs: 1, offline: true,
		summary: "print a shell completion script: source <(kubectl-canary completion bash), or see docs/cli.md for zsh and fish",
		run: func(_ context.Context, args []string) error {
			script, ok := completionScripts[args[0]]
			if !ok {
				return usagef("completion %q: valid shells are bash, zsh and fish", args[0])
			}
			_, err := io.WriteString(a.Stdout, script)
			return err
		},
	}
}

func (a *App) completeCmd() *command {
	return &command{
		name: completeCommand, args: "WORDS...", minArgs: 1, maxArgs: -1, hidden: true, offline: true,
		summary: "complete the last word (the protocol of the completion scripts)",
		run: func(ctx context.Context, words []string) error {
			cands, directive := a.complete(ctx, words)
			for _, c := range cands {
				fmt.Fprintln(a.Stdout, c)
			}
			fmt.Fprintf(a.Stdout, ":%d\n", directive)
			return nil
		},
	}
}

// complete finds the candidates for the last of words.
func (a *App) complete(ctx context.Context, words []string) ([]string, int) {
	partial, before := words[len(words)-1], words[:len(words)-1]
	cmds := a.commands()
	var cmd *command
	var pos []string
	fs := a.flagSet("complete")
	for i := 0; i < len(before); i++ {
		w := before[i]
		if strings.HasPrefix(w, "-") {
			if f := fs.Lookup(strings.TrimLeft(strings.SplitN(w, "=", 2)[0], "-")); f != nil && !isBool(f) && !strings.Contains(w, "=") {
				if i+1 < len(before) {
					_ = f.Value.Set(before[i+1])
				}
				i++
			}
			continue
		}
		if cmd == nil {
			if cmd = cmds[w]; cmd == nil {
				return nil, completeNoFileArg
			}
			if cmd.flags != nil {
				cmd.flags(fs)
			}
			if cmd.output {
				a.outputFlag(fs)
			}
			continue
		}
		pos = append(pos, w)
	}
	if n := len(before); n > 0 && strings.HasPrefix(before[n-1], "-") && !strings.Contains(before[n-1], "=") {
		if f := fs.Lookup(strings.TrimLeft(before[n-1], "-")); f != nil && !isBool(f) {
			return a.flagValues(ctx, f.Name, partial)
		}
	}
	switch {
	case strings.HasPrefix(partial, "-"):
		return matching(flagNames(fs), partial), completeNoFileArg
	case cmd == nil:
		return matching(a.names(), partial), completeNoFileArg
	case cmd.name == "completion" && len(pos) == 0:
		return matching([]string{"bash", "fish", "zsh"}, partial), completeNoFileArg
	case strings.HasPrefix(cmd.args, "CANARY") && len(pos) == 0:
		return matching(a.canaryNames(ctx), partial), completeNoFileArg
	}
	return nil, completeNoFileArg
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// flagValues completes the value of a flag.
func (a *App) flagValues(ctx context.Context, name, partial string) ([]string, int) {
	switch name {
	case "output", "o":
		return matching([]string{"json", "yaml"}, partial), completeNoFileArg
	case "mesh-provider":
		return matching(routers.Supported(), partial), completeNoFileArg
	case "namespace", "n":
		return matching(a.namespaceNames(ctx), partial), completeNoFileArg
	case "kubeconfig", "filename", "f":
		return nil, completeDefault
	}
	return nil, completeNoFileArg
}

func flagNames(fs *flag.FlagSet) []string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) == 1 {
			out = append(out, "-"+f.Name)
		} else {
			out = append(out, "--"+f.Name)
		}
	})
	return out
}

// canaryNames lists the canaries of the namespace.
func (a *App) canaryNames(ctx context.Context) []string {
	cl, err := a.connect()
	if err != nil {
		return nil
	}
	return a.objectNames(ctx, &flaggerv1.CanaryList{}, client.InNamespace(cl.namespace))
}

func (a *App) namespaceNames(ctx context.Context) []string {
	return a.objectNames(ctx, &corev1.NamespaceList{})
}

// objectNames lists the names of some objects; nothing when the cluster
// cannot be reached, which a completion must not complain about.
func (a *App) objectNames(ctx context.Context, list client.ObjectList, opts ...client.ListOption) []string {
	cl, err := a.connect()
	if err != nil {
		return nil
	}
	if err := cl.client.List(ctx, list, opts...); err != nil {
		return nil
	}
	items, _ := meta.ExtractList(list)
	var out []string
	for _, o := range items {
		if m, err := meta.Accessor(o); err == nil {
			out = append(out, m.GetName())
		}
	}
	return out
}

// matching keeps the words that start with prefix, sorted.
func matching(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	sort.Strings(out)
	return out
}

// completionScripts ask the binary for candidates, so that the commands,
// flags and canary names are always the binary's own.
var completionScripts = map[string]string{
	"bash": `# bash completion for kubectl-canary: source <(kubectl-canary completion bash)
_kubectl_canary() {
    local cur=${COMP_WORDS[COMP_CWORD]} out directive
    out=$(kubectl-canary __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
    directive=${out##*:}
    out=${out%:*}
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
    if [[ ${#COMPREPLY[@]} -eq 0 && $directive == 0 ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F _kubectl_canary kubectl-canary
`,
	"zsh": `#compdef kubectl-canary
# zsh completion for kubectl-canary: kubectl-canary completion zsh > "${fpath[1]}/_kubectl-canary"
_kubectl_canary() {
    local -a out
    out=("${(@f)$(kubectl-canary __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    local directive=${out[-1]#:}
    out=("${(@)out[1,-2]}")
    if (( ${#out} )); then
        compadd -- "${(@)out}"
    elif [[ $directive == 0 ]]; then
        _files
    fi
}
if [[ $zsh_eval_context[-1] == loadautoload ]]; then
    _kubectl_canary "$@"
else
    compdef _kubectl_canary kubectl-canary
fi
`,
	"fish": `# fish completion for kubectl-canary: kubectl-canary completion fish > ~/.config/fish/completions/kubectl-canary.fish
function __kubectl_canary_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out (kubectl-canary __complete $words[2..-1] 2>/dev/null)
    set -l directive (string replace ':' '' -- $out[-1])
    set -e out[-1]
    if test (count $out) -gt 0
        printf '%s\n' $out
    else if test "$directive" = 0
        __fish_complete_path (commandline -ct)
    end
end
complete -c kubectl-canary -f -a '(__kubectl_canary_complete)'
`,
}
