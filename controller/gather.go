package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/warbler-dev/warbler/analysis"
	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/webhooks"
)

func ptrTemplate(t corev1.PodTemplateSpec) *corev1.PodTemplateSpec { return &t }

// gather runs what the analysis asked for and adds the results to obs.
func (t *tick) gather(ctx context.Context, need *analysis.Need, obs *analysis.Observations) {
	if need.Metrics {
		obs.Metrics = t.runMetrics(ctx, need.Window)
		return
	}
	obs.Hooks[need.Hooks] = t.runHooks(ctx, need.Hooks, need.Phase, need.StopOn, obs)
}

// runHooks calls the webhooks of a type in spec order and stops as the
// analysis asked.
func (t *tick) runHooks(ctx context.Context, typ analysis.HookType, phase analysis.Phase, stop analysis.StopRule, obs *analysis.Observations) []analysis.HookResult {
	res := []analysis.HookResult{}
	for _, h := range t.c.Spec.Analysis.Webhooks {
		if hookType(h) != typ {
			continue
		}
		err := t.callHook(ctx, h, string(phase), checksum(obs.Revision, obs.Configs), h.Metadata)
		r := analysis.HookResult{Name: h.Name, OK: err == nil}
		if err != nil {
			r.Err = err.Error()
		}
		res = append(res, r)
		if (stop == analysis.StopOnFailure && !r.OK) || (stop == analysis.StopOnSuccess && r.OK) {
			break
		}
	}
	return res
}

func hookType(h flaggerv1.CanaryWebhook) analysis.HookType {
	if h.Type == "" {
		return analysis.HookRollout
	}
	return analysis.HookType(h.Type)
}

// callHook POSTs one webhook.
func (t *tick) callHook(ctx context.Context, h flaggerv1.CanaryWebhook, phase, sum string, metadata map[string]string) error {
	req := webhooks.Request{URL: h.URL, Retries: h.Retries, InsecureSkipVerify: h.DisableTLS,
		Payload: webhooks.Payload{Name: t.c.Name, Namespace: t.c.Namespace, Phase: phase, Checksum: sum, Metadata: metadata}}
	if len(h.Timeout) >= 2 {
		if d, err := time.ParseDuration(h.Timeout); err == nil {
			req.Timeout = d
		}
	}
	if h.SecretRef != nil {
		var s corev1.Secret
		if err := t.r.APIReader.Get(ctx, client.ObjectKey{Namespace: t.c.Namespace, Name: h.SecretRef.Name}, &s); err != nil {
			return fmt.Errorf("webhook %s: reading secret %s.%s: %w", h.Name, h.SecretRef.Name, t.c.Namespace, err)
		}
		req.Token, req.HMACKey = string(s.Data["token"]), s.Data["hmacKey"]
	}
	_, err := t.r.hooks.Call(ctx, req)
	return err
}

// runMetrics queries every metric of the spec.
func (t *tick) runMetrics(ctx context.Context, w analysis.Window) []analysis.MetricResult {
	out := []analysis.MetricResult{}
	for _, m := range t.c.Spec.Analysis.Metrics {
		if t.r.Metrics == nil {
			out = append(out, analysis.MetricResult{Name: m.Name, Outcome: analysis.QueryInvalid, Err: "no metric provider is configured in this controller"})
			continue
		}
		r := t.r.Metrics.Run(ctx, t.c, m, t.provider, w)
		r.Name = m.Name
		out = append(out, r)
	}
	return out
}
