package main

import (
	"strings"
	"testing"
)

func TestLeaseNamePerShard(t *testing.T) {
	for _, tc := range []struct{ selector, want string }{
		{"", "warbler-leader-election"},
		{"sharding.warbler.dev/key in (shard1)", "warbler-leader-election-shard1"},
		{"sharding.warbler.dev/key=shard2", "warbler-leader-election-shard2"},
		{"sharding.warbler.dev/key in (b,a)", "warbler-leader-election-a-b"},
		{"!sharding.warbler.dev/key", "warbler-leader-election-unsharded"},
		{"sharding.warbler.dev/key in (EU_West)", "warbler-leader-election-eu-west"},
	} {
		sel, err := watchSelector(tc.selector)
		if err != nil {
			t.Fatalf("%q: %v", tc.selector, err)
		}
		if got := leaseName("warbler-leader-election", sel); got != tc.want {
			t.Errorf("leaseName(%q) = %q, want %q", tc.selector, got, tc.want)
		}
	}
}

func TestLeaseNameOfOtherSelectorsIsAStableHash(t *testing.T) {
	a, _ := watchSelector("team=payments,tier!=batch")
	b, _ := watchSelector("tier!=batch,team=payments")
	c, _ := watchSelector("team=search,tier!=batch")
	if leaseName("x", a) != leaseName("x", b) {
		t.Errorf("the same selector written twice gives two Leases: %q, %q", leaseName("x", a), leaseName("x", b))
	}
	if leaseName("x", a) == leaseName("x", c) {
		t.Errorf("two shards share the Lease %q", leaseName("x", a))
	}
	if !strings.HasPrefix(leaseName("x", a), "x-") {
		t.Errorf("lease %q does not start with the -leader-election-id", leaseName("x", a))
	}
}

func TestBadShardingAndLeaseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-watch-label-selector", "sharding.warbler.dev/key in (shard1"}, "-watch-label-selector"},
		{[]string{"-enable-leader-election", "-leader-election-lease-duration", "5s", "-leader-election-renew-deadline", "10s"}, "-leader-election-lease-duration (5s) > -leader-election-renew-deadline (10s)"},
		{[]string{"-leader-election-retry-period", "0s"}, "-leader-election-retry-period (0s) > 0"},
	} {
		_, err := parseFlags(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	if _, err := parseFlags([]string{"-enable-leader-election", "-watch-label-selector", "!sharding.warbler.dev/key"}); err != nil {
		t.Errorf("the unlabelled shard's flags: %v", err)
	}
}
