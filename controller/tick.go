package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// tick is one reconcile of one canary.
type tick struct {
	r    *Reconciler
	c    *flaggerv1.Canary
	orig *flaggerv1.Canary // as read, for the status patch
	now  time.Time
	log  *slog.Logger

	spec     analysis.Spec
	provider string
	router   routers.Router
	target   *workload
	primary  *workload
	baseline *workload // analysis.baseline; nil when none runs
	// obj is the target when it is a Service or a Knative Service, which
	// have no -primary workload; target and primary are nil then.
	obj     objectTarget
	label   string
	value   string
	configs map[string]string
	rev     string // the target's revision
	// retry, when set, is how soon the tick wants to run again although
	// the decision asked for no requeue (a deletion waiting for the
	// target).
	retry time.Duration
}

// maxObservations bounds how often one tick may ask for more observations.
const maxObservations = 10

// run is the tick, as named steps: finalizer, validate, find the target,
// keep the owned objects, observe, decide, apply.
func (t *tick) run(ctx context.Context) (ctrl.Result, error) {
	if done, err := t.finalizer(ctx); done || err != nil {
		return ctrl.Result{}, err
	}
	if err := t.validate(); err != nil {
		if t.c.DeletionTimestamp != nil {
			return ctrl.Result{}, t.release(ctx, err)
		}
		return t.hold(ctx, err, 0)
	}
	if err := t.findTarget(ctx); err != nil {
		// a deleting Canary whose target is gone has nothing to revert;
		// other errors are retried so that the revert is not skipped
		if t.c.DeletionTimestamp != nil && errors.Is(err, errTargetMissing) {
			return ctrl.Result{}, t.release(ctx, err)
		}
		return t.hold(ctx, err, t.spec.Interval)
	}
	if t.c.DeletionTimestamp != nil && !t.hasPrimary() {
		return ctrl.Result{}, t.release(ctx, errors.New("nothing to revert: the primary was never created"))
	}
	// a Canary being deleted only reverts; it creates nothing
	if t.c.DeletionTimestamp == nil {
		if err := t.ensure(ctx); err != nil {
			return t.hold(ctx, err, t.spec.Interval)
		}
	}
	t.checkProviders(ctx)
	obs, err := t.observe(ctx)
	if err != nil {
		return t.hold(ctx, err, t.spec.Interval)
	}
	st := analysisStatus(&t.c.Status)
	var d analysis.Decision
	for i := 0; ; i++ {
		d = analysis.Decide(t.spec, st, obs, t.now)
		if d.Observe == nil {
			break
		}
		if i == maxObservations {
			return ctrl.Result{}, fmt.Errorf("canary %s: the analysis keeps asking for observations (%+v)", t.c.Key(), *d.Observe)
		}
		t.gather(ctx, d.Observe, &obs)
	}
	if err := t.apply(ctx, d); err != nil {
		return ctrl.Result{}, err
	}
	if t.retry > 0 {
		return ctrl.Result{RequeueAfter: t.retry}, nil
	}
	return ctrl.Result{RequeueAfter: d.Requeue}, nil
}

// validate checks the spec and resolves the provider and its router.
func (t *tick) validate() error {
	t.provider = t.c.Spec.Provider
	if t.provider == "" {
		t.provider = t.r.Options.MeshProvider
	}
	spec, err := analysis.Validate(t.c.AnalysisCanary(t.provider), analysis.Limits{MinInterval: t.r.Options.MinInterval, HistoryLimit: t.r.Options.HistoryLimit})
	if err != nil {
		return err
	}
	t.spec = spec
	for _, n := range spec.Notes {
		t.log.Info(n)
	}
	if kind := t.c.Spec.TargetRef.Kind; kind != "Service" {
		if _, err := newObject(kind); err != nil {
			return &analysis.SpecError{Field: "spec.targetRef.kind", Msg: err.Error()}
		}
	}
	if err := checkTarget(t.c, t.provider); err != nil {
		return err
	}
	if ref := t.c.Spec.AutoscalerRef; ref != nil && ref.Kind != hpaKind && ref.Kind != scaledObjectKind {
		return &analysis.SpecError{Field: "spec.autoscalerRef.kind", Msg: fmt.Sprintf("%q is not supported by Warbler; valid kinds: %s, %s", ref.Kind, hpaKind, scaledObjectKind)}
	}
	router, err := routers.New(t.provider, t.routerDeps())
	if err != nil {
		return &analysis.SpecError{Field: "spec.provider", Msg: err.Error()}
	}
	t.router = router
	if err := t.checkBaselineRouter(); err != nil {
		return err
	}
	return t.checkRefs()
}

