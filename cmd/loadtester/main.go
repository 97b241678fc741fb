// Command loadtester is Warbler's webhook executor, a drop-in replacement
// for Flagger's loadtester. It parses flags, builds the parts of package
// loadtester and runs them until SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/warbler-dev/warbler/internal/logging"
	"github.com/warbler-dev/warbler/internal/version"
	"github.com/warbler-dev/warbler/loadtester"
	"github.com/warbler-dev/warbler/loadtester/gates"
)

type config struct {
	port                 int
	bindAddress          string
	timeout              time.Duration
	namespaceRegexp      string
	logLevel             string
	kubeconfig           string
	namespace            string
	tokenFile            string
	hmacKeyFile          string
	hmacWindow           time.Duration
	allowCommands        string
	maxBodyBytes         int64
	maxOutputBytes       int
	maxConcurrent        int
	shutdownGrace        time.Duration
	showVersion          bool
	zapEncoding, zapRepl string // Flagger's, accepted and ignored
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadtester", flag.ContinueOnError)
	fs.IntVar(&c.port, "port", 9090, "port of the HTTP API")
	fs.StringVar(&c.bindAddress, "bind-address", "", "address the HTTP API listens on (all interfaces when empty)")
	fs.DurationVar(&c.timeout, "timeout", time.Hour, "timeout of every task")
	fs.StringVar(&c.namespaceRegexp, "namespace-regexp", "", "only accept payloads whose namespace matches (unanchored, as in Flagger); empty accepts all")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster for gates and helm tests; default KUBECONFIG, else in-cluster")
	fs.StringVar(&c.namespace, "namespace", "", "namespace of the gate ConfigMaps; default POD_NAMESPACE, else the service account's")
	fs.StringVar(&c.tokenFile, "bearer-token-file", "", `file of accepted bearer tokens, one "<token>" or "<identity> <token>" per line (or env LOADTESTER_BEARER_TOKEN)`)
	fs.StringVar(&c.hmacKeyFile, "hmac-key-file", "", "file holding the HMAC-SHA256 key requests must be signed with (or env LOADTESTER_HMAC_KEY)")
	fs.DurationVar(&c.hmacWindow, "hmac-window", 5*time.Minute, "how old or new a signature's timestamp may be")
	fs.StringVar(&c.allowCommands, "allow-command", "", "comma-separated programs cmd and bash tasks may run, without a shell; empty allows any shell command (Flagger's behaviour)")
	fs.Int64Var(&c.maxBodyBytes, "max-body-bytes", 1<<20, "largest request body")
	fs.IntVar(&c.maxOutputBytes, "max-output-bytes", 1<<20, "output kept from one command (head and tail)")
	fs.IntVar(&c.maxConcurrent, "max-concurrent-tasks", 8, "tasks that run at the same time")
	fs.DurationVar(&c.shutdownGrace, "shutdown-grace", 30*time.Second, "time running tasks get to finish on SIGTERM")
	fs.BoolVar(&c.showVersion, "version", false, "print the version and exit")
	fs.StringVar(&c.zapEncoding, "zap-encoding", "json", "ignored: logs are always JSON (accepted for Flagger's manifests)")
	fs.StringVar(&c.zapRepl, "zap-replace-globals", "", "ignored (accepted for Flagger's manifests)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "loadtester:", err)
		os.Exit(2)
	}
	if cfg.showVersion {
		_ = version.Get().Fprint(os.Stdout)
		return
	}
	level, err := logging.ParseLevel(cfg.logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtester:", err)
		os.Exit(2)
	}
	log := logging.New(os.Stderr, level)
	klog.SetSlogLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
}

// runnable is a part that runs until its context ends.
type runnable interface{ Start(context.Context) error }

