package loadtester

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/warbler-dev/warbler/webhooks"
)

// Task is one call of the task endpoint: the webhook payload and the task
// type taken from its metadata.
type Task struct {
	webhooks.Payload
	// Type is metadata.type; "cmd" when absent, as in Flagger.
	Type string
}

// Canary is "<name>.<namespace>", the key of logs, de-duplication and
// results.
func (t Task) Canary() string { return t.Key() }

// Result is a task's answer: 200 with an optional body for the synchronous
// types, 202 for the asynchronous ones.
type Result struct {
	Status int
	Body   string
}

var (
	ok       = Result{Status: http.StatusOK}
	accepted = Result{Status: http.StatusAccepted}
)

// TaskFunc runs one kind of task. It returns a *StatusError, or any error
// for a 500, when the task cannot run or fails.
type TaskFunc func(ctx context.Context, t Task) (Result, error)

// Registry maps task types to their functions.
type Registry struct {
	funcs map[string]TaskFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{funcs: map[string]TaskFunc{}} }

// Register adds or replaces the function of a task type.
func (r *Registry) Register(typ string, f TaskFunc) { r.funcs[typ] = f }

// Has reports whether typ is registered.
func (r *Registry) Has(typ string) bool {
	_, found := r.funcs[typ]
	return found
}

// Types lists the registered types, sorted.
func (r *Registry) Types() []string { return slices.Sorted(maps.Keys(r.funcs)) }

// Run dispatches t to the function of its type. An unknown type is a 400
// that lists the valid ones (Flagger panics and drops the connection).
func (r *Registry) Run(ctx context.Context, t Task) (Result, error) {
	f, found := r.funcs[t.Type]
	if !found {
		return Result{}, invalid("unknown task type %q in metadata.type: valid types are %s",
			t.Type, strings.Join(r.Types(), ", "))
	}
	return f(ctx, t)
}

// DecodePayload reads a webhook payload. Errors are 400s that say what a
// valid payload looks like.
func DecodePayload(body []byte) (webhooks.Payload, error) {
	var p webhooks.Payload
	if len(bytes.TrimSpace(body)) == 0 {
		return p, invalid(`request body is empty: want a JSON webhook payload {"name": ..., "namespace": ..., "metadata": {...}}`)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, invalid(`decoding the request body: %v: want a JSON webhook payload {"name": ..., "namespace": ..., "metadata": {...}} whose metadata values are strings`, err)
	}
	return p, nil
}

// TaskFromPayload checks the metadata and finds the task type.
func TaskFromPayload(p webhooks.Payload) (Task, error) {
	if len(p.Metadata) == 0 {
		return Task{}, invalid("metadata not found in payload")
	}
	typ := p.Metadata["type"]
	if typ == "" {
		typ = "cmd"
	}
	return Task{Payload: p, Type: typ}, nil
}

// DecodeTask is DecodePayload followed by TaskFromPayload.
func DecodeTask(body []byte) (Task, error) {
	p, err := DecodePayload(body)
	if err != nil {
		return Task{}, err
	}
	return TaskFromPayload(p)
}

// flag reads a boolean metadata entry such as returnCmdOutput: "true",
// with strconv.ParseBool as Flagger does; anything else is false.
func (t Task) flag(name string) bool {
	v, _ := strconv.ParseBool(strings.TrimSpace(t.Metadata[name]))
	return v
}