// checkRefs refuses references to other namespaces when the controller runs
// with -no-cross-namespace-refs.
func (t *tick) checkRefs() error {
	if !t.r.Options.NoCrossNamespaceRefs || t.c.Spec.Analysis == nil {
		return nil
	}
	for i, m := range t.c.Spec.Analysis.Metrics {
		if m.TemplateRef != nil && m.TemplateRef.Namespace != "" && m.TemplateRef.Namespace != t.c.Namespace {
			return &analysis.SpecError{Field: fmt.Sprintf("spec.analysis.metrics[%d].templateRef.namespace", i), Msg: "cross-namespace references are disabled (-no-cross-namespace-refs)"}
		}
	}
	for i, a := range t.c.Spec.Analysis.Alerts {
		if a.ProviderRef.Namespace != "" && a.ProviderRef.Namespace != t.c.Namespace {
			return &analysis.SpecError{Field: fmt.Sprintf("spec.analysis.alerts[%d].providerRef.namespace", i), Msg: "cross-namespace references are disabled (-no-cross-namespace-refs)"}
		}
	}
	return nil
}

func (t *tick) routerDeps() routers.Deps {
	// routers add the canary to their log lines themselves
	return routers.Deps{Client: t.r.Client, Scheme: t.r.Scheme, Log: t.r.log,
		IngressAnnotationsPrefix: t.r.Options.IngressAnnotationsPrefix, IngressClass: t.r.Options.IngressClass,
		AcceptanceTimeout: t.r.Options.RouteAcceptanceTimeout, Now: t.r.Now}
}

// targetGeneration is the metadata.generation of the target, workload or
// not.
func (t *tick) targetGeneration() int64 {
	if t.obj != nil {
		return t.obj.generation()
	}
	return t.target.obj.GetGeneration()
}

// findTarget reads the target and the primary, the selector label, and the
// tracked configs.
// errTargetMissing is the error of a Canary whose targetRef names no object.
var errTargetMissing = errors.New("not found")

func (t *tick) findTarget(ctx context.Context) error {
	if t.obj = t.newObjectTarget(); t.obj != nil {
		var err error
		t.rev, err = t.obj.find(ctx)
		return err
	}
	ref := t.c.Spec.TargetRef
	var err error
	if t.target, err = getWorkload(ctx, t.r.Client, ref.Kind, t.c.Namespace, ref.Name); err != nil {
		return err
	}
	if t.target == nil {
		return fmt.Errorf("%s %s.%s %w (spec.targetRef)", strings.ToLower(ref.Kind), ref.Name, t.c.Namespace, errTargetMissing)
	}
	if t.label, t.value, err = selectorLabel(t.target, t.r.Options.SelectorLabels); err != nil {
		return err
	}
	if t.primary, err = getWorkload(ctx, t.r.Client, ref.Kind, t.c.Namespace, t.c.PrimaryName()); err != nil {
		return err
	}
	if err := t.findBaseline(ctx); err != nil {
		return err
	}
	if t.r.Options.EnableConfigTracking {
		if t.configs, err = t.r.configs.checksums(ctx, t.c.Namespace, &t.target.template.Spec); err != nil {
			return err
		}
	}
	t.rev = t.r.revisions.of(t.target.obj, "", func() string { return revision(t.target.template) })
	return nil
}

func (t *tick) builder() primaryBuilder {
	return primaryBuilder{label: t.label, value: t.value, includeLabels: t.r.Options.IncludeLabelPrefix,
		renames: renames(t.configs), revision: t.rev}
}

func (t *tick) selector() routers.Selector {
	return routers.Selector{Label: t.label, Value: t.value, Ports: containerPorts(t.target.template, t.c.Spec.Service.Port)}
}

// ensure keeps the objects every tick relies on, creating what is missing:
// the canary and primary services, the primary with its config copies and
// autoscaler, the apex service, and the router's traffic object. Unchanged
// objects cost no API request.
func (t *tick) ensure(ctx context.Context) error {
	if t.obj != nil {
		if err := t.obj.ensure(ctx); err != nil {
			return err
		}
		return t.router.Reconcile(ctx, t.c)
	}
	svcs := &routers.Services{Deps: t.routerDeps()}
	if err := svcs.ReconcileCanaryAndPrimary(ctx, t.c, t.selector()); err != nil {
		return err
	}
	if t.primary == nil {
		if err := t.createPrimary(ctx); err != nil {
			return err
		}
	}
	if err := t.ensurePrimaryScaler(ctx, false); err != nil {
		return err
	}
	apexSelector := map[string]string{t.label: t.value + flaggerv1.PrimarySuffix}
	if t.provider == routers.KubernetesReplicas {
		apexSelector = nil
	}
	if err := svcs.ReconcileApex(ctx, t.c, t.selector(), apexSelector); err != nil {
		return err
	}
	return t.router.Reconcile(ctx, t.c)
}

func (t *tick) createPrimary(ctx context.Context) error {
	if err := t.r.configs.copyToPrimary(ctx, t.c, &t.target.template.Spec, t.configs, t.r.Scheme); err != nil {
		return err
	}
	obj := t.builder().buildPrimary(t.c, t.target)
	if err := createPrimary(ctx, t.r.Client, t.r.Scheme, t.c, obj); err != nil {
		return err
	}
	t.log.Info(fmt.Sprintf("%s %s.%s created", t.target.kind, obj.GetName(), obj.GetNamespace()))
	t.primary = asWorkload(obj)
	return nil
}

