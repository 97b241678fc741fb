package metrics

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A JSON path names one value in a document: keys separated by dots and
// array indexes in brackets, with an optional leading dot, as in
// .data.errorRate, data.items[0].value or [2].latency. A key holding dots
// or brackets is written quoted in brackets: .labels["app.kubernetes.io/name"].
// The empty path and "." name the whole document.

// pathStep is one key (index < 0) or one array index.
type pathStep struct {
	key   string
	index int
}

func (s pathStep) String() string {
	if s.index >= 0 {
		return "[" + strconv.Itoa(s.index) + "]"
	}
	return "." + s.key
}

// parsePath splits a JSON path into steps.
func parsePath(path string) ([]pathStep, error) {
	var steps []pathStep
	rest := strings.TrimPrefix(path, ".")
	for rest != "" {
		var step pathStep
		var err error
		if rest[0] == '[' {
			step, rest, err = parseBracket(rest)
			if err != nil {
				return nil, fmt.Errorf("JSON path %q: %w", path, err)
			}
		} else {
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("JSON path %q has an empty key", path)
			}
			step, rest = pathStep{key: rest[:end], index: -1}, rest[end:]
		}
		steps = append(steps, step)
		if strings.HasPrefix(rest, ".") {
			rest = rest[1:]
			if rest == "" {
				return nil, fmt.Errorf("JSON path %q ends with a dot", path)
			}
		}
	}
	return steps, nil
}

// parseBracket reads [n] or ["key"] at the start of s.
func parseBracket(s string) (pathStep, string, error) {
	if strings.HasPrefix(s, `["`) {
		end := strings.Index(s[2:], `"]`)
		if end < 0 {
			return pathStep{}, "", fmt.Errorf(`unterminated ["key"]`)
		}
		return pathStep{key: s[2 : 2+end], index: -1}, s[2+end+2:], nil
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return pathStep{}, "", fmt.Errorf("unterminated [index]")
	}
	i, err := strconv.Atoi(s[1:end])
	if err != nil || i < 0 {
		return pathStep{}, "", fmt.Errorf("%q is not an array index (want a number >= 0, or a quoted key)", s[:end+1])
	}
	return pathStep{index: i}, s[end+1:], nil
}

// lookupNumber decodes doc and returns the number at path. A key or index
// that is absent, or a null, wraps ErrNoValues; a path that walks into the
// wrong type, or ends at something that is not a number, wraps
// ErrInvalidQuery. A string holding a number is accepted, since many APIs
// (Prometheus among them) encode numbers as strings.
func lookupNumber(doc []byte, path string) (float64, error) {
	steps, err := parsePath(path)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalidQuery, err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return 0, fmt.Errorf("response is not JSON: %w", err)
	}
	walked := ""
	for _, s := range steps {
		if v, err = step(v, s, walked); err != nil {
			return 0, err
		}
		walked += s.String()
	}
	return number(v, path)
}

func step(v any, s pathStep, walked string) (any, error) {
	at := walked
	if at == "" {
		at = "the document root"
	}
	switch c := v.(type) {
	case map[string]any:
		if s.index >= 0 {
			return nil, fmt.Errorf("%w: JSON path %s%s indexes an object", ErrInvalidQuery, walked, s)
		}
		next, ok := c[s.key]
		if !ok {
			return nil, fmt.Errorf("%w: key %q not found at %s", ErrNoValues, s.key, at)
		}
		return next, nil
	case []any:
		if s.index < 0 {
			return nil, fmt.Errorf("%w: JSON path %s%s reads a key of an array", ErrInvalidQuery, walked, s)
		}
		if s.index >= len(c) {
			return nil, fmt.Errorf("%w: index %d not found at %s (%d elements)", ErrNoValues, s.index, at, len(c))
		}
		return c[s.index], nil
	case nil:
		return nil, fmt.Errorf("%w: %s is null", ErrNoValues, at)
	default:
		return nil, fmt.Errorf("%w: JSON path %s%s goes into %s", ErrInvalidQuery, walked, s, jsonKind(v))
	}
}

func number(v any, path string) (float64, error) {
	switch n := v.(type) {
	case json.Number:
		return n.Float64()
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return 0, fmt.Errorf("%w: the value at %q is the string %q, not a number", ErrInvalidQuery, path, truncate(n, 40))
		}
		if math.IsNaN(f) {
			return 0, fmt.Errorf("%w: the value at %q is NaN", ErrNoValues, path)
		}
		return f, nil
	case nil:
		return 0, fmt.Errorf("%w: the value at %q is null", ErrNoValues, path)
	default:
		return 0, fmt.Errorf("%w: the value at %q is %s, not a number", ErrInvalidQuery, path, jsonKind(v))
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	}
	return "null"
}
