package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warbler-dev/warbler/internal/stack"
)

// shell finds bash on the PATH, and zsh and fish through the stack's
// script, which installs them from Debian when they are missing.
func shell(t *testing.T, name string) string {
	t.Helper()
	if name == "bash" {
		path, err := exec.LookPath("bash")
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	root, err := stack.Root()
	if err != nil {
		t.Fatal(err)
	}
	path, err := stack.Binary(root, name)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// The scripts of `completion bash|zsh|fish`, loaded into the real shells,
// complete commands, flags and flag values through the built binary.
func TestCompletionScripts(t *testing.T) {
	bin := build(t)
	scripts := t.TempDir()
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, err := exec.Command(bin, "completion", sh).Output()
		if err != nil {
			t.Fatalf("completion %s: %v", sh, err)
		}
		if err := os.WriteFile(filepath.Join(scripts, sh), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// each shell completes a command line (words after the program, the
	// last being the word under the cursor) and prints one candidate a line
	drivers := map[string]func(words []string) string{
		"bash": func(words []string) string {
			return `source "$1"; COMP_WORDS=(kubectl-canary ` + quoted(words) + `); COMP_CWORD=${#COMP_WORDS[@]}; ((COMP_CWORD--)); _kubectl_canary; printf '%s\n' "${COMPREPLY[@]}"`
		},
		"zsh": func(words []string) string {
			// compadd and _files are the completion system's; stand-ins
			// record what the script hands them
			return `compdef() {}; compadd() { [[ $1 == -- ]] && shift; printf '%s\n' "$@"; }; _files() { print FILES; }; source "$1"; ` +
				`words=(kubectl-canary ` + quoted(words) + `); CURRENT=${#words}; _kubectl_canary`
		},
		"fish": func(words []string) string {
			return `source $argv[1]; complete -C"kubectl-canary ` + strings.Join(words, " ") + `"`
		},
	}
	cases := []struct {
		words []string
		want  []string
	}{
		{[]string{"st"}, []string{"status"}},
		{[]string{"get", "--wa"}, []string{"--watch"}},
		{[]string{"list", "-o", ""}, []string{"json", "yaml"}},
		{[]string{"completion", "z"}, []string{"zsh"}},
		{[]string{"get", "--mesh-provider", "kubernetes:r"}, []string{"kubernetes:replicas"}},
	}
	for sh, script := range drivers {
		path := shell(t, sh)
		for _, tc := range cases {
			t.Run(sh+" "+strings.Join(tc.words, " "), func(t *testing.T) {
				args := []string{"-c", script(tc.words)}
				if sh == "fish" {
					args = []string{"-c", script(tc.words), filepath.Join(scripts, sh)}
				} else {
					args = append(args, sh, filepath.Join(scripts, sh))
				}
				cmd := exec.Command(path, args...)
				cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "HOME="+t.TempDir())
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v\n%s", sh, err, out)
				}
				var got []string
				for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
					// fish prints "candidate<TAB>description"
					got = append(got, strings.SplitN(l, "\t", 2)[0])
				}
				if strings.Join(got, " ") != strings.Join(tc.want, " ") {
					t.Errorf("%s completes %q to %q, want %q", sh, tc.words, got, tc.want)
				}
			})
		}
	}
}

// quoted renders words as single-quoted shell words, so that an empty one
// stays a word.
func quoted(words []string) string {
	var out []string
	for _, w := range words {
		out = append(out, "'"+w+"'")
	}
	return strings.Join(out, " ")
}
