package cmdline

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		name string
		line string
		want []string
	}{
		{"words split on blanks", "hey -z 2m  -c\t2 http://x/", []string{"hey", "-z", "2m", "-c", "2", "http://x/"}},
		{"single quotes keep everything", `hey -H 'X-A: b c' -d '{"a":"$1"}' u`, []string{"hey", "-H", "X-A: b c", "-d", `{"a":"$1"}`, "u"}},
		{"double quotes keep blanks and unescape", `echo "a \"b\" \\ c"`, []string{"echo", `a "b" \ c`}},
		{"double quotes keep other backslashes", `echo "a\nb"`, []string{"echo", `a\nb`}},
		{"backslash escapes a blank", `echo a\ b`, []string{"echo", "a b"}},
		{"quotes join a word", `a"b"'c'd`, []string{"abcd"}},
		{"empty quotes make an empty word", `echo ""`, []string{"echo", ""}},
		{"query strings are literal", "hey http://x/?a=1&", nil},
		{"unmatched glob characters are literal", "hey http://x/?a=1*", []string{"hey", "http://x/?a=1*"}},
		{"hash inside a word is literal", "curl http://x/#frag", []string{"curl", "http://x/#frag"}},
		{"line continuation joins", "a \\\nb", []string{"a", "b"}},
		{"blank line", "   ", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Split(c.line)
			if c.want == nil && strings.Contains(c.line, "&") {
				if !errors.Is(err, ErrNeedsShell) {
					t.Fatalf("Split(%q) err = %v, want ErrNeedsShell", c.line, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("Split(%q) = %q, %v; want %q", c.line, got, err, c.want)
			}
		})
	}
}

func TestSplitReportsShellSyntax(t *testing.T) {
	for _, line := range []string{
		"hey http://x | tee out", "a && b", "a; b", "a > f", "a < f", "echo $HOME", "echo `id`",
		`echo "$HOME"`, "echo $(id)", "a\nb", "# comment", "a &", "(a)",
	} {
		if _, err := Split(line); !errors.Is(err, ErrNeedsShell) {
			t.Errorf("Split(%q) err = %v, want ErrNeedsShell", line, err)
		}
	}
}

func TestSplitReportsSyntaxErrors(t *testing.T) {
	for _, line := range []string{`echo 'a`, `echo "a`, `echo a\`} {
		var se *SyntaxError
		if _, err := Split(line); !errors.As(err, &se) {
			t.Errorf("Split(%q) err = %v, want a *SyntaxError", line, err)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"hey -z 1s http://a/", `a 'b c' "d\"e"`, "a\\ b", "x | y", `"unclosed`, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if err != nil {
			return
		}
		// a line without quotes or escapes splits on blanks (sh's default
		// IFS, the newline being a command separator)
		blanks := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if !strings.ContainsAny(line, `'"\`) && !slices.Equal(words, blanks) {
			t.Fatalf("Split(%q) = %q, want %q", line, words, blanks)
		}
	})
}
