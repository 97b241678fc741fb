// Command warbler is the canary controller. Its flags are Flagger's, so the
// same manifests and Helm values work; it runs in a pod or on a laptop
// against any cluster (-kubeconfig, else KUBECONFIG, else in-cluster).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/warbler-dev/warbler/alerts"
	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/controller"
	"github.com/warbler-dev/warbler/internal/httpserve"
	"github.com/warbler-dev/warbler/internal/logging"
	"github.com/warbler-dev/warbler/internal/version"
	"github.com/warbler-dev/warbler/providers/routers"
)

type flags struct {
	kubeconfig, masterURL                 string
	metricsServer, meshProvider           string
	controlLoopInterval, minInterval      time.Duration
	port                                  int
	bindAddress                           string
	logLevel, zapEncoding                 string
	selectorLabels, includeLabelPrefix    string
	ingressAnnotationsPrefix, ingressClas string
	leaderElection                        bool
	leaderElectionNamespace               string
	leaderElectionID                      string
	leaseDuration, renewDeadline          time.Duration
	retryPeriod                           time.Duration
	watchLabelSelector                    string
	pprofBindAddress                      string
	namespace                             string
	threadiness                           int
	qps                                   float64
	burst                                 int
	configTracking                        bool
	eventWebhook, clusterName             string
	noCrossNamespaceRefs                  bool
	kubeconfigServiceMesh                 string
	showVersion                           bool
	routeAcceptanceTimeout                time.Duration
	historyLimit                          int
	clientConfigMap, clientConfigMapNS    string
	alerts                                alerts.Flags
}

