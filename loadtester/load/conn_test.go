package load

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The engine owns its connections, so it must cope with what servers do
// to them: close idle ones, ask to close, stream chunked bodies.
func TestConnectionsSurviveWhatServersDo(t *testing.T) {
	cases := []struct {
		name    string
		method  string
		rate    float64
		handler http.HandlerFunc
		setup   func(*httptest.Server)
	}{
		{"server closes idle keep-alive connections", "GET", 10,
			func(w http.ResponseWriter, r *http.Request) {}, func(s *httptest.Server) { s.Config.IdleTimeout = 20 * time.Millisecond }},
		{"server answers Connection: close", "GET", 50,
			func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Connection", "close") }, nil},
		{"chunked 100 KiB bodies", "GET", 50, func(w http.ResponseWriter, r *http.Request) {
			for range 100 {
				_, _ = w.Write([]byte(strings.Repeat("x", 1024)))
				w.(http.Flusher).Flush()
			}
		}, nil},
		{"HEAD has no body to read", "HEAD", 50,
			func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Content-Length", "5000") }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				c.handler(w, r)
			}))
			if c.setup != nil {
				c.setup(srv)
			}
			srv.Start()
			defer srv.Close()
			rep, err := Run(context.Background(), Config{URL: srv.URL, Method: c.method, Rate: c.rate, Duration: 500 * time.Millisecond,
				Connections: 1, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			want := int64(c.rate / 2)
			if rep.Requests != want || rep.StatusCodes[200] != want || rep.Errors != 0 || hits.Load() != want {
				t.Fatalf("sent %d, codes %v, errors %v %v, server saw %d; want %d clean requests",
					rep.Requests, rep.StatusCodes, rep.Errors, rep.TransportErrors, hits.Load(), want)
			}
		})
	}
}

func TestCancelAbortsAHungRequest(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *Report, 1)
	go func() {
		rep, _ := Run(ctx, Config{URL: srv.URL, Rate: 10, Duration: time.Second, Connections: 1, Timeout: time.Hour})
		done <- rep
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case rep := <-done:
		if rep.Requests+rep.Dropped != rep.Scheduled {
			t.Errorf("sent %d + dropped %d != scheduled %d", rep.Requests, rep.Dropped, rep.Scheduled)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a cancelled run waited for a request with a one-hour timeout")
	}
}

func TestRequestOnTheWire(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Clone(context.Background()):
		default:
		}
	}))
	defer srv.Close()
	_, err := Run(context.Background(), Config{URL: srv.URL + "/path?q=1", Method: "PUT", Body: []byte("hello"),
		Header: http.Header{"X-A": {"1"}}, Rate: 10, Duration: 100 * time.Millisecond, Connections: 1, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Method != "PUT" || r.URL.RequestURI() != "/path?q=1" || r.Header.Get("X-A") != "1" ||
		r.Header.Get("User-Agent") != "warbler-loadtester" || r.ContentLength != 5 || r.Proto != "HTTP/1.1" {
		t.Errorf("request %s %s %v %s len %s", r.Method, r.URL, r.Header, r.Proto, strconv.FormatInt(r.ContentLength, 10))
	}
}

// rawServer answers every request on a connection with resp, written in
// pieces of at most split bytes (0: at once) with a pause between them, and
// closes the connection after the answer when closeAfter is set.
func rawServer(t *testing.T, resp string, split int, closeAfter bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					for rest := resp; rest != ""; {
						n := len(rest)
						if split > 0 && split < n {
							n = split
						}
						if _, err := nc.Write([]byte(rest[:n])); err != nil {
							return
						}
						rest = rest[n:]
						if rest != "" {
							time.Sleep(5 * time.Millisecond)
						}
					}
					if closeAfter {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// Responses off the fast path (HTTP/1.0, 1xx, no length, chunked, a head
// that arrives in pieces, conflicting lengths) are read by net/http; on or
// off it, the connection stays in step for the next request.
func TestResponsesAreFramedRight(t *testing.T) {
	cases := []struct {
		name       string
		resp       string
		split      int
		closeAfter bool
		want       int
	}{
		{"plain", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, false, 200},
		{"no reason phrase", "HTTP/1.1 503\r\ncontent-length: 0\r\n\r\n", 0, false, 503},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 0, true, 200},
		{"head in pieces", "HTTP/1.1 404 Not Found\r\nX-Long: " + strings.Repeat("a", 100) + "\r\nContent-Length: 3\r\n\r\nnot", 7, false, 404},
		{"body in pieces", "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + strings.Repeat("b", 40), 45, false, 200},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0, false, 200},
		{"continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 0, false, 201},
		{"HTTP/1.0 without length", "HTTP/1.0 200 OK\r\n\r\nuntil close", 0, true, 200},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n", 0, false, 204},
		{"conflicting lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", 0, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := rawServer(t, c.resp, c.split, c.closeAfter)
			rep, err := Run(context.Background(), Config{URL: url, Rate: 20, Duration: 250 * time.Millisecond, Connections: 1, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if c.want == 0 {
				if rep.Errors != rep.Requests || rep.Requests != 5 {
					t.Fatalf("codes %v, errors %d of %d; want every request an error", rep.StatusCodes, rep.Errors, rep.Requests)
				}
				return
			}
			if rep.StatusCodes[c.want] != 5 || len(rep.TransportErrors) != 0 {
				t.Fatalf("codes %v, transport errors %v; want 5 × %d", rep.StatusCodes, rep.TransportErrors, c.want)
			}
		})
	}
}
