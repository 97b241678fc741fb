package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Google Cloud Monitoring's REST API. Flagger sends MQL through the gRPC
// client's QueryTimeSeries; the same method's REST form is POST
// /v3/projects/{project}/timeSeries:query. PromQL goes to the
// Prometheus-compatible API of the same service.
const (
	stackdriverDefaultAddress = "https://monitoring.googleapis.com"
	stackdriverScope          = "https://www.googleapis.com/auth/monitoring.read"
	stackdriverProjectKey     = "project"
	stackdriverKeyKey         = "serviceAccountKey"
)

// stackdriver is the "stackdriver" provider.
type stackdriver struct {
	ep      *endpoint
	project string
	now     func() time.Time
}

func newStackdriver(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	project, err := secretValue(p, secret, stackdriverProjectKey, stackdriverProjectKey, stackdriverKeyKey+" (optional)")
	if err != nil {
		return nil, err
	}
	ep, err := vendorEndpoint(p, stackdriverDefaultAddress, nil)
	if err != nil {
		return nil, err
	}
	src := &googleTokens{key: secret[stackdriverKeyKey], secret: p.SecretRef.Name}
	ep.client.Transport = &oauth2.Transport{Source: src, Base: ep.client.Transport}
	return &stackdriver{ep: ep, project: project, now: d.now}, nil
}

// googleTokens finds the Google credentials on first use, so that building
// the provider makes no request: the serviceAccountKey of the Secret when
// there is one, or else Application Default Credentials (Workload
// Identity, GOOGLE_APPLICATION_CREDENTIALS).
type googleTokens struct {
	key    []byte
	secret string

	mu  sync.Mutex
	src oauth2.TokenSource
}

func (g *googleTokens) Token() (*oauth2.Token, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.src == nil {
		ctx := context.Background()
		var creds *google.Credentials
		var err error
		if len(g.key) > 0 {
			creds, err = google.CredentialsFromJSONWithType(ctx, g.key, google.ServiceAccount, stackdriverScope)
			if err != nil {
				return nil, fmt.Errorf("secret %q key %q is not a service account key: %w", g.secret, stackdriverKeyKey, err)
			}
		} else if creds, err = google.FindDefaultCredentials(ctx, stackdriverScope); err != nil {
			return nil, fmt.Errorf("no %q in secret %q and no default Google credentials: %w", stackdriverKeyKey, g.secret, err)
		}
		g.src = creds.TokenSource
	}
	return g.src.Token()
}

// googleError is the error body of Google APIs.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// isMQL tells an MQL query (it starts with a fetch table operation,
// possibly inside braces) from PromQL.
func isMQL(q string) bool {
	q = strings.TrimLeft(q, "{ \t\n")
	return strings.HasPrefix(q, "fetch ") || strings.HasPrefix(q, "fetch_cumulative ")
}

// Query runs q, MQL or PromQL (see isMQL), and returns its one value. For
// MQL, as in Flagger, that is the first value of the first point of the
// one series; no series or point wrap ErrNoValues, several series
// ErrInvalidQuery. PromQL has the prometheus provider's semantics.
func (s *stackdriver) Query(ctx context.Context, q string) (float64, error) {
	if isMQL(q) {
		return s.queryMQL(ctx, q)
	}
	return s.queryPromQL(ctx, q)
}

func (s *stackdriver) queryPath() string {
	return "/v3/projects/" + url.PathEscape(s.project) + "/timeSeries:query"
}

// mqlResponse is the part of QueryTimeSeriesResponse the provider reads.
type mqlResponse struct {
	TimeSeriesData []struct {
		LabelValues []map[string]any `json:"labelValues"`
		PointData   []struct {
			Values []struct {
				DoubleValue *protoDouble `json:"doubleValue"`
				Int64Value  *string      `json:"int64Value"`
			} `json:"values"`
		} `json:"pointData"`
	} `json:"timeSeriesData"`
}

func (s *stackdriver) post(ctx context.Context, q string) (response, string, error) {
	what := fmt.Sprintf("stackdriver %s: POST %s", s.ep.base, s.queryPath())
	body, _ := json.Marshal(map[string]string{"query": q})
	r, err := s.ep.do(ctx, http.MethodPost, s.ep.base.String()+s.queryPath(), body, "application/json", "")
	if err != nil {
		return r, what, fmt.Errorf("stackdriver %s: %w", s.ep.base, err)
	}
	if r.code != http.StatusOK {
		var e googleError
		_ = json.Unmarshal(r.body, &e)
		return r, what, httpError(what, r, strings.TrimSpace(e.Error.Status+" "+e.Error.Message), s.now())
	}
	return r, what, nil
}

