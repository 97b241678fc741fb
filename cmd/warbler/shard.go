package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ShardLabel is the label -watch-label-selector selects shards by.
const ShardLabel = flaggerv1.ShardLabel

// watchSelector parses -watch-label-selector; empty selects everything.
func watchSelector(s string) (labels.Selector, error) {
	if strings.TrimSpace(s) == "" {
		return labels.Everything(), nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("-watch-label-selector %q: %w (want a label selector such as '%s in (shard1)' or '!%s')", s, err, ShardLabel, ShardLabel)
	}
	return sel, nil
}

// shardCache restricts the manager's Canary informer to the shard: the
// canaries outside it are never listed, watched or reconciled here. The
// objects a canary owns or targets are watched as before; events about
// canaries of other shards find nothing in this cache and stop there.
func shardCache(opts *cache.Options, sel labels.Selector) {
	if sel.Empty() {
		return
	}
	if opts.ByObject == nil {
		opts.ByObject = map[client.Object]cache.ByObject{}
	}
	opts.ByObject[&flaggerv1.Canary{}] = cache.ByObject{Label: sel}
}

// leaseName is the leader-election Lease of a shard: the -leader-election-id
// with a suffix from the selector, so that every shard elects its own
// leader. "in (shard1)" and "= shard1" give "-shard1", "!key" gives
// "-unsharded"; any other selector a hash of it.
func leaseName(id string, sel labels.Selector) string {
	if sel.Empty() {
		return id
	}
	suffix := ""
	if reqs, _ := sel.Requirements(); len(reqs) == 1 {
		switch r := reqs[0]; r.Operator() {
		case selection.In, selection.Equals, selection.DoubleEquals:
			suffix = strings.Join(r.Values().List(), "-")
		case selection.DoesNotExist:
			suffix = "unsharded"
		}
	}
	suffix = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(suffix), "-"), "-.")
	if suffix == "" || len(validation.IsDNS1123Subdomain(id+"-"+suffix)) > 0 {
		sum := sha256.Sum256([]byte(sel.String()))
		suffix = hex.EncodeToString(sum[:4])
	}
	return id + "-" + suffix
}

var notDNS = regexp.MustCompile(`[^a-z0-9.-]+`)

// leaderElection sets the manager's leader election from the flags. A
// standby takes over a dead leader's Lease at most lease duration + 2.4 ×
// retry period after the last renewal: it notices the last change up to one
// jittered retry late, and wins at its first retry after the expiry. The
// defaults (12s, 8s, 2s) bound that to 16.8 s. Caches and watches start on
// standbys too (controller warm-up), so the new leader does not list the
// cluster before its first tick.
func leaderElection(opts *ctrl.Options, f *flags, sel labels.Selector) {
	if !f.leaderElection {
		return
	}
	opts.LeaderElection = true
	opts.LeaderElectionID = leaseName(f.leaderElectionID, sel)
	opts.LeaderElectionNamespace = f.leaderElectionNamespace
	opts.LeaseDuration, opts.RenewDeadline, opts.RetryPeriod = &f.leaseDuration, &f.renewDeadline, &f.retryPeriod
	// a replica stopped on purpose (a rollout) hands the Lease over at once
	opts.LeaderElectionReleaseOnCancel = true
}

// checkLeaseTimes refuses timings client-go's leader election would reject
// at start with a less helpful message.
func checkLeaseTimes(f *flags) error {
	if f.leaseDuration <= f.renewDeadline || f.renewDeadline <= f.retryPeriod || f.retryPeriod <= 0 {
		return fmt.Errorf("want -leader-election-lease-duration (%s) > -leader-election-renew-deadline (%s) > -leader-election-retry-period (%s) > 0",
			f.leaseDuration, f.renewDeadline, f.retryPeriod)
	}
	return nil
}

// The leader-election defaults. controller-runtime's 15s lease let a
// standby wait up to 19.8 s (19.1 s measured by make chaos on a busy
// machine); 12s keeps a takeover under 17 s, and 8s to renew still rides
// out seconds of API server latency.
const (
	defaultLeaseDuration = 12 * time.Second
	defaultRenewDeadline = 8 * time.Second
	defaultRetryPeriod   = 2 * time.Second
)
