package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the request signature:
//
//	X-Warbler-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<path>.<body>")>
//
// path is the URL path of the endpoint as the receiver serves it (for
// example /gate/approve). The timestamp is signed, so a captured request
// cannot be replayed outside the receiver's window; the path is signed, so
// within the window it cannot be replayed to another endpoint (a captured
// /gate/open sent to /rollback/open).
const SignatureHeader = "X-Warbler-Signature"

// Sign returns the SignatureHeader value for a request to path with body
// at time t.
func Sign(key []byte, t time.Time, path string, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(key, ts, path, body)
}

func mac(key []byte, ts, path string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write([]byte(path))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("request is not signed: missing " + SignatureHeader + " header")
	ErrBadSignature = errors.New("request signature does not match")
	ErrStale        = errors.New("request signature is outside the replay window")
)

// Verify checks a SignatureHeader value against a request to path with
// body, accepting timestamps within window of now.
func Verify(header string, key []byte, path string, body []byte, now time.Time, window time.Duration) error {
	if header == "" {
		return ErrNoSignature
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrBadSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return fmt.Errorf("%w (signed %s ago, window %s)", ErrStale, d.Round(time.Second), window)
	}
	if subtle.ConstantTimeCompare([]byte(mac(key, ts, path, body)), []byte(sig)) != 1 {
		return ErrBadSignature
	}
	return nil
}
