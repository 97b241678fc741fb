package canarycli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// A canary waiting for a gate says for how long, and when its gateTimeout
// rolls it back.
func TestHeaderShowsTheWaitAndTheGateTimeout(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	since := now.Add(-20 * time.Minute)
	spec, err := analysis.Validate(analysis.Canary{Name: "podinfo", Namespace: "prod", Interval: "1m", Threshold: 5, StepWeight: 50,
		Webhooks: []analysis.Webhook{
			{Name: "approval", Type: "confirm-promotion", GateTimeout: "1h"},
			{Name: "change-board", Type: "confirm-promotion", GateTimeout: "24h"},
			{Name: "start", Type: "confirm-rollout", GateTimeout: "5m"},
		}}, analysis.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	least := shortestGateTimeout(spec, flaggerv1.CanaryPhaseWaitingPromotion)
	s := &Summary{Name: "podinfo", Namespace: "prod", Phase: "WaitingPromotion", Strategy: string(analysis.StrategyCanary),
		WaitingSince: &since, GateTimeout: &metav1.Duration{Duration: least}}
	var out bytes.Buffer
	renderHeader(&out, s, style{}, now)
	if want := "Waiting:        for 20m (gateTimeout 1h0m0s: rolled back in 40m)"; !strings.Contains(out.String(), want) {
		t.Errorf("header lacks %q:\n%s", want, out.String())
	}
	s.GateTimeout = nil
	out.Reset()
	renderHeader(&out, s, style{}, now)
	if want := "Waiting:        for 20m\n"; !strings.Contains(out.String(), want) {
		t.Errorf("header without a gateTimeout lacks %q:\n%s", want, out.String())
	}
}
