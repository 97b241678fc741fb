package metrics

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/golden"
)

// signalFlowAPI implements Splunk Observability's SignalFlow WebSocket
// API (wss://stream.<realm>.signalfx.com/v2/signalflow/connect) and the REST
// API's GET /v2/metric, as documented: an "authenticate" message with the
// access token, an "execute" message with the program, start and stop in
// milliseconds and immediate; JSON control, metadata and error messages,
// and binary data messages (a 20-byte header with the channel, a 12-byte
// timestamp and count, then 17 bytes per value: type, TSID, value).
type signalFlowAPI struct {
	// script is what the computation of the next execute sends.
	mu     sync.Mutex
	script []sfMessage
	log    strings.Builder
}

// sfMessage is one message of a computation: JSON, or data values.
type sfMessage struct {
	json   string
	values []sfValue
}

type sfValue struct {
	tsid int64
	v    float64
}

var upgrader = websocket.Upgrader{}

func (s *signalFlowAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/metric" {
		s.mu.Lock()
		fmt.Fprintf(&s.log, "> GET %s\n> X-Sf-Token: %s\n", r.URL.RequestURI(), r.Header.Get("X-SF-Token"))
		s.mu.Unlock()
		if r.Header.Get("X-SF-Token") != "sf-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"count":1,"results":[{"name":"traces.count"}]}`))
		return
	}
	if r.URL.Path != "/v2/signalflow/connect" {
		http.NotFound(w, r)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		var req map[string]any
		if json.Unmarshal(msg, &req) != nil {
			return
		}
		s.mu.Lock()
		fmt.Fprintf(&s.log, "> %s\n", sortedJSON(req))
		script := s.script
		s.mu.Unlock()
		switch req["type"] {
		case "authenticate":
			if req["token"] != "sf-token" {
				s.send(conn, websocket.TextMessage, []byte(`{"type":"error","error":401,"message":"Unauthorized"}`))
				return
			}
			s.send(conn, websocket.TextMessage, []byte(`{"type":"authenticated","orgId":"org1","userId":"user1"}`))
		case "execute":
			ch, _ := req["channel"].(string)
			for _, m := range script {
				if m.values != nil {
					s.send(conn, websocket.BinaryMessage, dataMessage(ch, m.values))
					continue
				}
				s.send(conn, websocket.TextMessage, []byte(strings.ReplaceAll(m.json, "$CH", ch)))
			}
		}
	}
}

func (s *signalFlowAPI) send(conn *websocket.Conn, typ int, msg []byte) {
	s.mu.Lock()
	if typ == websocket.BinaryMessage {
		fmt.Fprintf(&s.log, "< (binary %d bytes) %x\n", len(msg), msg)
	} else {
		fmt.Fprintf(&s.log, "< %s\n", msg)
	}
	s.mu.Unlock()
	_ = conn.WriteMessage(typ, msg)
}

// dataMessage encodes a binary data message of doubles.
func dataMessage(channel string, values []sfValue) []byte {
	var b bytes.Buffer
	var ch [16]byte
	copy(ch[:], channel)
	_ = binary.Write(&b, binary.BigEndian, struct {
		Version, Type, Flags, Reserved uint8
		Channel                        [16]byte
	}{1, 5, 0, 0, ch})
	_ = binary.Write(&b, binary.BigEndian, struct {
		Timestamp uint64
		Count     uint32
	}{uint64(contractNow.UnixMilli()), uint32(len(values))})
	for _, v := range values {
		_ = binary.Write(&b, binary.BigEndian, struct {
			Type uint8
			TSID int64
			Val  uint64
		}{2, v.tsid, math.Float64bits(v.v)})
	}
	return b.Bytes()
}

func sortedJSON(v map[string]any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestSplunkContract(t *testing.T) {
	api := &signalFlowAPI{}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	const q = `total = data('traces.count', filter=filter('sf_service', '{{ target }}')).sum().publish(enable=False)
success = data('traces.count', filter=filter('sf_service', '{{ target }}') and filter('sf_error', 'false')).sum().publish(enable=False)
((success/total) * 100).publish()`
	start := []sfMessage{
		{json: `{"type":"control-message","channel":"$CH","event":"STREAM_START","timestampMs":1773500966000}`},
		{json: `{"type":"control-message","channel":"$CH","event":"JOB_START","handle":"H1","timestampMs":1773500966000}`},
		{json: `{"type":"metadata","channel":"$CH","tsId":"AAAAAAAAAAE","properties":{"sf_metric":"_SF_COMP_H1_1","sf_service":"podinfo"}}`},
	}
	end := sfMessage{json: `{"type":"control-message","channel":"$CH","event":"END_OF_CHANNEL","timestampMs":1773500966000}`}
	with := func(ms ...sfMessage) []sfMessage { return append(append(append([]sfMessage{}, start...), ms...), end) }
	cases := []struct {
		name    string
		script  []sfMessage
		want    float64
		class   string
		message []string
		online  bool
	}{
		{name: "the last value published", script: with(sfMessage{values: []sfValue{{1, 97}}}, sfMessage{values: []sfValue{{1, 99.5}}}), want: 99.5},
		{name: "no data is no values", script: with(), class: "no values", message: []string{"published no values"}},
		{name: "NaN is no values", script: with(sfMessage{values: []sfValue{{1, math.NaN()}}}), class: "no values"},
		{name: "two time series are refused", script: with(sfMessage{values: []sfValue{{1, 1}, {2, 2}}}), class: "invalid query", message: []string{"2 series"}},
		{name: "a program SignalFlow rejects", class: "invalid query", message: []string{"SignalFlow rejected the program", "ANALYTICS_PROGRAM_NAME_ERROR"},
			script: []sfMessage{{json: `{"type":"error","channel":"$CH","error":400,"errorType":"ANALYTICS_PROGRAM_NAME_ERROR","message":"Unknown function 'dta'"}`}}},
		{name: "online", online: true},
	}
	secret := map[string][]byte{"sf_token_key": []byte("sf-token")}
	p, err := NewWithDeps(flaggerv1.MetricTemplateProvider{Type: "splunk", Address: srv.URL, SecretRef: &flaggerv1.LocalSecretReference{Name: "splunk"}},
		secret, Deps{Now: func() time.Time { return contractNow }})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api.mu.Lock()
			api.script, api.log = tc.script, strings.Builder{}
			api.mu.Unlock()
			var v float64
			var err error
			if tc.online {
				_, err = p.IsOnline(t.Context())
			} else {
				_, v, err = Evaluate(t.Context(), p, "splunk-contract", q, Model{Name: "podinfo", Namespace: "prod", Target: "podinfo", Interval: "1m"})
			}
			want := tc.class
			if want == "" {
				want = "ok"
			}
			checkErr(t, err, want, tc.message...)
			if err == nil && v != tc.want {
				t.Errorf("value %v, want %v", v, tc.want)
			}
			api.mu.Lock()
			// the client names channels itself; the rest is fixed
			fmt.Fprintf(&out, "## %s\n%s", tc.name, api.log.String())
			api.mu.Unlock()
			if err != nil {
				fmt.Fprintf(&out, "= %s: %s\n\n", class(err), err)
			} else if tc.online {
				fmt.Fprintf(&out, "= online\n\n")
			} else {
				fmt.Fprintf(&out, "= %v\n\n", v)
			}
		})
	}
	golden.Check(t, "contract/splunk.golden", strings.ReplaceAll(strings.ReplaceAll(out.String(), srv.URL, "http://vendor"), strings.Replace(srv.URL, "http", "ws", 1), "ws://vendor"))
}
