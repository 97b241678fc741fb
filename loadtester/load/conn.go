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
	"time"
)

// target is where requests go and how they look on the wire. The engine
// speaks HTTP/1.1 on keep-alive connections it owns, one per worker, as wrk
// does: the request is serialized once by net/http and responses are parsed
// by net/http's ReadResponse, but no Transport sits in between. That halves
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
	reused bool // it has served a request, so the server may close it idle
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
	// ctx ending (the run is cancelled) interrupts the request at once
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := nc.SetDeadline(deadline); err != nil {
		return 0, err
	}
	if _, err := nc.Write(c.t.raw); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, c.t.req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	c.reused = true
	if resp.Close {
		c.close()
	}
	return resp.StatusCode, nil
}

func (c *conn) dial(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := c.t.dialer.DialContext(ctx, "tcp", c.t.addr)
	if err != nil {
		return err
	}
	if c.t.tls != nil {
		tc := tls.Client(nc, c.t.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return err
		}
		nc = tc
	}
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
