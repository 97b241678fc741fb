package webhooks

import (
	"strconv"
	"time"
)

// Payload is the JSON body POSTed to every webhook.
type Payload struct {
	// Name and Namespace of the Canary.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Phase sent for the hook type: Progressing for pre-rollout, rollout and
	// the confirm-traffic-increase and confirm-promotion gates; the current
	// phase for confirm-rollout and rollback; Succeeded or Failed for
	// post-rollout.
	Phase string `json:"phase"`
	// Checksum identifies the revision under analysis (target and tracked
	// configs); it is always present.
	Checksum string `json:"checksum"`
	// Metadata is the webhook's metadata; omitted when empty.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Keys of the metadata Warbler adds to event webhooks. User metadata with
// the same keys is overridden.
const (
	EventMessageKey = "eventMessage"
	EventTypeKey    = "eventType"
	TimestampKey    = "timestamp"
)

// Key names the Canary of a payload as "<name>.<namespace>", the key of the
// loadtester's gates and logs.
func (p Payload) Key() string { return p.Name + "." + p.Namespace }

// LoadResult summarises a loadtester "load" task. The loadtester serves the
// latest one of a canary at GET /results/{namespace}/{name}; the loadtest
// metric provider reads it.
type LoadResult struct {
	// Canary is "<name>.<namespace>".
	Canary string `json:"canary"`
	// Generator names what produced the result: "load" for the typed load
	// task (open model, latency from the intended send time) or "hey" for a
	// hey command run in-process (closed loop, latency from the actual send,
	// no p99.9).
	Generator string `json:"generator,omitempty"`
	// URL and Method of the load.
	URL    string `json:"url"`
	Method string `json:"method"`
	// Started and Finished bound the run.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// TargetRate is the requested rate, AchievedRate the rate of requests
	// actually sent, both per second.
	TargetRate   float64 `json:"targetRate"`
	AchievedRate float64 `json:"achievedRate"`
	// Requests sent, of which Errors failed (transport errors and 5xx) and
	// Dropped were never sent because the generator could not keep up.
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	Dropped  int64 `json:"dropped"`
	// ErrorRate is Errors/Requests in percent.
	ErrorRate float64 `json:"errorRate"`
	// StatusCodes counts responses by status code; transport errors are
	// counted under "error".
	StatusCodes map[string]int64 `json:"statusCodes"`
	// TransportErrors counts the requests that got no response, by error
	// message (at most ten kinds, the rest under "other").
	TransportErrors map[string]int64 `json:"transportErrors,omitempty"`
	// Latency percentiles in milliseconds, measured from the intended send
	// time (no coordinated omission).
	LatencyMs Latency `json:"latencyMs"`
}

// Latency holds latency statistics in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// StatusCounts turns response counts by status code and transport errors
// into LoadResult.StatusCodes: codes as strings, transport errors summed
// under "error".
func StatusCounts(codes map[int]int64, transportErrors map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(codes)+1)
	for c, n := range codes {
		out[strconv.Itoa(c)] = n
	}
	var errs int64
	for _, n := range transportErrors {
		errs += n
	}
	if errs > 0 {
		out["error"] = errs
	}
	return out
}
