package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// What the providers of vendor APIs (datadog, newrelic, dynatrace,
// graphite, influxdb, cloudwatch, stackdriver, splunk) share: the keys of
// their Secrets, the time window of a query, and what an HTTP answer means.

// windowQuerier is a Provider whose query covers a time range that the
// metric's interval sets: Flagger's datadog, cloudwatch, dynatrace and
// splunk providers ask for the last ten intervals, newrelic for the last
// one. Evaluate passes the interval; Query uses DefaultInterval.
type windowQuerier interface {
	queryWindow(ctx context.Context, q string, interval time.Duration) (float64, error)
}

// flaggerWindows is how many metric intervals Flagger's datadog,
// cloudwatch, dynatrace and splunk providers look back.
const flaggerWindows = 10

// parseInterval reads a metric's interval as Go duration, as Flagger does
// for the providers that need one; empty means DefaultInterval.
func parseInterval(s string) (time.Duration, error) {
	if s == "" {
		s = DefaultInterval
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: metric interval %q is not a positive Go duration such as 30s, 1m or 1h30m", ErrInvalidQuery, s)
	}
	return d, nil
}

// secretValue returns key of the template's Secret, trimmed of surrounding
// whitespace. A template without secretRef, or a Secret without the key,
// is an error naming the key and every key the type reads.
func secretValue(p flaggerv1.MetricTemplateProvider, secret map[string][]byte, key string, reads ...string) (string, error) {
	if p.SecretRef == nil {
		return "", fmt.Errorf("spec.provider.secretRef is not set; it must name a Secret with the keys %s", quoteAll(reads))
	}
	v := strings.TrimSpace(string(secret[key]))
	if v == "" {
		return "", fmt.Errorf("secret %q has no key %q (or it is empty); the keys read are %s", p.SecretRef.Name, key, quoteAll(reads))
	}
	return v, nil
}

// optionalSecretValue is secretValue for a key a type may do without.
func optionalSecretValue(secret map[string][]byte, key string) string {
	return strings.TrimSpace(string(secret[key]))
}

// vendorEndpoint builds the endpoint of a vendor API at address (def when
// empty), with the template's headers plus the vendor's credential
// headers, which win over template headers of the same name.
func vendorEndpoint(p flaggerv1.MetricTemplateProvider, def string, creds http.Header) (*endpoint, error) {
	address := p.Address
	if address == "" {
		address = def
	}
	return newEndpoint(endpointConfig{address: strings.TrimSuffix(address, "/"), header: mergeHeaders(p.Headers, creds), insecure: p.InsecureSkipVerify})
}

// ThrottledError is a provider's answer that it is rate limited (HTTP 429).
// It is a provider error: the check is retried, after RetryAfter when the
// provider said how long to wait.
type ThrottledError struct {
	// What is "<provider> <address>: <method> <path>".
	What string
	// RetryAfter is the wait the provider asked for; zero when it did not.
	RetryAfter time.Duration
	// Msg is the provider's own text.
	Msg string
}

func (e *ThrottledError) Error() string {
	s := e.What + ": 429 Too Many Requests"
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %v)", e.RetryAfter)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

// RetryAfter returns how long a provider asked to wait before the next
// query, when err says it is throttled.
func RetryAfter(err error) (time.Duration, bool) {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t.RetryAfter, true
	}
	return 0, false
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// httpError turns a non-2xx answer of a vendor API into an error: 400 and
// 422 mean the vendor rejected the query (ErrInvalidQuery), 429 is a
// ThrottledError, anything else (401, 403, 404, 5xx) a provider error
// worth retrying. what names the provider, its address and the request;
// msg is the vendor's error text, or the body when it is empty.
func httpError(what string, r response, msg string, now time.Time) error {
	if msg == "" {
		msg = truncate(strings.TrimSpace(string(r.body)), 300)
	}
	status := fmt.Sprintf("%d %s", r.code, http.StatusText(r.code))
	switch r.code {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return fmt.Errorf("%w: %s: %s: %s", ErrInvalidQuery, what, status, msg)
	case http.StatusTooManyRequests:
		return &ThrottledError{What: what, RetryAfter: retryAfter(r.header, now), Msg: msg}
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: %s (check the credentials in the template's Secret): %s", what, status, msg)
	default:
		return fmt.Errorf("%s: %s: %s", what, status, msg)
	}
}

// decodeJSON unmarshals a vendor's answer, with an error that quotes the
// start of a body that is not what the API documents.
func decodeJSON(what string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: the answer is not the documented JSON (%v): %s", what, err, truncate(strings.TrimSpace(string(body)), 200))
	}
	return nil
}

// manySeries is the error of a query that returned several series where
// one number is wanted. Flagger silently takes one of them (the first or
// the last, depending on the provider); Warbler refuses, since which one
// comes first is up to the backend.
func manySeries(what string, n int, names []string) error {
	names = slices.Compact(names)
	shown := ""
	if len(names) > 0 {
		if len(names) > 5 {
			names = append(names[:5:5], "…")
		}
		shown = " (" + strings.Join(names, ", ") + ")"
	}
	return fmt.Errorf("%w: %s: the query returned %d series%s; aggregate it so that it returns one", ErrInvalidQuery, what, n, shown)
}