// observe gathers what the analysis decides from, all from the cache.
func (t *tick) observe(ctx context.Context) (analysis.Observations, error) {
	obs := analysis.Observations{
		Revision: t.rev, Configs: t.configs,
		Deleting: t.c.DeletionTimestamp != nil, Hooks: map[analysis.HookType][]analysis.HookResult{},
		Request: pendingRequest(t.c),
	}
	a := t.c.Spec.Analysis
	primaryThreshold, canaryThreshold := 100, 100
	if a != nil && a.PrimaryReadyThreshold != nil {
		primaryThreshold = *a.PrimaryReadyThreshold
	}
	if a != nil && a.CanaryReadyThreshold != nil {
		canaryThreshold = *a.CanaryReadyThreshold
	}
	deadline := progressDeadline(t.c)
	key := t.c.Spec.TargetRef.Name + "." + t.c.Namespace
	if t.obj != nil {
		obs.Images = t.obj.images()
		obs.PrimaryReady, obs.CanaryReady = t.obj.readiness()
		obs.TargetMatchesPrimary = t.obj.matchesPrimary()
	} else {
		obs.Images = images(*t.target.template)
		obs.PrimaryReady = readiness(t.primary, primaryThreshold, deadline, t.now, t.c.PrimaryName()+"."+t.c.Namespace)
		obs.CanaryReady = readiness(t.target, canaryThreshold, deadline, t.now, "canary "+strings.ToLower(t.target.kind)+" "+key)
		obs.TargetMatchesPrimary = t.matchesPrimary()
	}
	p, c, mirrored, err := t.router.GetRoutes(ctx, t.c)
	if err != nil {
		if errors.Is(err, routers.ErrRouteNotReady) {
			t.event(analysis.SeverityWarn, err.Error())
		}
		return obs, err
	}
	obs.Routes = analysis.Routes{Primary: p, Canary: c, Mirrored: mirrored}
	t.r.prom.weight(t.c, p, c)
	return obs, t.observeBaseline(ctx, &obs, canaryThreshold)
}

// progressDeadline is spec.progressDeadlineSeconds, 600s by default.
func progressDeadline(c *flaggerv1.Canary) time.Duration {
	if p := c.Spec.ProgressDeadlineSeconds; p != nil {
		return time.Duration(*p) * time.Second
	}
	return 600 * time.Second
}

// hold records why the canary cannot move this tick: the status reason and
// message and a warning event, written only when the message changes.
func (t *tick) hold(ctx context.Context, err error, retry time.Duration) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		// another writer was first (or the cache lags): not worth a
		// reason in the status, which keeps saying how the release ended
		t.log.Debug("retrying after a conflict", "error", err.Error())
		return ctrl.Result{RequeueAfter: staleRetry}, nil
	}
	msg, reason := err.Error(), analysis.ReasonReconcileError
	var se *analysis.SpecError
	switch {
	case errors.As(err, &se):
		msg, reason = "invalid canary: "+msg, analysis.ReasonInvalidSpec
	case errors.Is(err, errTargetMissing):
		reason = analysis.ReasonTargetNotFound
	}
	if t.c.Status.Message != msg {
		t.event(analysis.SeverityWarn, msg)
		writeStatus(t.c, analysis.Hold(analysisStatus(&t.c.Status), reason, msg), t.now)
		if perr := t.patchStatus(ctx); perr != nil {
			return ctrl.Result{}, perr
		}
	}
	if se != nil {
		return ctrl.Result{}, err
	}
	t.log.Debug("holding", "reason", msg)
	return ctrl.Result{RequeueAfter: max(retry, t.r.Options.MinInterval)}, nil
}

// patchStatus writes the status once, as a merge patch from what was read.
func (t *tick) patchStatus(ctx context.Context) error {
	if err := t.r.Client.Status().Patch(ctx, t.c, client.MergeFrom(t.orig)); err != nil {
		return fmt.Errorf("writing status of canary %s: %w", t.c.Key(), err)
	}
	t.r.written.Store(client.ObjectKeyFromObject(t.c), t.c.ResourceVersion)
	return nil
}

// hasPrimary tells whether the primary exists.
func (t *tick) hasPrimary() bool {
	if t.obj != nil {
		return t.obj.created()
	}
	return t.primary != nil
}

// matchesPrimary tells whether the target's template, rewritten as the
// primary's would be, is the primary's template.
func (t *tick) matchesPrimary() bool {
	renamed := fmt.Sprint(renames(t.configs))
	want := t.r.revisions.of(t.target.obj, t.label+"="+t.value+" "+renamed, func() string {
		return revision(ptrTemplate(t.builder().template(t.target.template)))
	})
	return want == t.r.revisions.of(t.primary.obj, "", func() string { return revision(t.primary.template) })
}
