package metrics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// The Keptn resources Flagger reads, in metrics.keptn.sh/v1beta1.
var (
	keptnMetricGVK   = schema.GroupVersionKind{Group: "metrics.keptn.sh", Version: "v1beta1", Kind: "KeptnMetric"}
	keptnAnalysisGVK = schema.GroupVersionKind{Group: "metrics.keptn.sh", Version: "v1beta1", Kind: "Analysis"}
)

// keptnAnalysisTimeout bounds the wait for Keptn to complete an Analysis,
// as in Flagger; keptnPoll is how often its status is read.
const (
	keptnAnalysisTimeout = 10 * time.Second
	keptnPoll            = time.Second
)

// keptn is the "keptn" provider. Its query names a Keptn resource in the
// cluster, as in Flagger:
//
//	keptnmetric/<namespace>/<name>
//	analysis/<namespace>/<analysisDefinition>[/<timeframe>[/<key=value;…>]]
//
// A KeptnMetric gives its status.value. An analysis creates an Analysis of
// the AnalysisDefinition over the recent timeframe (default 1m), waits up
// to 10 s for Keptn to complete it, deletes it, and gives 1 when it
// passed, 0 when it failed.
type keptn struct {
	kube client.Client
}

func newKeptn(_ flaggerv1.MetricTemplateProvider, _ map[string][]byte, d Deps) (Provider, error) {
	if d.Kube == nil {
		return nil, fmt.Errorf("no Kubernetes client was given to read Keptn resources with")
	}
	return &keptn{kube: d.Kube}, nil
}

// keptnQuery is a parsed keptn query.
type keptnQuery struct {
	kind, namespace, name string
	timeframe             string
	args                  map[string]any
}

const keptnQueryFormat = "keptnmetric/<namespace>/<name> or analysis/<namespace>/<analysisDefinition>[/<timeframe>[/<key=value;…>]]"

func parseKeptnQuery(q string) (keptnQuery, error) {
	parts := strings.Split(strings.TrimSpace(q), "/")
	if len(parts) < 3 || parts[1] == "" || parts[2] == "" {
		return keptnQuery{}, fmt.Errorf("%w: keptn query %q is not %s", ErrInvalidQuery, q, keptnQueryFormat)
	}
	k := keptnQuery{namespace: parts[1], name: parts[2], timeframe: DefaultInterval, args: map[string]any{}}
	// Flagger takes singular and plural names, in any case
	switch strings.ToLower(parts[0]) {
	case "keptnmetric", "keptnmetrics":
		k.kind = keptnMetricGVK.Kind
		if len(parts) > 3 {
			return keptnQuery{}, fmt.Errorf("%w: keptn query %q: a keptnmetric takes no timeframe or arguments", ErrInvalidQuery, q)
		}
	case "analysis", "analyses":
		k.kind = keptnAnalysisGVK.Kind
	default:
		return keptnQuery{}, fmt.Errorf("%w: keptn query %q: the type %q is neither keptnmetric nor analysis; want %s", ErrInvalidQuery, q, parts[0], keptnQueryFormat)
	}
	if len(parts) > 3 && parts[3] != "" {
		if d, err := time.ParseDuration(parts[3]); err != nil || d <= 0 {
			return keptnQuery{}, fmt.Errorf("%w: keptn query %q: the timeframe %q is not a Go duration such as 5m", ErrInvalidQuery, q, parts[3])
		}
		k.timeframe = parts[3]
	}
	if len(parts) > 4 {
		for _, kv := range strings.Split(strings.Join(parts[4:], "/"), ";") {
			key, value, ok := strings.Cut(kv, "=")
			if !ok || key == "" {
				return keptnQuery{}, fmt.Errorf("%w: keptn query %q: argument %q is not key=value", ErrInvalidQuery, q, kv)
			}
			k.args[key] = value
		}
	}
	return k, nil
}

func (k *keptn) Query(ctx context.Context, q string) (float64, error) {
	kq, err := parseKeptnQuery(q)
	if err != nil {
		return 0, err
	}
	if kq.kind == keptnMetricGVK.Kind {
		return k.metric(ctx, kq)
	}
	return k.analysis(ctx, kq)
}

