package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// transports pools connections per proxy, so receivers behind the same
// proxy share them and a proxy never leaks into another provider's calls.
type transports struct {
	mu      sync.Mutex
	byProxy map[string]*http.Transport
}

func newTransports() *transports { return &transports{byProxy: map[string]*http.Transport{}} }

// client returns an HTTP client for the proxy ("" for none).
func (t *transports) client(proxy string) (*http.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tr, ok := t.byProxy[proxy]
	if !ok {
		tr = http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		if proxy != "" {
			u, err := url.Parse(proxy)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("proxy %q is not a URL such as http://proxy:3128", proxy)
			}
			tr.Proxy = http.ProxyURL(u)
		}
		t.byProxy[proxy] = tr
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}

// maxErrorBody bounds the part of an error response kept in logs.
const maxErrorBody = 512

// post sends one payload, giving up after the timeout; a hanging receiver
// holds one worker for at most that long.
func (n *Notifier) post(ctx context.Context, d destination, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encoding the %s payload: %w", d.typ, err)
	}
	hc, err := n.http.client(d.proxy)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.flags.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, address(d), bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("address %q: %w", redact(d.url), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "warbler")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", redact(d.url), unwrapURLError(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST %s: %s: %s", redact(d.url), resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// address is where a provider type is called: Discord takes Slack's format
// on its webhook URL plus "/slack".
func address(d destination) string {
	if d.typ == TypeDiscord && !strings.HasSuffix(strings.TrimRight(d.url, "/"), "/slack") {
		return strings.TrimRight(d.url, "/") + "/slack"
	}
	return d.url
}

// redact keeps hook secrets, which chat services put in the URL path, out
// of logs: only the scheme and host are shown.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// unwrapURLError drops the *url.Error wrapper, which repeats the full
// (secret) URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
