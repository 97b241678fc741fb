package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/signalfx/signalflow-client-go/v2/signalflow"
	"github.com/signalfx/signalflow-client-go/v2/signalflow/messages"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// Splunk Observability Cloud (SignalFx), as Flagger calls it: the query is
// a SignalFlow program, run over the last ten metric intervals through the
// vendor's SignalFlow client on wss://stream.<realm>.signalfx.com; the
// online check is the REST API's GET /v2/metric?limit=1.
const (
	splunkStreamPath   = "/v2/signalflow"
	splunkValidatePath = "/v2/metric"
	splunkTokenKey     = "sf_token_key"
)

// splunk is the "splunk" provider.
type splunk struct {
	stream string // wss://stream.<realm>.signalfx.com/v2/signalflow
	ep     *endpoint
	token  string
	now    func() time.Time
}

var _ windowQuerier = (*splunk)(nil)

func newSplunk(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, d Deps) (Provider, error) {
	if p.Address == "" {
		return nil, fmt.Errorf("provider address is empty; set it to your realm's API, such as https://api.us1.signalfx.com")
	}
	token, err := secretValue(p, secret, splunkTokenKey, splunkTokenKey)
	if err != nil {
		return nil, err
	}
	// Flagger's mapping, both ways: https://api.<realm>… is the REST API,
	// wss://stream.<realm>… the SignalFlow stream
	address := strings.TrimSuffix(p.Address, "/")
	stream := strings.Replace(strings.Replace(address, "http", "ws", 1), "api", "stream", 1) + splunkStreamPath
	rest := p
	rest.Address = strings.Replace(strings.Replace(address, "ws", "http", 1), "stream", "api", 1)
	ep, err := vendorEndpoint(rest, "", http.Header{"X-Sf-Token": {token}})
	if err != nil {
		return nil, err
	}
	return &splunk{stream: stream, ep: ep, token: token, now: d.now}, nil
}

func (s *splunk) Query(ctx context.Context, q string) (float64, error) {
	return s.queryWindow(ctx, q, time.Minute)
}

// queryWindow runs the SignalFlow program q over the last ten intervals
// and returns the last value it published. No value wraps ErrNoValues;
// values of several time series wrap ErrInvalidQuery, as in Flagger.
func (s *splunk) queryWindow(ctx context.Context, q string, interval time.Duration) (float64, error) {
	what := "splunk " + s.stream
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	// the client reconnects in the background; its last error says why a
	// computation never started
	var lastErr atomic.Value
	c, err := signalflow.NewClient(signalflow.StreamURL(s.stream), signalflow.AccessToken(s.token),
		signalflow.UserAgent("warbler"), signalflow.ReadTimeout(DefaultTimeout), signalflow.WriteTimeout(DefaultTimeout),
		signalflow.OnError(func(err error) { lastErr.Store(err) }))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	defer c.Close()
	failed := func(step string, err error) error {
		if last, ok := lastErr.Load().(error); ok {
			return fmt.Errorf("%s: %s: %w (last error: %v)", what, step, err, last)
		}
		return fmt.Errorf("%s: %s: %w", what, step, err)
	}
	now := s.now()
	comp, err := c.Execute(ctx, &signalflow.ExecuteRequest{
		Program: q, Start: now.Add(-flaggerWindows * interval), Stop: now, Immediate: true,
	})
	if err != nil {
		return 0, failed("executing the program", err)
	}
	var last *messages.DataPayload
	tsids := map[string]bool{}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return 0, failed(fmt.Sprintf("no end of the computation within %v", DefaultTimeout), ctx.Err())
		case m, ok := <-comp.Data():
			if !ok {
				done = true
				break
			}
			for i := range m.Payloads {
				if m.Payloads[i].Value() == nil {
					continue
				}
				last = &m.Payloads[i]
				tsids[fmt.Sprint(last.TSID)] = true
			}
		}
	}
	if err := comp.Err(); err != nil {
		var ce *signalflow.ComputationError
		if errors.As(err, &ce) && ce.Code/100 == 4 && ce.Code != http.StatusUnauthorized && ce.Code != http.StatusForbidden {
			return 0, fmt.Errorf("%w: %s: SignalFlow rejected the program: %v", ErrInvalidQuery, what, err)
		}
		return 0, fmt.Errorf("%s: the computation failed: %w", what, err)
	}
	switch {
	case last == nil:
		return 0, fmt.Errorf("%w: %s: the program published no values", ErrNoValues, what)
	case len(tsids) > 1:
		return 0, manySeries(what, len(tsids), nil)
	}
	var v float64
	switch last.Type {
	case messages.ValTypeLong:
		v = float64(last.Int64())
	case messages.ValTypeInt:
		v = float64(last.Int32())
	default:
		v = last.Float64()
	}
	if math.IsNaN(v) {
		return 0, fmt.Errorf("%w: %s: the last value is NaN", ErrNoValues, what)
	}
	return v, nil
}

// IsOnline lists one metric (GET /v2/metric?limit=1), as Flagger does, and
// wants a 200.
func (s *splunk) IsOnline(ctx context.Context) (bool, error) {
	what := fmt.Sprintf("splunk %s: GET %s", s.ep.base, splunkValidatePath)
	r, err := s.ep.do(ctx, http.MethodGet, s.ep.base.String()+splunkValidatePath+"?limit=1", nil, "", "")
	if err != nil {
		return false, fmt.Errorf("splunk %s: %w", s.ep.base, err)
	}
	if r.code != http.StatusOK {
		return false, httpError(what, r, "", s.now())
	}
	return true, nil
}

func (s *splunk) closeIdle() { s.ep.closeIdle() }

func (s *splunk) multiline() {}
