package loadtester

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/warbler-dev/warbler/loadtester/gates"
)

// StatusError is an error with the HTTP status the loadtester answers it
// with. Tasks return one for anything the caller can fix (400), may not do
// (403), or should retry (429, 503); any other error is a 500.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

func statusError(code int, format string, a ...any) error {
	return &StatusError{Code: code, Msg: fmt.Sprintf(format, a...)}
}

// invalid is a request the caller must change: 400.
func invalid(format string, a ...any) error { return statusError(http.StatusBadRequest, format, a...) }

// failed is a task that ran and failed: 500, the body saying why.
func failed(format string, a ...any) error {
	return statusError(http.StatusInternalServerError, format, a...)
}

// errForbidden is Flagger's answer to a namespace -namespace-regexp rejects.
var errForbidden = &StatusError{Code: http.StatusForbidden, Msg: "Forbidden"}

// statusOf maps an error to the status code and body the caller sees. It is
// the only place where errors become HTTP.
func statusOf(err error) (int, string) {
	var se *StatusError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &se):
		return se.Code, se.Msg
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body is larger than %d bytes (-max-body-bytes)", tooBig.Limit)
	case errors.Is(err, gates.ErrNotSynced):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, err.Error()
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "the loadtester is shutting down: " + err.Error()
	}
	return http.StatusInternalServerError, err.Error()
}

// writeError answers with err's status and message, as plain text like
// every Flagger answer.
func writeError(w http.ResponseWriter, err error) {
	code, msg := statusOf(err)
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="loadtester"`)
	}
	writeText(w, code, msg)
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}
