package canarycli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A sharded fleet shows each canary's shard; "-" is the shard of the
// unlabelled ones. An unsharded fleet's table is unchanged.
func TestListShowsTheShard(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	a := &App{Stdout: &out, Getenv: func(string) string { return "" }, Now: func() time.Time { return now }}
	items := []ListItem{
		{Namespace: "prod", Name: "api", Phase: "Succeeded", Target: "Deployment/api", Shard: "shard1"},
		{Namespace: "prod", Name: "web", Phase: "Succeeded", Target: "Deployment/web"},
	}
	a.renderList(items, false)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "SHARD") || !strings.HasSuffix(lines[1], "shard1") || !strings.HasSuffix(lines[2], " -") {
		t.Errorf("list of a sharded fleet:\n%s", out.String())
	}
	out.Reset()
	items[0].Shard = ""
	a.renderList(items, false)
	if strings.Contains(out.String(), "SHARD") {
		t.Errorf("an unsharded fleet shows a SHARD column:\n%s", out.String())
	}
}

func TestHeaderShowsTheShard(t *testing.T) {
	var out bytes.Buffer
	renderHeader(&out, &Summary{Name: "api", Namespace: "prod", Shard: "shard1", Phase: "Succeeded"}, style{}, time.Now())
	if !strings.Contains(out.String(), "Shard:          shard1\n") {
		t.Errorf("header lacks the shard:\n%s", out.String())
	}
	out.Reset()
	renderHeader(&out, &Summary{Name: "api", Namespace: "prod", Phase: "Succeeded"}, style{}, time.Now())
	if strings.Contains(out.String(), "Shard:") {
		t.Errorf("header of an unlabelled canary names a shard:\n%s", out.String())
	}
}