func parseFlags(args []string) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("warbler", flag.ContinueOnError)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "path to a kubeconfig; default $KUBECONFIG, else the in-cluster config")
	fs.StringVar(&f.masterURL, "master", "", "address of the Kubernetes API server, overriding the kubeconfig")
	fs.StringVar(&f.metricsServer, "metrics-server", "http://prometheus:9090", "Prometheus URL for the builtin metrics")
	fs.StringVar(&f.meshProvider, "mesh-provider", "istio", "default traffic provider of canaries that set no spec.provider")
	fs.DurationVar(&f.controlLoopInterval, "control-loop-interval", 10*time.Second, "accepted for Flagger compatibility: canaries tick at their analysis interval and watches wake them on changes")
	fs.DurationVar(&f.minInterval, "min-analysis-interval", 10*time.Second, "shortest analysis interval; shorter ones are raised to it (Flagger: 10s)")
	fs.IntVar(&f.port, "port", 8080, "port of /metrics and /healthz")
	fs.StringVar(&f.bindAddress, "bind-address", "", "address /metrics and /healthz listen on (all interfaces when empty)")
	fs.StringVar(&f.logLevel, "log-level", "debug", "log level: debug, info, warn, error")
	fs.StringVar(&f.zapEncoding, "zap-encoding", "json", "log encoding; only json is supported")
	fs.StringVar(&f.selectorLabels, "selector-labels", strings.Join(controller.DefaultSelectorLabels, ","), "labels that find a target's pods, first match wins")
	fs.StringVar(&f.includeLabelPrefix, "include-label-prefix", "", "comma-separated label prefixes copied to primaries ('*' for all)")
	fs.StringVar(&f.ingressAnnotationsPrefix, "ingress-annotations-prefix", "nginx.ingress.kubernetes.io", "annotation prefix of the NGINX ingress controller")
	fs.StringVar(&f.ingressClas, "ingress-class", "", "ingress class written to generated ingress objects")
	fs.BoolVar(&f.leaderElection, "enable-leader-election", false, "elect a leader on a Lease so that replicas take turns")
	fs.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "kube-system", "namespace of the leader election Lease")
	fs.StringVar(&f.leaderElectionID, "leader-election-id", "warbler-leader-election", "name of the leader election Lease (with -watch-label-selector, a suffix per shard is added)")
	fs.DurationVar(&f.leaseDuration, "leader-election-lease-duration", defaultLeaseDuration, "how long a standby waits before taking over a Lease its leader stopped renewing")
	fs.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", defaultRenewDeadline, "how long the leader keeps retrying to renew its Lease before it gives up leading")
	fs.DurationVar(&f.retryPeriod, "leader-election-retry-period", defaultRetryPeriod, "how often candidates try to acquire or renew the Lease")
	fs.StringVar(&f.pprofBindAddress, "pprof-bind-address", "", "address of Go's /debug/pprof endpoints, such as 127.0.0.1:6060 (off when empty)")
	fs.StringVar(&f.watchLabelSelector, "watch-label-selector", "", "handle only the Canaries with these labels, e.g. '"+ShardLabel+" in (shard1)', or '!"+ShardLabel+"' for the unlabelled ones (sharding; empty: all)")
	fs.StringVar(&f.namespace, "namespace", "", "watch only this namespace (all when empty)")
	fs.IntVar(&f.threadiness, "threadiness", 16, "canaries reconciled at once (Flagger's default is 2; a slow webhook must not hold up the others)")
	// Flagger's 100/250 throttle a release of 2,000 canaries at once (some
	// 300 status writes a second): see docs/scale.md
	fs.Float64Var(&f.qps, "kubeconfig-qps", 500, "queries per second to the API server, per resource type (Flagger: 100)")
	fs.IntVar(&f.burst, "kubeconfig-burst", 1000, "burst of queries to the API server, per resource type (Flagger: 250)")
	fs.BoolVar(&f.configTracking, "enable-config-tracking", true, "track the ConfigMaps and Secrets of targets")
	fs.StringVar(&f.eventWebhook, "event-webhook", os.Getenv("EVENT_WEBHOOK_URL"), "URL that receives every event (or EVENT_WEBHOOK_URL)")
	fs.StringVar(&f.clusterName, "cluster-name", "", "cluster name shown in alerts")
	fs.BoolVar(&f.noCrossNamespaceRefs, "no-cross-namespace-refs", false, "forbid metric templates and alert providers in other namespaces")
	fs.StringVar(&f.kubeconfigServiceMesh, "kubeconfig-service-mesh", "", "kubeconfig of a separate service-mesh API server (not supported by Warbler)")
	fs.DurationVar(&f.routeAcceptanceTimeout, "route-acceptance-timeout", 30*time.Second, "how long a step waits for a Gateway whose status of an HTTPRoute is for an older generation before going on with a warning (a Gateway with no status for the route is not waited for)")
	fs.IntVar(&f.historyLimit, "release-history-limit", analysis.DefaultHistoryLimit, "releases kept in each Canary's status.history (1..100)")
	fs.StringVar(&f.clientConfigMap, "client-config-map", "", "ConfigMap (created by the chart) on which the controller publishes its -mesh-provider and version for kubectl canary; none when empty")
	fs.StringVar(&f.clientConfigMapNS, "client-config-map-namespace", os.Getenv("POD_NAMESPACE"), "namespace of -client-config-map (default $POD_NAMESPACE)")
	fs.BoolVar(&f.showVersion, "version", false, "print the version and exit")
	f.alerts.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if f.zapEncoding != "json" {
		return nil, fmt.Errorf("-zap-encoding %q: Warbler logs JSON only", f.zapEncoding)
	}
	if f.kubeconfigServiceMesh != "" {
		return nil, errors.New("-kubeconfig-service-mesh is not supported by Warbler: routes are written to the cluster the controller runs against")
	}
	if f.port <= 0 || f.port > 65535 {
		return nil, fmt.Errorf("-port %d: want 1..65535", f.port)
	}
	if f.threadiness < 1 {
		return nil, fmt.Errorf("-threadiness %d: want at least 1", f.threadiness)
	}
	if _, err := watchSelector(f.watchLabelSelector); err != nil {
		return nil, err
	}
	if err := checkLeaseTimes(f); err != nil {
		return nil, err
	}
	if f.historyLimit < 1 || f.historyLimit > 100 {
		return nil, fmt.Errorf("-release-history-limit %d: want 1..100 (the CRD allows at most 100 entries in status.history)", f.historyLimit)
	}
	if f.clientConfigMap != "" && f.clientConfigMapNS == "" {
		return nil, fmt.Errorf("-client-config-map %s: set -client-config-map-namespace (or POD_NAMESPACE)", f.clientConfigMap)
	}
	return f, nil
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "warbler:", err)
		os.Exit(2)
	}
	if f.showVersion {
		_ = version.Get().Fprint(os.Stdout)
		return
	}
	level, err := logging.ParseLevel(f.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "warbler:", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f, log); err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
}

