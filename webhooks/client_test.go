package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func testClient() *Client {
	c := NewClient("warbler-test")
	c.sleep = func(context.Context, time.Duration) error { return nil }
	return c
}

func TestStatusCodesFollowFlagger(t *testing.T) {
	for code, ok := range map[int]bool{200: true, 201: true, 202: true, 203: false, 204: false, 302: false, 400: false, 403: false, 500: false} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if code == 302 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(code)
		}))
		_, err := testClient().Call(context.Background(), Request{URL: srv.URL, Payload: Payload{Name: "podinfo", Namespace: "prod"}})
		srv.Close()
		if (err == nil) != ok {
			t.Errorf("status %d: err = %v, want success=%v", code, err, ok)
		}
	}
}

func TestPayloadOnTheWire(t *testing.T) {
	var got map[string]any
	var ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	p := Payload{Name: "podinfo", Namespace: "prod", Phase: "Progressing", Checksum: "abc123", Metadata: map[string]string{"type": "bash"}}
	if _, err := testClient().Call(context.Background(), Request{URL: srv.URL, Payload: p}); err != nil {
		t.Fatal(err)
	}
	if ctype != "application/json" {
		t.Errorf("Content-Type = %q", ctype)
	}
	want := map[string]any{"name": "podinfo", "namespace": "prod", "phase": "Progressing", "checksum": "abc123", "metadata": map[string]any{"type": "bash"}}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("payload = %s, want %s", gj, wj)
	}
	// metadata is omitted when empty, checksum is always present
	b, _ := json.Marshal(Payload{Name: "a", Namespace: "b"})
	if string(b) != `{"name":"a","namespace":"b","phase":"","checksum":""}` {
		t.Errorf("empty payload = %s", b)
	}
}

func TestServerErrorsAreRetriedAndKeepTheBody(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		http.Error(w, "command curl failed: exit status 22", http.StatusInternalServerError)
	}))
	defer srv.Close()
	_, err := testClient().Call(context.Background(), Request{URL: srv.URL, Retries: 2})
	var he *Error
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if calls.Load() != 3 || he.Attempts != 3 {
		t.Errorf("calls = %d, attempts = %d, want 3", calls.Load(), he.Attempts)
	}
	if !strings.Contains(err.Error(), "giving up after 3 attempt(s): 500 Internal Server Error: command curl failed: exit status 22") {
		t.Errorf("error = %q, want the body of the 500 kept", err)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	for _, code := range []int{400, 403, 501} {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			calls.Add(1)
			http.Error(w, "Forbidden", code)
		}))
		_, err := testClient().Call(context.Background(), Request{URL: srv.URL, Retries: 3})
		srv.Close()
		if err == nil || calls.Load() != 1 {
			t.Errorf("status %d: calls = %d, err = %v; want one failed attempt", code, calls.Load(), err)
		}
	}
}

func TestConnectionRefusedIsAnError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	_, err := testClient().Call(context.Background(), Request{URL: url})
	if err == nil || !strings.Contains(err.Error(), "giving up after 1 attempt(s)") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	start := time.Now()
	_, err := testClient().Call(context.Background(), Request{URL: srv.URL, Timeout: 200 * time.Millisecond})
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("call took %v with a 200ms timeout", el)
	}
}

func TestSignedRequestVerifies(t *testing.T) {
	key := []byte("s3cret")
	var verr error
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth = r.Header.Get("Authorization")
		verr = Verify(r.Header.Get(SignatureHeader), key, r.URL.EscapedPath(), body, time.Now(), time.Minute)
	}))
	defer srv.Close()
	if _, err := testClient().Call(context.Background(), Request{URL: srv.URL + "/gate/check", HMACKey: key, Token: "tkn", Payload: Payload{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	if verr != nil {
		t.Errorf("signature rejected: %v", verr)
	}
	if auth != "Bearer tkn" {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestVerifyRejects(t *testing.T) {
	key, body := []byte("k"), []byte(`{"name":"a"}`)
	now := time.Unix(1_800_000_000, 0)
	good := Sign(key, now, "/gate/open", body)
	cases := []struct {
		name   string
		header string
		path   string
		body   []byte
		key    []byte
		want   error
	}{
		{"missing", "", "/gate/open", body, key, ErrNoSignature},
		{"garbage", "nonsense", "/gate/open", body, key, ErrBadSignature},
		{"other body", good, "/gate/open", []byte(`{"name":"b"}`), key, ErrBadSignature},
		{"other path", good, "/rollback/open", body, key, ErrBadSignature},
		{"other key", good, "/gate/open", body, []byte("x"), ErrBadSignature},
		{"stale", Sign(key, now.Add(-10*time.Minute), "/gate/open", body), "/gate/open", body, key, ErrStale},
		{"future", Sign(key, now.Add(10*time.Minute), "/gate/open", body), "/gate/open", body, key, ErrStale},
	}
	for _, c := range cases {
		if err := Verify(c.header, c.key, c.path, c.body, now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if err := Verify(good, key, "/gate/open", body, now, 5*time.Minute); err != nil {
		t.Errorf("valid signature rejected: %v", err)
	}
}
