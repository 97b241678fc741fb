// Package logging builds the JSON logger Warbler's binaries share. Its lines
// match Flagger's zap output closely enough that `jq .msg` pipelines and log
// queries keep working: keys level (lowercase), ts (ISO 8601), caller
// (package/file.go:line), msg, plus structured fields such as canary.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
)

// ParseLevel maps Flagger's -log-level values (debug, info, warn, error)
// to slog levels.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("-log-level %q: valid levels are debug, info, warn, error", s)
}

// New returns a JSON logger writing to w at the given level.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		AddSource:   true,
		ReplaceAttr: replace,
	}))
}

func replace(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("ts", a.Value.Time().UTC().Format("2006-01-02T15:04:05.000Z0700"))
	case slog.LevelKey:
		return slog.String("level", strings.ToLower(a.Value.Any().(slog.Level).String()))
	case slog.SourceKey:
		if src, ok := a.Value.Any().(*slog.Source); ok && src != nil {
			return slog.String("caller", fmt.Sprintf("%s/%s:%d", filepath.Base(filepath.Dir(src.File)), filepath.Base(src.File), src.Line))
		}
	}
	return a
}
