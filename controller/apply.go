package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/providers/routers"
)

// apply carries out a decision in the order its fields are declared:
// scaling and routing, the promotion copy, scaling the canary down, then the
// status (once, and only if it changed), then hooks after the fact, events
// and alerts. It stops at the first error; every action is idempotent, so
// the next tick replays the same decision from the unchanged status.
func (t *tick) apply(ctx context.Context, d analysis.Decision) error {
	if d.ScaleTargetDown {
		if err := t.scaleTarget(ctx, 0); err != nil {
			return err
		}
	}
	if d.ScaleCanaryUp && t.obj == nil {
		if err := t.scaleTarget(ctx, t.canaryReplicas(ctx)); err != nil {
			return err
		}
	}
	if d.Routes != nil {
		if err := t.setRoutes(ctx, *d.Routes); err != nil {
			return err
		}
	}
	if d.Promote {
		if err := t.promote(ctx); err != nil {
			return err
		}
	}
	if d.StartBaseline {
		if err := t.startBaseline(ctx); err != nil {
			return err
		}
	}
	if d.ScaleCanaryDown {
		if err := t.scaleTarget(ctx, 0); err != nil {
			return err
		}
	}
	if d.StopBaseline {
		if err := t.stopBaseline(ctx); err != nil {
			return err
		}
	}
	if d.Finalize {
		return t.finalize(ctx, d)
	}
	writeStatus(t.c, d.Status, t.now)
	// after this tick's own scaling; a lagging cache never lowers it
	t.c.Status.ObservedTargetGeneration = max(t.c.Status.ObservedTargetGeneration, t.targetGeneration())
	if !equality.Semantic.DeepEqual(t.c.Status, t.orig.Status) {
		if err := t.patchStatus(ctx); err != nil {
			return err
		}
	}
	t.emit(d.Events)
	for _, ch := range d.Status.Checks {
		if ch.Time.Equal(t.now) {
			t.r.prom.check(t.c, ch)
		}
	}
	if d.PostHooks {
		t.postRollout(ctx, d.Status)
	}
	if err := t.clearRequest(ctx); err != nil {
		return err
	}
	if t.r.Alerts != nil && len(d.Alerts) > 0 {
		t.r.Alerts.Send(ctx, t.c, d.Alerts, t.spec)
	}
	t.r.prom.status(t.c, d.Status.Phase)
	t.r.prom.outcome(t.c, t.spec.Strategy, d.Outcome)
	return nil
}

// setRoutes applies a split: through the BaselineRouter when the baseline
// has a share of it.
func (t *tick) setRoutes(ctx context.Context, r analysis.Routes) error {
	var err error
	if br, ok := t.router.(routers.BaselineRouter); ok && r.Baseline > 0 {
		err = br.SetBaselineRoutes(ctx, t.c, r.Primary, r.Canary, r.Baseline)
	} else {
		err = t.router.SetRoutes(ctx, t.c, r.Primary, r.Canary, r.Mirrored)
	}
	if err != nil {
		return fmt.Errorf("setting routes of canary %s to %d/%d/%d: %w", t.c.Key(), r.Primary, r.Canary, r.Baseline, err)
	}
	t.r.prom.weight(t.c, r.Primary, r.Canary)
	if t.c.BaselineEnabled() || r.Baseline > 0 {
		t.r.prom.weightVec.WithLabelValues(t.c.BaselineName(), t.c.Namespace).Set(float64(r.Baseline))
	}
	return nil
}

// canaryReplicas is how many replicas a new revision starts with, as
// Flagger's ScaleFromZero: the target's own count if it has one, else the
// autoscaler's minimum (when above 1), else the primary's count.
func (t *tick) canaryReplicas(ctx context.Context) int32 {
	if r := t.target.replicas; r != nil && *r > 0 {
		return *r
	}
	if ref := t.c.Spec.AutoscalerRef; ref != nil {
		if n := t.scalerMinReplicas(ctx); n > 1 {
			return n
		}
		return 1
	}
	if r := t.primary.replicas; r != nil && *r > 0 {
		if base := baseReplicasOf(t.primary); base > 0 {
			return base
		}
		return *r
	}
	return 1
}

func baseReplicasOf(w *workload) int32 {
	var n int32
	_, _ = fmt.Sscan(w.obj.GetAnnotations()[routers.BaseReplicasAnnotation], &n)
	return n
}

// promote refreshes the config copies and copies the target's template into
// the primary, then its autoscaler.
func (t *tick) promote(ctx context.Context) error {
	if t.obj != nil {
		return t.obj.promote(ctx)
	}
	if err := t.r.configs.copyToPrimary(ctx, t.c, &t.target.template.Spec, t.configs, t.r.Scheme); err != nil {
		return err
	}
	copyReplicas := t.c.Spec.AutoscalerRef == nil && t.provider != routers.KubernetesReplicas
	p := t.builder().promoteInto(t.c, t.target, t.primary, copyReplicas)
	if d, ok := p.(*appsv1.Deployment); ok && t.provider == routers.KubernetesReplicas {
		// the replica-ratio router may have shrunk the primary to make room
		// for the canary; the promoted primary needs its full count to
		// become ready and take the traffic back
		if base := baseReplicasOf(t.primary); base > 0 {
			d.Spec.Replicas = &base
		}
	}
	if err := t.r.Client.Update(ctx, p); err != nil {
		return fmt.Errorf("promoting %s.%s: %w", p.GetName(), p.GetNamespace(), err)
	}
	t.primary = asWorkload(p)
	return t.ensurePrimaryScaler(ctx, true)
}

// postRollout calls the post-rollout hooks with the final phase; their
// failures are only logged, as in Flagger.
func (t *tick) postRollout(ctx context.Context, st analysis.Status) {
	for _, h := range t.c.Spec.Analysis.Webhooks {
		if h.Type != flaggerv1.PostRolloutHook {
			continue
		}
		if err := t.callHook(ctx, h, string(st.Phase), checksum(st.LastAppliedSpec, st.TrackedConfigs), h.Metadata); err != nil {
			t.event(analysis.SeverityWarn, fmt.Sprintf("Post-rollout hook %s failed %v", h.Name, err))
			continue
		}
		t.event(analysis.SeverityInfo, fmt.Sprintf("Post-rollout check %s passed", h.Name))
	}
}

// clearRequest removes a handled request annotation, once its outcome is
// in the status; a request that arrives meanwhile (another value) stays.
func (t *tick) clearRequest(ctx context.Context) error {
	v, ok := t.orig.Annotations[flaggerv1.RequestAnnotation]
	if !ok {
		return nil
	}
	patch := fmt.Appendf(nil, `{"metadata":{"resourceVersion":%q,"annotations":{%q:null,%q:null}}}`,
		t.c.ResourceVersion, flaggerv1.RequestAnnotation, flaggerv1.RequestedByAnnotation)
	err := t.r.Client.Patch(ctx, t.c, client.RawPatch("application/merge-patch+json", patch))
	if apierrors.IsConflict(err) {
		// the Canary changed since; the next tick sees the request again
		// and, finding it recorded, only clears it
		return nil
	}
	if err != nil {
		return fmt.Errorf("clearing request %q of canary %s: %w", v, t.c.Key(), err)
	}
	t.r.written.Store(client.ObjectKeyFromObject(t.c), t.c.ResourceVersion)
	return nil
}
