package controller

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/webhooks"
)

// MetricRunner runs the query of one metric check of a canary: of the
// canary and of the other side of a relative check, and, for a judged
// metric, of the canary and the baseline over the window.
type MetricRunner interface {
	Run(ctx context.Context, c *flaggerv1.Canary, m flaggerv1.CanaryMetric, provider string, window analysis.Window) analysis.MetricResult
}

// Notifier sends alerts. Send must not block the tick.
type Notifier interface {
	Send(ctx context.Context, c *flaggerv1.Canary, alerts []analysis.Alert, spec analysis.Spec)
}

// Reconciler runs the releases of Canaries.
type Reconciler struct {
	// Client reads through the manager's cache and writes to the API.
	Client client.Client
	// APIReader reads around the cache: config data, hook secrets.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Options   Options
	// Metrics runs metric checks; nil means none can run.
	Metrics MetricRunner
	// Alerts sends notifications; nil drops them.
	Alerts Notifier
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// written remembers the resourceVersion of each Canary's last status
	// write. It only tells when the cache may be behind; losing it costs
	// one extra read.
	written sync.Map // types.NamespacedName -> string

	revisions revisionCache
	due       dueTimes

	hooks   *webhooks.Client
	configs *configTracker
	prom    *promMetrics
	eventsQ *eventWebhooks
	log     *slog.Logger
}

// targetIndex indexes Canaries by "<kind>/<target name>".
const targetIndex = "warbler.dev/target"

// configIndex indexes Deployments and DaemonSets by the ConfigMaps and
// Secrets their pod template uses ("configmap/<name>", "secret/<name>"), so
// that a changed config wakes only the canaries whose target uses it.
const configIndex = "warbler.dev/configs"

// SetupWithManager wires the reconciler into a manager: Canaries are
// watched, and so are the workloads, services and autoscalers they own or
// target, so a change wakes the right canary at once.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.Options.defaults()
	r.log = r.Options.Log
	if r.Now == nil {
		r.Now = time.Now
	}
	r.hooks = webhooks.NewClient("warbler/" + r.Options.Version)
	r.configs = &configTracker{cache: r.Client, api: r.APIReader, writer: r.Client,
		labelsFor: func(l map[string]string) map[string]string { return filterLabels(l, r.Options.IncludeLabelPrefix) }}
	r.prom = newPromMetrics(r.Client, r.Options)
	r.eventsQ = newEventWebhooks(r.hooks, r.log)
	if err := mgr.Add(r.eventsQ); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &flaggerv1.Canary{}, targetIndex, func(o client.Object) []string {
		c := o.(*flaggerv1.Canary)
		return []string{c.Spec.TargetRef.Kind + "/" + c.Spec.TargetRef.Name}
	}); err != nil {
		return err
	}
	for _, obj := range []client.Object{&appsv1.Deployment{}, &appsv1.DaemonSet{}} {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, configIndex, configKeys); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("canary").
		For(&flaggerv1.Canary{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deleting))).
		Watches(&appsv1.Deployment{}, handler.EnqueueRequestsFromMapFunc(r.canariesOf("Deployment"))).
		Watches(&appsv1.DaemonSet{}, handler.EnqueueRequestsFromMapFunc(r.canariesOf("DaemonSet"))).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.canariesOf("Service"))).
		Watches(&autoscalingv2.HorizontalPodAutoscaler{}, handler.EnqueueRequestForOwner(r.Scheme, mgr.GetRESTMapper(), &flaggerv1.Canary{}, handler.OnlyControllerOwner())).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.canariesUsing("configmap")), builder.OnlyMetadata).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.canariesUsing("secret")), builder.OnlyMetadata).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.Workers, NewQueue: newQueue, EnableWarmup: ptr.To(true)}).
		Complete(r)
}

// deleting passes updates that mark a Canary for deletion.
var deleting = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool { return e.ObjectNew.GetDeletionTimestamp() != nil }}

// canariesOf maps a workload or Service to the canaries that target it or
// own it.
func (r *Reconciler) canariesOf(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		if ref := metav1.GetControllerOf(o); ref != nil && ref.Kind == "Canary" && strings.HasPrefix(ref.APIVersion, flaggerv1.GroupVersion.Group+"/") {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}}}
		}
		return r.targeting(ctx, nil, o.GetNamespace(), kind, o.GetName())
	}
}

// targeting appends the canaries that target the workload kind/name.
// Map functions only read names, so the cached objects are not copied.
func (r *Reconciler) targeting(ctx context.Context, out []reconcile.Request, ns, kind, name string) []reconcile.Request {
	var list flaggerv1.CanaryList
	if err := r.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{targetIndex: kind + "/" + name}, client.UnsafeDisableDeepCopy); err != nil {
		return out
	}
	for _, c := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: c.Namespace, Name: c.Name}})
	}
	return out
}

