package metrics

import (
	"errors"
	"strings"
	"testing"
)

// class names the error class a caller of a Provider sees.
func class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNoValues) && errors.Is(err, ErrInvalidQuery):
		return "both (bug)"
	case errors.Is(err, ErrNoValues):
		return "no values"
	case errors.Is(err, ErrInvalidQuery):
		return "invalid query"
	default:
		return "provider error"
	}
}

// checkErr fails the test unless err is of class want and its text holds
// every one of msgs (which a nil error does not need to).
func checkErr(t *testing.T, err error, want string, msgs ...string) {
	t.Helper()
	if c := class(err); c != want {
		t.Fatalf("error class %s (%v), want %s", c, err, want)
	}
	if err == nil {
		return
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not say %q", err, m)
		}
	}
}
