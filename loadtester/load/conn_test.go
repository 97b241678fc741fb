package load

import (
	"context"
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
