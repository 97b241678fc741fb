package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLinesReadLikeFlaggers(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, slog.LevelInfo).Info("Advance podinfo.test canary weight 5", "canary", "podinfo.test")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %q", buf.String())
	}
	if line["msg"] != "Advance podinfo.test canary weight 5" || line["level"] != "info" || line["canary"] != "podinfo.test" {
		t.Errorf("line = %v", line)
	}
	if _, ok := line["ts"].(string); !ok {
		t.Errorf("no ts in %v", line)
	}
	if c, _ := line["caller"].(string); c != "logging/logging_test.go:12" {
		t.Errorf("caller = %q, want logging/logging_test.go:12", c)
	}
}

func TestLevels(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "WARN": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("verbose"); err == nil {
		t.Error("ParseLevel(verbose) accepted")
	}
	var buf bytes.Buffer
	New(&buf, slog.LevelWarn).Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("info line written at warn level: %q", buf.String())
	}
}
