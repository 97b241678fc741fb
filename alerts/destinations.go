package alerts

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// destination is a receiver with everything needed to call it.
type destination struct {
	// name is "<namespace>/<provider>" or "global".
	name          string
	typ           string
	url           string
	token         string
	proxy         string
	channel, user string
	// severity is the lowest severity the canary's alert entry receives.
	severity flaggerv1.AlertSeverity
}

// accepts applies the alert entry's severity: info (or empty) receives
// everything, warn receives warn and error, error only error. Flagger sends
// nothing to an entry without a severity although its default is
// documented as info; Warbler treats it as info.
func (d destination) accepts(s analysis.Severity) bool {
	switch d.severity {
	case flaggerv1.SeverityError:
		return s == analysis.SeverityError
	case flaggerv1.SeverityWarn:
		return s == analysis.SeverityWarn || s == analysis.SeverityError
	}
	return true
}

// global is the notifier of the -msteams-url and -slack-url flags; Teams
// wins, as in Flagger. It is nil when neither is set.
func global(f Flags) *destination {
	switch {
	case f.MSTeamsURL != "":
		return &destination{name: "global", typ: TypeMSTeams, url: f.MSTeamsURL, proxy: f.MSTeamsProxyURL}
	case f.SlackURL != "":
		return &destination{name: "global", typ: TypeSlack, url: f.SlackURL, token: f.SlackToken, proxy: f.SlackProxyURL,
			channel: f.SlackChannel, user: f.SlackUser}
	}
	return nil
}

// destinations resolves the canary's alert entries to receivers; a canary
// without analysis.alerts uses the global notifier. Entries that cannot be
// resolved are returned as errors and skipped.
func (n *Notifier) destinations(ctx context.Context, c *flaggerv1.Canary) ([]destination, []error) {
	if c.Spec.Analysis == nil || len(c.Spec.Analysis.Alerts) == 0 {
		if n.global == nil {
			return nil, nil
		}
		return []destination{*n.global}, nil
	}
	var out []destination
	var errs []error
	for i, a := range c.Spec.Analysis.Alerts {
		d, err := n.resolve(ctx, c, a)
		if err != nil {
			errs = append(errs, fmt.Errorf("canary %s: spec.analysis.alerts[%d] (%s): %w", c.Key(), i, a.Name, err))
			continue
		}
		out = append(out, d)
	}
	return out, errs
}

// resolve reads the AlertProvider of an alert entry and its Secret, which
// lives in the provider's namespace.
func (n *Notifier) resolve(ctx context.Context, c *flaggerv1.Canary, a flaggerv1.CanaryAlert) (destination, error) {
	ns := a.ProviderRef.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	var p flaggerv1.AlertProvider
	key := client.ObjectKey{Namespace: ns, Name: a.ProviderRef.Name}
	err := n.cache.Get(ctx, key, &p)
	if err != nil && !apierrors.IsNotFound(err) {
		// a cache limited to some namespaces (-namespace) cannot see a
		// provider elsewhere
		err = n.api.Get(ctx, key, &p)
	}
	if err != nil {
		return destination{}, fmt.Errorf("reading AlertProvider %s.%s: %w", a.ProviderRef.Name, ns, err)
	}
	d := destination{name: ns + "/" + p.Name, typ: p.Spec.Type, url: p.Spec.Address, proxy: p.Spec.Proxy,
		channel: p.Spec.Channel, user: p.Spec.Username, severity: a.Severity}
	if d.channel == "" {
		d.channel = "general"
	}
	if d.user == "" {
		d.user = "flagger"
	}
	if ref := p.Spec.SecretRef; ref != nil {
		if err := n.readSecret(ctx, ns, ref.Name, &d); err != nil {
			return destination{}, fmt.Errorf("AlertProvider %s.%s: %w", p.Name, ns, err)
		}
	}
	if d.url == "" {
		return destination{}, fmt.Errorf("AlertProvider %s.%s has no address: set spec.address or the key address in spec.secretRef", p.Name, ns)
	}
	if !slices.Contains(Types(), d.typ) {
		return destination{}, fmt.Errorf("AlertProvider %s.%s: unknown type %q; valid: %s", p.Name, ns, d.typ, strings.Join(Types(), ", "))
	}
	return d, nil
}

// readSecret takes address, token and proxy from the provider's Secret;
// its values win over the spec's.
func (n *Notifier) readSecret(ctx context.Context, ns, name string, d *destination) error {
	var s corev1.Secret
	if err := n.api.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		return fmt.Errorf("reading secret %s.%s (spec.secretRef): %w", name, ns, err)
	}
	if v := strings.TrimSpace(string(s.Data["address"])); v != "" {
		d.url = v
	}
	if v := strings.TrimSpace(string(s.Data["token"])); v != "" {
		d.token = v
	}
	if v := strings.TrimSpace(string(s.Data["proxy"])); v != "" {
		d.proxy = v
	}
	return nil
}
