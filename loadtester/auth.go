package loadtester

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/warbler-dev/warbler/webhooks"
)

// Auth authenticates callers. Every mechanism that is configured must pass:
// a bearer token, an HMAC-SHA256 signature of the path and body (webhooks.Sign), or
// both. With neither, every caller is "anonymous", as in Flagger.
type Auth struct {
	// Tokens maps accepted bearer tokens to the identity they stand for,
	// which is what gate changes are attributed to.
	Tokens map[string]string
	// HMACKey, when set, requires the webhooks.SignatureHeader.
	HMACKey []byte
	// Window is how far a signature's timestamp may be from now; 5m when
	// zero.
	Window time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Enabled reports whether any mechanism is configured.
func (a *Auth) Enabled() bool { return a != nil && (len(a.Tokens) > 0 || len(a.HMACKey) > 0) }

// ParseTokens reads a token file: one token per line, or "identity token"
// to name who holds it; blank lines and lines starting with # are skipped.
func ParseTokens(r io.Reader) (map[string]string, error) {
	tokens := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch len(f) {
		case 1:
			tokens[f[0]] = "bearer"
		case 2:
			tokens[f[1]] = f[0]
		default:
			return nil, fmt.Errorf("token file line %d: want \"<token>\" or \"<identity> <token>\"", n)
		}
	}
	return tokens, sc.Err()
}

// verify checks a request whose body has been read, and returns the
// caller's identity. Errors are 401s that say what is missing.
func (a *Auth) verify(r *http.Request, body []byte) (string, error) {
	identity := "anonymous"
	if len(a.Tokens) > 0 {
		id, err := a.bearer(r.Header.Get("Authorization"))
		if err != nil {
			return "", err
		}
		identity = id
	}
	if len(a.HMACKey) > 0 {
		now, window := time.Now(), a.Window
		if a.Now != nil {
			now = a.Now()
		}
		if window <= 0 {
			window = 5 * time.Minute
		}
		if err := webhooks.Verify(r.Header.Get(webhooks.SignatureHeader), a.HMACKey, r.URL.EscapedPath(), body, now, window); err != nil {
			return "", statusError(http.StatusUnauthorized, "unauthorized: %v", err)
		}
		if identity == "anonymous" {
			identity = "hmac"
		}
	}
	return identity, nil
}

// bearer finds the identity of a bearer token, comparing digests in
// constant time so the comparison leaks neither a token nor its length.
func (a *Auth) bearer(header string) (string, error) {
	scheme, token, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", statusError(http.StatusUnauthorized, `unauthorized: missing "Authorization: Bearer <token>" header`)
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	identity := ""
	for t, id := range a.Tokens {
		want := sha256.Sum256([]byte(t))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			identity = id
		}
	}
	if identity == "" {
		return "", statusError(http.StatusUnauthorized, "unauthorized: the bearer token is not one this loadtester accepts")
	}
	return identity, nil
}

type callerKey struct{}

// caller is who made a request: the authenticated identity and the
// address it came from ("ci@10.0.3.7").
func caller(ctx context.Context) string {
	if c, found := ctx.Value(callerKey{}).(string); found {
		return c
	}
	return "anonymous"
}

func withCaller(r *http.Request, identity string) *http.Request {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, identity+"@"+host))
}
