package metrics

import (
	"context"
	"fmt"
	"net/http"
)

// httpJSON is the "http" provider: it GETs the template's address and reads
// the number at the JSON path given as the query.
type httpJSON struct {
	ep *endpoint
}

var _ Provider = (*httpJSON)(nil)

// Query GETs the address and returns the number at the JSON path q (see
// parsePath). A missing key or index, or a null, wraps ErrNoValues; a bad
// path or a value that is not a number wraps ErrInvalidQuery; a non-2xx
// answer, a body that is not JSON and transport errors are plain errors.
func (h *httpJSON) Query(ctx context.Context, q string) (float64, error) {
	body, err := h.fetch(ctx)
	if err != nil {
		return 0, err
	}
	v, err := lookupNumber(body, q)
	if err != nil {
		return 0, fmt.Errorf("http provider %s: %w", h.ep.base, err)
	}
	return v, nil
}

// IsOnline reports whether the address answers GET with a 2xx.
func (h *httpJSON) IsOnline(ctx context.Context) (bool, error) {
	if _, err := h.fetch(ctx); err != nil {
		return false, err
	}
	return true, nil
}

func (h *httpJSON) fetch(ctx context.Context) ([]byte, error) {
	code, body, err := h.ep.get(ctx, h.ep.base.String())
	if err != nil {
		return nil, fmt.Errorf("http provider: %w", err)
	}
	if code/100 != 2 {
		return nil, fmt.Errorf("http provider: GET %s: %d %s: %s", h.ep.base, code, http.StatusText(code), truncate(string(body), 200))
	}
	return body, nil
}

func (h *httpJSON) closeIdle() { h.ep.closeIdle() }