// canariesUsing wakes the canaries whose target uses a ConfigMap or Secret
// (kind "configmap" or "secret") that changed. Waking every canary of the
// namespace instead made each config event cost one tick per canary: with
// n canaries and as many configs, the informers' initial list alone queued
// n² ticks.
func (r *Reconciler) canariesUsing(kind string) handler.MapFunc {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		if !r.Options.EnableConfigTracking || strings.HasSuffix(o.GetName(), flaggerv1.PrimarySuffix) {
			return nil
		}
		return r.workloadsUsing(ctx, o.GetNamespace(), kind+"/"+o.GetName())
	}
}

// workloadsUsing maps a config to the canaries of the workloads that use it.
func (r *Reconciler) workloadsUsing(ctx context.Context, ns, config string) []reconcile.Request {
	var out []reconcile.Request
	key := client.MatchingFields{configIndex: config}
	var deps appsv1.DeploymentList
	if err := r.Client.List(ctx, &deps, client.InNamespace(ns), key, client.UnsafeDisableDeepCopy); err == nil {
		for _, d := range deps.Items {
			out = r.targeting(ctx, out, d.Namespace, "Deployment", d.Name)
		}
	}
	var dss appsv1.DaemonSetList
	if err := r.Client.List(ctx, &dss, client.InNamespace(ns), key, client.UnsafeDisableDeepCopy); err == nil {
		for _, d := range dss.Items {
			out = r.targeting(ctx, out, d.Namespace, "DaemonSet", d.Name)
		}
	}
	return out
}

// configKeys lists the configs a workload's pod template uses, for
// configIndex.
func configKeys(o client.Object) []string {
	w := asWorkload(o)
	if w == nil {
		return nil
	}
	refs := configRefs(&w.template.Spec)
	keys := make([]string, 0, len(refs))
	for _, ref := range refs {
		keys = append(keys, ref.key())
	}
	return keys
}

// Reconcile runs one tick of a canary.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Now()
	if late, ok := r.due.started(req.NamespacedName, start); ok {
		r.prom.lateness.Observe(late.Seconds())
	}
	res, err := r.reconcile(ctx, req, start)
	r.due.finished(req.NamespacedName, start, res, err)
	return scheduled(res, err), err
}

// dueTickPriority is the queue priority of the ticks a canary asks for (its
// schedule), above watch events (0). controller-runtime otherwise requeues a
// canary with the priority it was dequeued with: the initial list and the
// periodic resync add at -100 (handler.LowPriority), so a canary first seen
// that way stayed at -100 for good, behind every watch event of a busy
// cluster (at 2,000 canaries in one namespace, kube-controller-manager's
// status updates kept due ticks waiting up to a minute).
const dueTickPriority = 1

// scheduled gives the requeue a tick asked for the priority of a due tick.
// A retry after an error keeps the priority it was dequeued with.
func scheduled(res ctrl.Result, err error) ctrl.Result {
	if err == nil && res.RequeueAfter > 0 {
		res.Priority = ptr.To(dueTickPriority)
	}
	return res
}

func (r *Reconciler) reconcile(ctx context.Context, req ctrl.Request, start time.Time) (ctrl.Result, error) {
	var c flaggerv1.Canary
	if err := r.Client.Get(ctx, req.NamespacedName, &c); err != nil {
		// forget only canaries this replica handled: the events of
		// objects owned by other shards' canaries end here too
		if apierrors.IsNotFound(err) {
			if _, seen := r.written.LoadAndDelete(req.NamespacedName); seen {
				r.prom.forget(req.Namespace, req.Name)
			}
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if stale, err := r.staleCache(ctx, &c); err != nil || stale {
		return ctrl.Result{RequeueAfter: staleRetry}, err
	}
	t := &tick{r: r, c: &c, orig: c.DeepCopy(), now: start, log: r.log.With("canary", c.Key())}
	res, err := t.run(ctx)
	r.prom.duration(&c, time.Since(start))
	return result(res, err)
}

// staleRetry is how soon a tick is retried when the cache lags behind.
const staleRetry = 200 * time.Millisecond

// staleCache reports whether the cached Canary is older than the status
// this controller last wrote. Deciding from an old status would replay a
// step (and its events) that already happened, so such a tick waits for the
// cache. Flagger avoids this by reading every Canary from the API server on
// every tick; here a read happens only when the cached version is not the
// one last written, which a steady canary never needs.
func (r *Reconciler) staleCache(ctx context.Context, c *flaggerv1.Canary) (bool, error) {
	key := client.ObjectKeyFromObject(c)
	if rv, ok := r.written.Load(key); ok && rv == c.ResourceVersion {
		return false, nil
	}
	var fresh flaggerv1.Canary
	if err := r.APIReader.Get(ctx, key, &fresh); err != nil {
		// gone already: acting on the cached copy would re-create what
		// its deletion just cleaned up
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}
	r.written.Store(key, fresh.ResourceVersion)
	return fresh.ResourceVersion != c.ResourceVersion, nil
}

// result maps a tick's outcome to what controller-runtime does next: a
// spec that cannot be acted on is terminal (no retry storm; a change to the
// Canary wakes it), other errors back off, and everything else requeues
// when the analysis asked.
func result(res ctrl.Result, err error) (ctrl.Result, error) {
	var se *analysis.SpecError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &se):
		return ctrl.Result{}, reconcile.TerminalError(err)
	default:
		return ctrl.Result{}, err
	}
}