func (s *stackdriver) queryMQL(ctx context.Context, q string) (float64, error) {
	r, what, err := s.post(ctx, q)
	if err != nil {
		return 0, err
	}
	var res mqlResponse
	if err := decodeJSON(what, r.body, &res); err != nil {
		return 0, err
	}
	switch len(res.TimeSeriesData) {
	case 0:
		return 0, fmt.Errorf("%w: %s: the query returned no time series", ErrNoValues, what)
	case 1:
	default:
		names := make([]string, len(res.TimeSeriesData))
		for i, ts := range res.TimeSeriesData {
			var labels []string
			for _, lv := range ts.LabelValues {
				for _, v := range lv {
					labels = append(labels, fmt.Sprint(v))
				}
			}
			names[i] = "{" + strings.Join(labels, ",") + "}"
		}
		return 0, manySeries(what, len(names), names)
	}
	ts := res.TimeSeriesData[0]
	if len(ts.PointData) == 0 || len(ts.PointData[0].Values) == 0 {
		return 0, fmt.Errorf("%w: %s: the time series has no points", ErrNoValues, what)
	}
	v := ts.PointData[0].Values[0]
	switch {
	case v.DoubleValue != nil && !math.IsNaN(float64(*v.DoubleValue)):
		return float64(*v.DoubleValue), nil
	case v.Int64Value != nil:
		f, err := strconv.ParseFloat(*v.Int64Value, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: int64Value %q is not a number", what, *v.Int64Value)
		}
		return f, nil
	case v.DoubleValue != nil:
		return 0, fmt.Errorf("%w: %s: the value is NaN", ErrNoValues, what)
	default:
		return 0, fmt.Errorf("%w: %s: the first value is neither a double nor an int64 (a distribution, bool or string?)", ErrInvalidQuery, what)
	}
}

// protoDouble is a double in proto3 JSON: a number, or the strings "NaN",
// "Infinity" and "-Infinity".
type protoDouble float64

func (d *protoDouble) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		f, err := strconv.ParseFloat(s, 64)
		*d = protoDouble(f)
		return err
	}
	var f float64
	err := json.Unmarshal(b, &f)
	*d = protoDouble(f)
	return err
}

// promResponse is the Prometheus HTTP API's query answer.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func (s *stackdriver) queryPromQL(ctx context.Context, q string) (float64, error) {
	path := "/v1/projects/" + url.PathEscape(s.project) + "/location/global/prometheus/api/v1/query"
	what := fmt.Sprintf("stackdriver %s: GET %s", s.ep.base, path)
	r, err := s.ep.do(ctx, http.MethodGet, s.ep.base.String()+path+"?"+url.Values{"query": {q}}.Encode(), nil, "", "")
	if err != nil {
		return 0, fmt.Errorf("stackdriver %s: %w", s.ep.base, err)
	}
	var res promResponse
	if r.code != http.StatusOK {
		_ = json.Unmarshal(r.body, &res)
		return 0, httpError(what, r, res.Error, s.now())
	}
	if err := decodeJSON(what, r.body, &res); err != nil {
		return 0, err
	}
	var v model.Value
	switch res.Data.ResultType {
	case "vector":
		var vec model.Vector
		err, v = json.Unmarshal(res.Data.Result, &vec), vec
	case "scalar":
		var sc model.Scalar
		err, v = json.Unmarshal(res.Data.Result, &sc), &sc
	case "matrix":
		var m model.Matrix
		err, v = json.Unmarshal(res.Data.Result, &m), m
	default:
		return 0, fmt.Errorf("%w: %s: the query returned a %q, not a number", ErrInvalidQuery, what, res.Data.ResultType)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: the %s result is not the documented JSON: %w", what, res.Data.ResultType, err)
	}
	f, err := sampleValue(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return f, nil
}

// IsOnline sends an empty MQL query, as Flagger does: INVALID_ARGUMENT
// (400) proves the API answers and the credentials are accepted;
// PERMISSION_DENIED, UNAUTHENTICATED or a transport error mean not online.
func (s *stackdriver) IsOnline(ctx context.Context) (bool, error) {
	r, _, err := s.post(ctx, "")
	if err == nil || r.code == http.StatusBadRequest {
		return true, nil
	}
	return false, err
}

func (s *stackdriver) closeIdle() { s.ep.closeIdle() }