func (k *keptn) metric(ctx context.Context, kq keptnQuery) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	what := fmt.Sprintf("keptn: KeptnMetric %s.%s", kq.name, kq.namespace)
	m := &unstructured.Unstructured{}
	m.SetGroupVersionKind(keptnMetricGVK)
	if err := k.kube.Get(ctx, client.ObjectKey{Namespace: kq.namespace, Name: kq.name}, m); err != nil {
		return 0, k.classify(what, err)
	}
	value, _, _ := unstructured.NestedString(m.Object, "status", "value")
	errMsg, _, _ := unstructured.NestedString(m.Object, "status", "errMsg")
	if value == "" {
		if errMsg != "" {
			return 0, fmt.Errorf("%w: %s has no value: Keptn says: %s", ErrNoValues, what, errMsg)
		}
		return 0, fmt.Errorf("%w: %s has no status.value yet", ErrNoValues, what)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
	if err != nil {
		return 0, fmt.Errorf("%s: status.value %q is not a number", what, value)
	}
	if math.IsNaN(v) {
		return 0, fmt.Errorf("%w: %s: status.value is NaN", ErrNoValues, what)
	}
	return v, nil
}

func (k *keptn) analysis(ctx context.Context, kq keptnQuery) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, keptnAnalysisTimeout)
	defer cancel()
	a := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{
			"analysisDefinition": map[string]any{"name": kq.name},
			"timeframe":          map[string]any{"recent": kq.timeframe},
			"args":               kq.args,
		},
	}}
	a.SetGroupVersionKind(keptnAnalysisGVK)
	a.SetNamespace(kq.namespace)
	a.SetName(kq.name + "-" + randomSuffix())
	a.SetLabels(map[string]string{"app.kubernetes.io/managed-by": "warbler"})
	what := fmt.Sprintf("keptn: Analysis of AnalysisDefinition %s.%s", kq.name, kq.namespace)
	if err := k.kube.Create(ctx, a); err != nil {
		return 0, k.classify(what, err)
	}
	what = fmt.Sprintf("keptn: Analysis %s.%s", a.GetName(), kq.namespace)
	defer func() {
		// the tick's context may be done; the delete still has to happen
		dctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
		defer cancel()
		_ = client.IgnoreNotFound(k.kube.Delete(dctx, a))
	}()
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s was not completed within %v (is Keptn's metrics-operator running?)", what, keptnAnalysisTimeout)
		case <-time.After(keptnPoll):
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(keptnAnalysisGVK)
		if err := k.kube.Get(ctx, client.ObjectKeyFromObject(a), got); err != nil {
			return 0, k.classify(what, err)
		}
		if state, _, _ := unstructured.NestedString(got.Object, "status", "state"); state != "Completed" {
			continue
		}
		if pass, _, _ := unstructured.NestedBool(got.Object, "status", "pass"); pass {
			return 1, nil
		}
		return 0, nil
	}
}

// classify sorts the API server's errors: a missing resource or CRD is a
// query that cannot work; anything else is a provider error.
func (k *keptn) classify(what string, err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s: not found", ErrInvalidQuery, what)
	case meta.IsNoMatchError(err):
		return fmt.Errorf("%w: %s: the metrics.keptn.sh/v1beta1 CRDs are not installed: %v", ErrInvalidQuery, what, err)
	case apierrors.IsInvalid(err):
		return fmt.Errorf("%w: %s: %v", ErrInvalidQuery, what, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// IsOnline checks that the API server knows the Keptn resources. Flagger
// does not check anything.
func (k *keptn) IsOnline(context.Context) (bool, error) {
	for _, gvk := range []schema.GroupVersionKind{keptnMetricGVK, keptnAnalysisGVK} {
		if _, err := k.kube.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return false, fmt.Errorf("keptn: %s %s is not served (are Keptn's CRDs installed?): %w", gvk.GroupVersion(), gvk.Kind, err)
		}
	}
	return true, nil
}

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
