package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// ClientConfig publishes the settings clients need (the default provider,
// the version, the watched namespace) on the ConfigMap the chart creates
// for them, labelled flaggerv1.ControllerConfigLabel. It patches only the
// data, so the chart keeps owning the object, and it needs no more than
// patch on that one ConfigMap. It is a manager Runnable that runs on every
// replica: they all publish the same values.
type ClientConfig struct {
	Client client.Writer
	// Key names the ConfigMap.
	Key  client.ObjectKey
	Data map[string]string
	Log  *slog.Logger
	// Retry is the pause between attempts while the API server fails;
	// 10s when zero.
	Retry time.Duration
}

// ClientConfigData is what the controller publishes.
func ClientConfigData(meshProvider, version, watchNamespace string) map[string]string {
	return map[string]string{flaggerv1.ConfigMeshProvider: meshProvider, flaggerv1.ConfigVersion: version,
		flaggerv1.ConfigWatchNamespace: watchNamespace}
}

// Start publishes once. A missing ConfigMap (a controller run outside the
// chart) or a refusal is logged and ends the attempt: kubectl canary then
// falls back to its own default. Other errors are retried until ctx ends.
func (p *ClientConfig) Start(ctx context.Context) error {
	patch, err := json.Marshal(map[string]any{"data": p.Data})
	if err != nil {
		return err
	}
	retry := p.Retry
	if retry <= 0 {
		retry = 10 * time.Second
	}
	where := fmt.Sprintf("ConfigMap %s.%s", p.Key.Name, p.Key.Namespace)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: p.Key.Namespace, Name: p.Key.Name}}
	for {
		err := p.Client.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", patch))
		switch {
		case err == nil:
			p.Log.Info("Published the default provider " + p.Data[flaggerv1.ConfigMeshProvider] + " for kubectl canary on " + where)
			return nil
		case apierrors.IsNotFound(err), apierrors.IsForbidden(err):
			p.Log.Warn("cannot publish the controller's settings for kubectl canary on "+where+"; kubectl canary will assume its own default provider", "error", err.Error())
			return nil
		}
		p.Log.Info("publishing the controller's settings on " + where + " failed; retrying: " + err.Error())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// NeedLeaderElection: every replica publishes, the leader or not.
func (p *ClientConfig) NeedLeaderElection() bool { return false }
