// Package cmdline splits a command line into words the way a POSIX shell
// would for a simple command, without running a shell.
//
// The loadtester uses it twice: to recognise a `hey ...` command it can run
// in-process, and to run allow-listed commands argv-style. Anything that
// needs a real shell to mean what it says (pipes, redirections, `&&`,
// variables, command substitution, comments) is reported as ErrNeedsShell,
// so the caller can hand the line to sh or refuse it; it is never silently
// taken literally.
package cmdline

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNeedsShell means the line uses shell syntax beyond quoting.
var ErrNeedsShell = errors.New("command line uses shell syntax (pipes, redirections, &&, ;, $, backquotes, or comments)")

// SyntaxError is a line a shell would reject, such as an unclosed quote.
type SyntaxError struct {
	Msg string
	Pos int // byte offset in the line
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("command line: %s at byte %d", e.Msg, e.Pos)
}

// shellOnly are the characters that, unquoted, make a line more than a
// simple command. Glob characters are not among them: an unmatched glob is
// passed on literally by sh, which is what URLs with '?' rely on.
const shellOnly = "|&;<>()$`"

// Split returns the words of line. Single quotes keep everything literally,
// double quotes keep everything but \" \\ \$ \` and line continuations, and
// an unquoted backslash escapes the next byte.
func Split(line string) ([]string, error) {
	s := splitter{line: line}
	return s.run()
}

type splitter struct {
	line   string
	words  []string
	cur    strings.Builder
	inWord bool
}

func (s *splitter) run() ([]string, error) {
	for i := 0; i < len(s.line); i++ {
		c := s.line[i]
		var err error
		switch {
		case c == ' ' || c == '\t':
			s.endWord()
		case c == '\n' || c == '\r':
			return nil, ErrNeedsShell // a second command
		case c == '#' && !s.inWord:
			return nil, ErrNeedsShell // a comment
		case strings.IndexByte(shellOnly, c) >= 0:
			return nil, ErrNeedsShell
		case c == '\'':
			i, err = s.single(i)
		case c == '"':
			i, err = s.double(i)
		case c == '\\':
			i, err = s.escape(i)
		default:
			s.add(c)
		}
		if err != nil {
			return nil, err
		}
	}
	s.endWord()
	return s.words, nil
}

func (s *splitter) add(c byte) {
	s.cur.WriteByte(c)
	s.inWord = true
}

func (s *splitter) endWord() {
	if s.inWord {
		s.words = append(s.words, s.cur.String())
	}
	s.cur.Reset()
	s.inWord = false
}

// single consumes '...' starting at the opening quote and returns the index
// of the closing one.
func (s *splitter) single(open int) (int, error) {
	end := strings.IndexByte(s.line[open+1:], '\'')
	if end < 0 {
		return 0, &SyntaxError{Msg: "unclosed single quote", Pos: open}
	}
	s.cur.WriteString(s.line[open+1 : open+1+end])
	s.inWord = true
	return open + 1 + end, nil
}

// double consumes "..." starting at the opening quote and returns the index
// of the closing one.
func (s *splitter) double(open int) (int, error) {
	s.inWord = true
	for i := open + 1; i < len(s.line); i++ {
		switch c := s.line[i]; c {
		case '"':
			return i, nil
		case '$', '`':
			return 0, ErrNeedsShell // expansion inside double quotes
		case '\\':
			if i+1 < len(s.line) && strings.IndexByte("\"\\$`\n", s.line[i+1]) >= 0 {
				i++
				if s.line[i] != '\n' { // backslash-newline is a line continuation
					s.cur.WriteByte(s.line[i])
				}
				continue
			}
			s.cur.WriteByte(c)
		default:
			s.cur.WriteByte(c)
		}
	}
	return 0, &SyntaxError{Msg: "unclosed double quote", Pos: open}
}

// escape handles an unquoted backslash at i and returns the index of the
// byte it escaped.
func (s *splitter) escape(i int) (int, error) {
	if i+1 >= len(s.line) {
		return 0, &SyntaxError{Msg: "backslash at the end of the line", Pos: i}
	}
	if s.line[i+1] == '\n' { // line continuation: joins words
		return i + 1, nil
	}
	s.add(s.line[i+1])
	return i + 1, nil
}