func run(ctx context.Context, cfg *config, log *slog.Logger) error {
	parts, err := build(cfg, log)
	if err != nil {
		return err
	}
	// one part failing stops the others
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() {
			if err := p.Start(ctx); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func build(cfg *config, log *slog.Logger) ([]runnable, error) {
	var nsRE *regexp.Regexp
	if cfg.namespaceRegexp != "" {
		re, err := regexp.Compile(cfg.namespaceRegexp)
		if err != nil {
			return nil, fmt.Errorf("-namespace-regexp: %w", err)
		}
		nsRE = re
	}
	auth, err := buildAuth(cfg)
	if err != nil {
		return nil, err
	}
	cluster, err := loadtester.FindCluster(cfg.kubeconfig, cfg.namespace, os.Getenv)
	if err != nil {
		return nil, err
	}
	exec := &loadtester.Exec{MaxOutput: cfg.maxOutputBytes}
	if cfg.allowCommands != "" {
		exec.Allow = splitList(cfg.allowCommands)
	}
	limiter := loadtester.NewLimiter(cfg.maxConcurrent)
	runner := loadtester.NewRunner(limiter, cfg.timeout, cfg.shutdownGrace)
	results := loadtester.NewResults()
	tasks := &loadtester.Tasks{Logger: log, Exec: exec, Runner: runner, Limiter: limiter, Results: results, Timeout: cfg.timeout}
	parts := []runnable{runner}

	var store gates.Store = gates.NewMemory()
	if cluster != nil {
		kube, err := kubernetes.NewForConfig(cluster.Config)
		if err != nil {
			return nil, err
		}
		cms := gates.NewConfigMaps(kube, cluster.Namespace)
		store, parts = cms, append(parts, cms)
		if tasks.Helm, err = loadtester.NewHelm(cluster.Config, log); err != nil {
			return nil, err
		}
		if cluster.Kubeconfig != "" {
			exec.Env = []string{"KUBECONFIG=" + cluster.Kubeconfig}
		}
		log.Info(fmt.Sprintf("Connected to Kubernetes API %s (%s); gates are ConfigMaps in namespace %s",
			cluster.Config.Host, cluster.Source, cluster.Namespace))
	} else {
		log.Warn("no Kubernetes cluster found (no -kubeconfig, KUBECONFIG or in-cluster service account): " +
			"gates are kept in memory and lost on restart, and helm tests cannot run")
	}
	warnOpen(cfg, auth, exec, log)

	srv := loadtester.NewServer(loadtester.Options{
		Addr: net.JoinHostPort(cfg.bindAddress, strconv.Itoa(cfg.port)), Tasks: tasks.Registry(), Gates: store, Results: results,
		Auth: auth, NamespaceRegexp: nsRE, MaxBodyBytes: cfg.maxBodyBytes, TaskTimeout: cfg.timeout,
		ShutdownGrace: cfg.shutdownGrace, Logger: log,
	})
	return append(parts, srv), nil
}

func buildAuth(cfg *config) (*loadtester.Auth, error) {
	auth := &loadtester.Auth{Window: cfg.hmacWindow, Tokens: map[string]string{}}
	if cfg.tokenFile != "" {
		f, err := os.Open(cfg.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("-bearer-token-file: %w", err)
		}
		defer f.Close()
		if auth.Tokens, err = loadtester.ParseTokens(f); err != nil {
			return nil, fmt.Errorf("-bearer-token-file %s: %w", cfg.tokenFile, err)
		}
	}
	if t := strings.TrimSpace(os.Getenv("LOADTESTER_BEARER_TOKEN")); t != "" {
		auth.Tokens[t] = "bearer"
	}
	key := []byte(os.Getenv("LOADTESTER_HMAC_KEY"))
	if cfg.hmacKeyFile != "" {
		data, err := os.ReadFile(cfg.hmacKeyFile)
		if err != nil {
			return nil, fmt.Errorf("-hmac-key-file: %w", err)
		}
		key = []byte(strings.TrimSpace(string(data)))
	}
	auth.HMACKey = key
	return auth, nil
}

func warnOpen(cfg *config, auth *loadtester.Auth, exec *loadtester.Exec, log *slog.Logger) {
	if exec.Allow == nil {
		log.Warn("cmd and bash tasks may run any shell command (no -allow-command): " +
			"whoever can reach this loadtester can run code as its service account")
	}
	if !auth.Enabled() {
		log.Warn("requests are not authenticated (no -bearer-token-file or -hmac-key-file): " +
			"any caller can run tasks and open gates")
	}
	if cfg.namespaceRegexp == "" {
		log.Debug("every namespace is accepted (no -namespace-regexp)")
	}
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
