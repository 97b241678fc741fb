// Package controller runs canary releases on Kubernetes: one
// controller-runtime reconciler per Canary that gathers what the cluster
// looks like, asks the analysis package what to do, carries it out, and
// writes the status once. It owns the primary workload, the services, the
// copies of tracked configs, the primary autoscaler, events, logs, exported
// metrics and webhook calls; every decision is the analysis package's.
package controller

import (
	"log/slog"
	"time"
)

// Options are the controller-wide settings, mostly Flagger's flags.
type Options struct {
	// MetricsServer is the default Prometheus URL (-metrics-server).
	MetricsServer string
	// MeshProvider is the default traffic provider (-mesh-provider).
	MeshProvider string
	// SelectorLabels are the labels that find a target's pods, first match
	// wins (-selector-labels).
	SelectorLabels []string
	// IncludeLabelPrefix lists label prefixes copied to the primary
	// ("*" for all; -include-label-prefix).
	IncludeLabelPrefix []string
	// EnableConfigTracking tracks ConfigMaps and Secrets of the target.
	EnableConfigTracking bool
	// EventWebhook receives every event when a canary has no event hook of
	// its own (-event-webhook).
	EventWebhook string
	// ClusterName is added to alerts (-cluster-name).
	ClusterName string
	// NoCrossNamespaceRefs forbids templates and alert providers in other
	// namespaces (-no-cross-namespace-refs).
	NoCrossNamespaceRefs bool
	// MinInterval is the shortest analysis interval (Flagger: 10s).
	MinInterval time.Duration
	// IngressAnnotationsPrefix and IngressClass configure the nginx router.
	IngressAnnotationsPrefix string
	IngressClass             string
	// RouteAcceptanceTimeout bounds how long a step waits for a Gateway
	// whose status of an HTTPRoute is for an older generation
	// (-route-acceptance-timeout; default 30s).
	RouteAcceptanceTimeout time.Duration
	// Workers is how many canaries are reconciled at once (-threadiness).
	Workers int
	// HistoryLimit is how many releases each Canary's status.history
	// keeps (-release-history-limit; default 10).
	HistoryLimit int
	// Version is reported in flagger_info and the User-Agent of webhooks.
	Version string
	// Log receives the JSON log lines.
	Log *slog.Logger
}

// DefaultSelectorLabels are Flagger's -selector-labels.
var DefaultSelectorLabels = []string{"app", "name", "app.kubernetes.io/name"}

func (o *Options) defaults() {
	if len(o.SelectorLabels) == 0 {
		o.SelectorLabels = DefaultSelectorLabels
	}
	if o.MinInterval <= 0 {
		o.MinInterval = 10 * time.Second
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.IngressAnnotationsPrefix == "" {
		o.IngressAnnotationsPrefix = "nginx.ingress.kubernetes.io"
	}
}
