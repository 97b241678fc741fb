package canarycli

import (
	"os"
	"testing"
)

// Colours go to terminals only, and never with NO_COLOR or --no-color.
func TestColoursFollowNoColor(t *testing.T) {
	tty, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0) // a character device, as a terminal is
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	env := map[string]string{}
	a := &App{Stdout: tty, Getenv: func(k string) string { return env[k] }}
	if !a.style().color {
		t.Errorf("no colours on a character device")
	}
	env["NO_COLOR"] = "1"
	if a.style().color {
		t.Errorf("colours with NO_COLOR set")
	}
	delete(env, "NO_COLOR")
	a.g.noColor = true
	if a.style().color {
		t.Errorf("colours with --no-color")
	}
	a = &App{Stdout: os.Stderr, Getenv: func(string) string { return "" }}
	if f, _ := os.Stderr.Stat(); f.Mode()&os.ModeCharDevice == 0 && a.style().color {
		t.Errorf("colours on a pipe or file")
	}
	if got := colored(a.style().status(Bad, "Failed")); got != "✖ Failed" {
		t.Errorf("uncoloured status %q", got)
	}
	if got := colored((style{color: true}).status(Bad, "Failed")); got != "\x1b[31m✖ Failed\x1b[0m" {
		t.Errorf("coloured status %q", got)
	}
}
