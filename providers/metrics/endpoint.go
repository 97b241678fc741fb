package metrics

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/webhooks"
)

// DefaultTimeout bounds every call a provider makes, as Flagger's 5 s
// Prometheus timeout does.
const DefaultTimeout = 5 * time.Second

// maxBody caps the response bodies read, so that a misdirected address (a
// file server, a dashboard) cannot exhaust memory.
const maxBody = 8 << 20

// Keys of the Secret referenced by a MetricTemplate provider.
const (
	secretToken    = "token"
	secretUsername = "username"
	secretPassword = "password"
	secretHeaders  = "headers"
	secretHMACKey  = "hmacKey"
)

// endpoint is the HTTP side the providers share: where to send requests,
// the headers added to each (the template's and the credentials), and the
// time allowed for each call.
type endpoint struct {
	base    *url.URL
	header  http.Header
	signKey []byte
	client  *http.Client
	timeout time.Duration
}

// endpointConfig describes an endpoint.
type endpointConfig struct {
	address  string
	header   http.Header
	insecure bool
	timeout  time.Duration
	// signKey, when set, signs each request as webhooks do (the
	// loadtester's HMAC authentication).
	signKey []byte
}

func newEndpoint(c endpointConfig) (*endpoint, error) {
	base, err := parseAddress(c.address)
	if err != nil {
		return nil, err
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return &endpoint{
		base:    base,
		header:  c.header.Clone(),
		signKey: c.signKey,
		client:  &http.Client{Transport: newTransport(c.timeout, c.insecure), Timeout: c.timeout},
		timeout: c.timeout,
	}, nil
}

// newTransport returns the transport of a provider's HTTP client: each
// phase of a call bounded by timeout, few idle connections per host, and
// TLS verification off only when insecure.
func newTransport(timeout time.Duration, insecure bool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	tr.MaxIdleConnsPerHost = 4
	tr.IdleConnTimeout = 90 * time.Second
	if insecure {
		// Only when the template says insecureSkipVerify: true.
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
	return tr
}

func parseAddress(address string) (*url.URL, error) {
	if address == "" {
		return nil, fmt.Errorf("provider address is empty; set it to an http:// or https:// URL")
	}
	u, err := url.Parse(address)
	if err != nil {
		return nil, fmt.Errorf("provider address %q is not a URL: %w", address, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("provider address %q must be an http:// or https:// URL with a host", address)
	}
	return u, nil
}

// authorize adds the endpoint's headers to r. A "Host" header sets r.Host,
// since Go ignores it in r.Header.
func (e *endpoint) authorize(r *http.Request) {
	for k, vs := range e.header {
		if textproto.CanonicalMIMEHeaderKey(k) == "Host" && len(vs) > 0 {
			r.Host = vs[0]
			continue
		}
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
}

// get sends GET u with the endpoint's headers and returns the status code
// and the body. Transport errors and bodies over maxBody are errors.
func (e *endpoint) get(ctx context.Context, u string) (int, []byte, error) {
	r, err := e.do(ctx, http.MethodGet, u, nil, "", "")
	return r.code, r.body, err
}

// response is what an endpoint call got back.
type response struct {
	code   int
	header http.Header
	body   []byte
}

// do sends one request with the endpoint's headers, bounded by the
// endpoint's timeout, and reads the answer. body, when not nil, is sent
// with contentType. accept is the media type asked for, JSON when empty.
// Transport errors and bodies over maxBody are errors.
func (e *endpoint) do(ctx context.Context, method, u string, body []byte, contentType, accept string) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return response{}, err
	}
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	e.authorize(req)
	if len(e.signKey) > 0 {
		req.Header.Set(webhooks.SignatureHeader, webhooks.Sign(e.signKey, time.Now(), req.URL.EscapedPath(), body))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	r := response{code: resp.StatusCode, header: resp.Header}
	if r.body, err = readBody(resp.Body); err != nil {
		return r, fmt.Errorf("%s %s: %w", method, u, err)
	}
	return r, nil
}

func readBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("response body exceeds %d bytes", maxBody)
	}
	return body, nil
}

func (e *endpoint) closeIdle() { e.client.CloseIdleConnections() }

// credentialHeader turns the Secret of a MetricTemplate provider of type
// typ into request headers: "token" gives a bearer token and wins over
// "username" and "password" (basic auth), as in Flagger; for the http
// provider, "headers" holds extra "Name: value" lines. For the loadtest
// provider a lone "hmacKey" (see New) is enough. A nil or empty secret
// adds nothing.
func credentialHeader(secret map[string][]byte, typ string) (http.Header, error) {
	h := http.Header{}
	if len(secret) == 0 {
		return h, nil
	}
	allowHeaders, signs := typ == TypeHTTP, typ == TypeLoadtest && len(secret[secretHMACKey]) > 0
	if allowHeaders {
		if raw, ok := secret[secretHeaders]; ok {
			if err := parseHeaderLines(h, raw); err != nil {
				return nil, err
			}
		}
	}
	token, user, pass := secret[secretToken], secret[secretUsername], secret[secretPassword]
	switch {
	case len(token) > 0:
		h.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	case len(user) > 0 && len(pass) > 0:
		creds := base64.StdEncoding.EncodeToString([]byte(string(user) + ":" + string(pass)))
		h.Set("Authorization", "Basic "+creds)
	case len(user) > 0 || len(pass) > 0:
		return nil, fmt.Errorf("secret has only one of %q and %q; basic auth needs both", secretUsername, secretPassword)
	case len(h) == 0 && !signs:
		want := fmt.Sprintf("%q, or %q and %q", secretToken, secretUsername, secretPassword)
		switch typ {
		case TypeHTTP:
			want += fmt.Sprintf(", or %q", secretHeaders)
		case TypeLoadtest:
			want += fmt.Sprintf(", and/or %q", secretHMACKey)
		}
		return nil, fmt.Errorf("secret holds none of the keys Warbler reads: want %s", want)
	}
	return h, nil
}

// parseHeaderLines reads "Name: value" lines into h; blank lines are
// skipped.
func parseHeaderLines(h http.Header, raw []byte) error {
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("secret key %q line %d is not a \"Name: value\" header", secretHeaders, n)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return sc.Err()
}

// mergeHeaders returns the template's headers with the credential headers
// added; credentials replace template headers of the same name.
func mergeHeaders(template map[string][]string, creds http.Header) http.Header {
	h := http.Header{}
	for k, vs := range template {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for k, vs := range creds {
		h[k] = append([]string(nil), vs...)
	}
	return h
}
