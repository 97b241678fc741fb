package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one attempt when the webhook sets no timeout, as in
// Flagger.
const DefaultTimeout = 10 * time.Second

// maxBody caps how much of a response is read and kept in errors and events.
const maxBody = 4 << 10

// Request is one webhook call.
type Request struct {
	URL string
	// Timeout of one attempt; DefaultTimeout when zero.
	Timeout time.Duration
	// Retries after the first attempt, on connection errors, 429 and 5xx
	// other than 501, with exponential backoff from 1 s to 30 s.
	Retries int
	// InsecureSkipVerify disables TLS verification (webhook disableTLS).
	InsecureSkipVerify bool
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// HMACKey, when set, signs the request (see Sign).
	HMACKey []byte
	Payload Payload
}

// Error is a failed webhook call. Unlike Flagger, it keeps the body of the
// last response whatever its status, so events say why a hook failed.
type Error struct {
	URL        string
	Attempts   int
	StatusCode int    // 0 when no response arrived
	Body       string // first 4 KiB of the last response body
	Err        error  // transport error, when no response arrived

	retryAfter time.Duration
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("POST %s giving up after %d attempt(s)", e.URL, e.Attempts)
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	msg += ": " + strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
	if body := strings.TrimSpace(e.Body); body != "" {
		msg += ": " + body
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Client calls webhooks. Its zero value is not usable; use NewClient.
type Client struct {
	verify, insecure *http.Client
	userAgent        string
	now              func() time.Time
	sleep            func(context.Context, time.Duration) error
}

// NewClient returns a client with pooled connections. userAgent names the
// caller, for example "warbler/1.0".
func NewClient(userAgent string) *Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 16
	insecure := base.Clone()
	insecure.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the webhook asked for it (disableTLS)
	return &Client{
		verify:    &http.Client{Transport: base, CheckRedirect: noRedirect},
		insecure:  &http.Client{Transport: insecure, CheckRedirect: noRedirect},
		userAgent: userAgent,
		now:       time.Now,
		sleep:     sleepCtx,
	}
}

// A redirected POST would lose its body and signature; treat 3xx as an
// answer, which fails the hook with the Location in the error.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Succeeded reports whether a status code means success: 200, 201 and 202,
// as in Flagger (203 and 204 are failures).
func Succeeded(code int) bool { return code >= 200 && code <= 202 }

// Call POSTs the payload and returns the body of a successful answer, or an
// *Error.
func (c *Client) Call(ctx context.Context, r Request) (string, error) {
	body, err := json.Marshal(r.Payload)
	if err != nil {
		return "", fmt.Errorf("encoding webhook payload: %w", err)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	hc := c.verify
	if r.InsecureSkipVerify {
		hc = c.insecure
	}
	last := &Error{URL: r.URL}
	for attempt := 0; attempt <= max(r.Retries, 0); attempt++ {
		if attempt > 0 {
			if err := c.sleep(ctx, backoff(attempt, last)); err != nil {
				return "", last
			}
		}
		last.Attempts = attempt + 1
		code, respBody, retryAfter, err := c.post(ctx, hc, r, body, timeout)
		last.StatusCode, last.Body, last.Err = code, respBody, err
		if err == nil && Succeeded(code) {
			return respBody, nil
		}
		if !retryable(code, err) {
			break
		}
		if retryAfter > 0 {
			last.retryAfter = retryAfter
		}
	}
	return "", last
}

func (c *Client) post(ctx context.Context, hc *http.Client, r Request, body []byte, timeout time.Duration) (int, string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if len(r.HMACKey) > 0 {
		req.Header.Set(SignatureHeader, Sign(r.HMACKey, c.now(), req.URL.EscapedPath(), body))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	return resp.StatusCode, string(data), parseRetryAfter(resp.Header.Get("Retry-After")), nil
}

// retryable: connection errors, 429 and 5xx except 501 Not Implemented.
func retryable(code int, err error) bool {
	if err != nil {
		return !errors.Is(err, context.Canceled)
	}
	return code == http.StatusTooManyRequests || (code >= 500 && code != http.StatusNotImplemented)
}

// backoff is 1 s doubled per attempt, capped at 30 s, or the server's
// Retry-After when it asked for one (also capped).
func backoff(attempt int, last *Error) time.Duration {
	if last.retryAfter > 0 {
		return min(last.retryAfter, 30*time.Second)
	}
	d := time.Second << (attempt - 1)
	return min(d, 30*time.Second)
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}