func restConfig(f *flags) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	switch path := firstNonEmpty(f.kubeconfig, os.Getenv("KUBECONFIG")); {
	case path != "" || f.masterURL != "":
		cfg, err = clientcmd.BuildConfigFromFlags(f.masterURL, path)
	default:
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes API to talk to (set -kubeconfig or KUBECONFIG, or run in a pod): %w", err)
	}
	cfg.QPS, cfg.Burst = float32(f.qps), f.burst
	cfg.UserAgent = "warbler/" + version.Version
	return cfg, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func run(ctx context.Context, f *flags, log *slog.Logger) error {
	v := version.Get()
	log.Info(fmt.Sprintf("Starting warbler version %s revision %s mesh provider %s", v.Version, v.Commit, f.meshProvider),
		"goVersion", v.Go, "platform", v.Platform)
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	klog.SetSlogLogger(log)
	cfg, err := restConfig(f)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(flaggerv1.AddToScheme(scheme))
	utilruntime.Must(routers.AddToScheme(scheme))
	registerClientMetrics(crmetrics.Registry)
	srv := &http.Server{
		Addr:              net.JoinHostPort(f.bindAddress, strconv.Itoa(f.port)),
		Handler:           httpHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	// served on every replica, leader or not, from before the CRDs are
	// awaited, so that a liveness probe does not restart a controller that
	// is only waiting
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("-port %d: %w", f.port, err)
	}
	srvDone := make(chan error, 1)
	go func() {
		_, err := httpserve.Run(ctx, srv, ln, 5*time.Second)
		srvDone <- err
	}()
	if err := waitForAPI(ctx, cfg, scheme, f.namespace, log); err != nil {
		return err
	}
	log.Info("Connected to Kubernetes API " + cfg.Host)

	sel, _ := watchSelector(f.watchLabelSelector)
	opts := ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		PprofBindAddress:       f.pprofBindAddress,
		Cache:                  cache.Options{SyncPeriod: ptr(10 * time.Minute)},
	}
	if f.namespace != "" {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{f.namespace: {}}
	}
	shardCache(&opts.Cache, sel)
	leaderElection(&opts, f, sel)
	if !sel.Empty() {
		log.Info(fmt.Sprintf("Handling the canaries that match %s (leader election Lease %s)", sel, opts.LeaderElectionID))
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return err
	}
	r := &controller.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: scheme,
		Recorder: mgr.GetEventRecorder("flagger"),
		Options: controller.Options{
			MetricsServer: f.metricsServer, MeshProvider: f.meshProvider,
			SelectorLabels: splitList(f.selectorLabels), IncludeLabelPrefix: splitList(f.includeLabelPrefix),
			EnableConfigTracking: f.configTracking, EventWebhook: f.eventWebhook, ClusterName: f.clusterName,
			NoCrossNamespaceRefs: f.noCrossNamespaceRefs, MinInterval: f.minInterval,
			IngressAnnotationsPrefix: f.ingressAnnotationsPrefix, IngressClass: f.ingressClas,
			Workers: f.threadiness, Version: version.Version, Log: log, RouteAcceptanceTimeout: f.routeAcceptanceTimeout,
			HistoryLimit: f.historyLimit,
		},
		Metrics: &controller.PrometheusChecks{Templates: mgr.GetClient(), Secrets: mgr.GetAPIReader(), Kube: mgr.GetClient(),
			MetricsServer: f.metricsServer, MeshProvider: f.meshProvider},
	}
	notifier := alerts.New(mgr.GetClient(), mgr.GetAPIReader(), f.alerts, f.clusterName, log)
	if err := mgr.Add(notifier); err != nil {
		return err
	}
	r.Alerts = notifier
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	if f.clientConfigMap != "" {
		if err := mgr.Add(&controller.ClientConfig{Client: mgr.GetClient(), Log: log,
			Key:  client.ObjectKey{Namespace: f.clientConfigMapNS, Name: f.clientConfigMap},
			Data: controller.ClientConfigData(f.meshProvider, version.Version, f.namespace)}); err != nil {
			return err
		}
	}
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	return <-srvDone
}

func ptr[T any](v T) *T { return &v }

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// waitForAPI waits until the flagger.app CRDs can be listed. Flagger exits
// when they are missing, which a controller started right after
// `kubectl apply` of the CRDs (before they are established), or before the
// API server answers, turns into a crash loop. Warbler says what it waits
// for and retries until it is stopped. With -namespace it lists only there,
// which a namespaced Role allows.
func waitForAPI(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, namespace string, log *slog.Logger) error {
	for wait := time.Second; ; wait = min(2*wait, 10*time.Second) {
		err := checkAPI(ctx, cfg, scheme, namespace)
		if err == nil {
			return nil
		}
		log.Info(fmt.Sprintf("Waiting for the flagger.app CRDs (install them with: kubectl apply -f charts/warbler/crds): %v; retrying in %s", err, wait))
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped while waiting for the flagger.app CRDs: %w", err)
		case <-time.After(wait):
		}
	}
}

// checkAPI lists each flagger.app kind once. A new client each time: a
// client caches the API groups it found missing.
func checkAPI(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, namespace string) error {
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, l := range []client.ObjectList{&flaggerv1.CanaryList{}, &flaggerv1.MetricTemplateList{}, &flaggerv1.AlertProviderList{}} {
		if err := c.List(ctx, l, client.Limit(1), client.InNamespace(namespace)); err != nil {
			return fmt.Errorf("cannot list %s: %w", strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", l), "*v1beta1."), "List"), err)
		}
	}
	return nil
}

func httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(crmetrics.Registry, promhttp.HandlerOpts{}))
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/readyz", ok)
	return mux
}
