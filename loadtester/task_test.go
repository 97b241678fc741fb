package loadtester

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/warbler-dev/warbler/loadtester/cmdline"
)

func TestDecodeTask(t *testing.T) {
	cases := []struct {
		name     string
		body     string
		wantType string
		wantErr  string
	}{
		{"type defaults to cmd", `{"name":"podinfo","namespace":"prod","metadata":{"cmd":"echo"}}`, "cmd", ""},
		{"empty type is cmd", `{"name":"a","namespace":"b","metadata":{"type":"","cmd":"echo"}}`, "cmd", ""},
		{"explicit type", `{"name":"a","namespace":"b","metadata":{"type":"bash","cmd":"echo"}}`, "bash", ""},
		{"unknown fields are ignored", `{"name":"a","namespace":"b","phase":"Progressing","checksum":"x","extra":1,"metadata":{"cmd":"x"}}`, "cmd", ""},
		{"missing metadata", `{"name":"a","namespace":"b"}`, "", "metadata not found in payload"},
		{"empty metadata", `{"name":"a","namespace":"b","metadata":{}}`, "", "metadata not found in payload"},
		{"malformed JSON", `{"name":`, "", "decoding the request body"},
		{"trailing garbage", `{"metadata":{"cmd":"x"}} x`, "", "decoding the request body"},
		{"metadata values must be strings", `{"metadata":{"rate":200}}`, "", "metadata values are strings"},
		{"empty body", "  ", "", "request body is empty"},
		{"not an object", `[1,2]`, "", "decoding the request body"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task, err := DecodeTask([]byte(c.body))
			if c.wantErr != "" {
				code, msg := statusOf(err)
				if code != http.StatusBadRequest || !strings.Contains(msg, c.wantErr) {
					t.Fatalf("got %d %q, want 400 containing %q", code, msg, c.wantErr)
				}
				return
			}
			if err != nil || task.Type != c.wantType {
				t.Fatalf("task %+v err %v, want type %s", task, err, c.wantType)
			}
		})
	}
}

// FuzzDecodeTask feeds arbitrary bodies through everything that runs before
// a task has a side effect: the decoder, the dispatch, the parsers of the
// cmd (hey), helm and load metadata. Nothing may panic, and every refusal
// is a 4xx.
func FuzzDecodeTask(f *testing.F) {
	for _, s := range []string{
		`{"name":"podinfo","namespace":"prod","metadata":{"cmd":"hey -z 1m -q 10 -c 2 http://podinfo-canary.prod:9898/"}}`,
		`{"name":"p","namespace":"n","metadata":{"type":"load","url":"http://x/","rate":"200","duration":"5s","headers":"A: b\nC: d","maxP99":"1s"}}`,
		`{"name":"p","namespace":"n","metadata":{"type":"helm","cmd":"test podinfo -n prod --timeout 2m --logs"}}`,
		`{"name":"p","namespace":"n","metadata":{"type":"kubectl","cmd":"get pods"}}`,
		`{"metadata":{"type":"nope"}}`, `{"name":`, ``, `{"metadata":{"rate":1}}`,
	} {
		f.Add([]byte(s))
	}
	reg := NewRegistry()
	for _, typ := range []string{"cmd", "bash", "helm", "helmv3", "kubectl", "load"} {
		reg.Register(typ, parseOnly)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		task, err := DecodeTask(body)
		if err == nil {
			_, err = reg.Run(context.Background(), task)
		}
		if err == nil {
			return
		}
		var se *StatusError
		if !errors.As(err, &se) || se.Code < 400 || se.Code > 499 || se.Msg == "" {
			t.Fatalf("refusal %v is not a 4xx with a message", err)
		}
	})
}

// parseOnly runs the parsing half of each built-in task.
func parseOnly(_ context.Context, task Task) (Result, error) {
	switch task.Type {
	case "load":
		_, err := parseLoadTask(task.Metadata, time.Hour)
		return ok, err
	case "helm", "helmv3", "kubectl":
		args, _, err := programArgs(task, "helm", "helmv3", "kubectl")
		if err == nil && args[0] == "test" {
			if _, perr := parseHelmTest(args[1:], task.Namespace); perr != nil {
				return ok, invalid("%v", perr)
			}
		}
		return ok, err
	default:
		line, err := command(task)
		if err != nil {
			return ok, err
		}
		_, err = parseHey(line)
		if _, serr := cmdline.Split(line); err == nil && serr != nil && !errors.Is(serr, cmdline.ErrNeedsShell) {
			return ok, invalid("%v", serr)
		}
		return ok, err
	}
}
