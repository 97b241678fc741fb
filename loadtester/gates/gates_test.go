package gates

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestMemoryStore(t *testing.T) {
	m := NewMemory()
	ctx := context.Background()
	if open, _ := m.IsOpen(ctx, "podinfo.prod"); open {
		t.Fatal("a gate never set is open")
	}
	_ = m.Set(ctx, Change{Key: "podinfo.prod", Open: true})
	if open, _ := m.IsOpen(ctx, "podinfo.prod"); !open {
		t.Fatal("opened gate is closed")
	}
	if open, _ := m.IsOpen(ctx, "rollback.podinfo.prod"); open {
		t.Fatal("the rollback gate shares the gate's state")
	}
}

func TestObjectName(t *testing.T) {
	cases := map[string]string{
		"podinfo.prod":          "warbler-gate-podinfo.prod",
		"rollback.podinfo.prod": "warbler-gate-rollback.podinfo.prod",
	}
	for key, want := range cases {
		if got := ObjectName(key); got != want {
			t.Errorf("ObjectName(%q) = %q, want %q", key, got, want)
		}
	}
	for _, key := range []string{"Podinfo.prod", "pod_info.prod", "nodot", ".prod", strings.Repeat("a", 250) + ".prod"} {
		got := ObjectName(key)
		if !strings.HasPrefix(got, "warbler-gate-") || strings.Contains(got, ".") || len(got) != len("warbler-gate-")+20 {
			t.Errorf("ObjectName(%q) = %q, want a hashed name", key, got)
		}
	}
	if ObjectName("a.b") == ObjectName("a.c") || ObjectName("X.y") == ObjectName("X.z") {
		t.Error("different keys share an object")
	}
}

func TestRecordKeepsTheLastChanges(t *testing.T) {
	cm := &corev1.ConfigMap{}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range historyLen + 5 {
		if err := record(cm, Change{Key: "podinfo.prod", Open: i%2 == 0, By: fmt.Sprintf("user-%d", i), At: at}); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(cm.Data[historyData]), "\n")
	if len(lines) != historyLen {
		t.Fatalf("%d history lines, want %d", len(lines), historyLen)
	}
	var first, last Change
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &last)
	if first.By != "user-5" || last.By != "user-24" {
		t.Errorf("history runs from %s to %s, want user-5 to user-24", first.By, last.By)
	}
	if cm.Data[openData] != "true" || cm.Data[changedByData] != "user-24" || cm.Data[changedAtData] != "2026-01-02T03:04:05Z" || cm.Data[keyData] != "podinfo.prod" {
		t.Errorf("data %v", cm.Data)
	}
}
