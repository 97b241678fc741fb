package load

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// target is where requests go and how they look on the wire. The engine
// speaks HTTP/1.1 on keep-alive connections it owns, one per worker, as wrk
// does: the request is serialized once by net/http, plain responses are
// framed in place (readPlain) and the others parsed by net/http's
// ReadResponse, but no Transport sits in between. That halves
// the CPU a request costs the generator (on a 2-core machine it doubles the
// rate), which matters because a loadtester shares its node, often with a
// small CPU limit, and because time the generator spends is time it is not
// measuring. The price: no HTTP proxy and no HTTP/2.
type target struct {
	addr   string      // host:port to dial
	tls    *tls.Config // nil for http
	dialer net.Dialer
	raw    []byte        // the serialized request
	req    *http.Request // for ReadResponse (HEAD has no body)
}

func newTarget(cfg *Config, host string) (*target, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(cfg.Method, cfg.URL, bytes.NewReader(cfg.Body))
	if err != nil {
		return nil, err
	}
	req.Header = cfg.Header.Clone()
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "warbler-loadtester")
	}
	if host != "" {
		req.Host = host
	}
	var raw bytes.Buffer
	if err := req.Write(&raw); err != nil {
		return nil, err
	}
	t := &target{addr: u.Host, raw: raw.Bytes(), req: req,
		dialer: net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}}
	port := u.Port()
	if u.Scheme == "https" {
		//nolint:gosec // InsecureSkipVerify is an opt-in of the load task, off by default
		t.tls = &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: cfg.InsecureSkipVerify, NextProtos: []string{"http/1.1"}}
		if port == "" {
			port = "443"
		}
	} else if port == "" {
		port = "80"
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	return t, nil
}

// conn is one worker's connection; the zero value dials on first use.
type conn struct {
	t      *target
	nc     net.Conn
	br     *bufio.Reader
	reused bool        // it has served a request, so the server may close it idle
	stop   func() bool // unregisters the cancellation of nc
}

// errAborted is returned when ctx ends during a request.
var errAborted = errors.New("request aborted")

// do sends the request and reads the whole response before deadline; the
// response's status code is returned. A keep-alive connection the server
// closed while idle is redialled once, as net/http does.
func (c *conn) do(ctx context.Context, deadline time.Time) (int, error) {
	code, err := c.roundTrip(ctx, deadline)
	if err != nil && c.reused && isStaleConn(err) && ctx.Err() == nil && time.Now().Before(deadline) {
		c.close()
		code, err = c.roundTrip(ctx, deadline)
	}
	if err != nil {
		c.close()
		if ctx.Err() != nil {
			return 0, errAborted
		}
	}
	return code, err
}

func (c *conn) roundTrip(ctx context.Context, deadline time.Time) (int, error) {
	if c.nc == nil {
		if err := c.dial(ctx, deadline); err != nil {
			return 0, err
		}
	}
	nc := c.nc
	if err := nc.SetDeadline(deadline); err != nil {
		return 0, err
	}
	// the deadline just set would undo the one ctx's end put in the past
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if _, err := nc.Write(c.t.raw); err != nil {
		return 0, err
	}
	code, closeConn, err := c.readResponse()
	if err != nil {
		return 0, err
	}
	c.reused = true
	if closeConn {
		c.close()
	}
	return code, nil
}

// readResponse reads the final response, skipping informational ones (100
// Continue, 103 Early Hints) as net/http's Transport does, and tells
// whether the connection must be closed after it.
func (c *conn) readResponse() (int, bool, error) {
	for {
		if code, closeConn, ok, err := c.readPlain(); ok || err != nil {
			return code, closeConn, err
		}
		resp, err := http.ReadResponse(c.br, c.t.req)
		if err != nil {
			return 0, false, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, false, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			// after 101 the connection speaks another protocol
			return resp.StatusCode, resp.Close || resp.StatusCode == http.StatusSwitchingProtocols, nil
		}
	}
}

// readPlain reads the common response without net/http's allocations: a
// head already whole in the buffer, HTTP/1.1, status 200–599, a
// Content-Length and no Transfer-Encoding. Anything else leaves the buffer
// untouched (ok false) for http.ReadResponse. Header parsing was a fifth of
// the engine's CPU; the bytes it skips are the ones net/http would discard.
func (c *conn) readPlain() (code int, closeConn, ok bool, err error) {
	if _, err := c.br.Peek(1); err != nil {
		return 0, false, false, err
	}
	buf, _ := c.br.Peek(c.br.Buffered())
	end := bytes.Index(buf, crlf2)
	if end < 0 {
		return 0, false, false, nil
	}
	head := buf[:end]
	line, rest, _ := bytes.Cut(head, crlf)
	// "HTTP/1.1 200 OK", status 2xx–5xx: HTTP/1.0 has other keep-alive
	// rules, and a 1xx is followed by the real answer
	if len(line) < 12 || !bytes.HasPrefix(line, http11) || line[9] < '2' || line[9] > '5' ||
		(len(line) > 12 && line[12] != ' ') {
		return 0, false, false, nil
	}
	for _, b := range line[9:12] {
		if b < '0' || b > '9' {
			return 0, false, false, nil
		}
		code = code*10 + int(b-'0')
	}
	length := int64(-1)
	for len(rest) > 0 {
		var h []byte
		h, rest, _ = bytes.Cut(rest, crlf)
		name, value, found := bytes.Cut(h, colon)
		if !found || len(name) == 0 || name[0] == ' ' || name[0] == '\t' {
			return 0, false, false, nil // malformed, or a folded line
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, headerContentLength):
			n, perr := strconv.ParseInt(string(value), 10, 64)
			if perr != nil || n < 0 || (length >= 0 && n != length) {
				return 0, false, false, nil
			}
			length = n
		case bytes.EqualFold(name, headerTransferEncoding):
			return 0, false, false, nil
		case bytes.EqualFold(name, headerConnection):
			closeConn = closeConn || bytes.Contains(bytes.ToLower(value), tokenClose)
		}
	}
	noBody := c.t.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if length < 0 && !noBody {
		return 0, false, false, nil // a body up to the close
	}
	if _, err := c.br.Discard(end + len(crlf2)); err != nil {
		return 0, false, true, err
	}
	if !noBody {
		if _, err := c.br.Discard(int(length)); err != nil {
			return 0, false, true, err
		}
	}
	return code, closeConn, true, nil
}

var (
	crlf                   = []byte("\r\n")
	crlf2                  = []byte("\r\n\r\n")
	colon                  = []byte(":")
	http11                 = []byte("HTTP/1.1 ")
	tokenClose             = []byte("close")
	headerContentLength    = []byte("Content-Length")
	headerTransferEncoding = []byte("Transfer-Encoding")
	headerConnection       = []byte("Connection")
)

func (c *conn) dial(ctx context.Context, deadline time.Time) error {
	dialCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := c.t.dialer.DialContext(dialCtx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.t.tls != nil {
		tc := tls.Client(nc, c.t.tls)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
	// ctx ending (the run is cancelled) interrupts a request at once
	c.stop = context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	c.nc, c.reused = nc, false
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 16<<10)
	} else {
		c.br.Reset(nc)
	}
	return nil
}

func (c *conn) close() {
	if c.nc != nil {
		c.stop()
		_ = c.nc.Close()
		c.nc = nil
	}
}

// isStaleConn: the server closed a kept-alive connection before answering.
func isStaleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "read" || op.Op == "write") && !op.Timeout()
}
