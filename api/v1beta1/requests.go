package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// RequestAnnotation carries an imperative operation for the controller, as
// "<operation>" or "<operation>/<id>". The controller carries it out,
// records it in status.lastRequest and an event, and removes the
// annotation. Operations never touch the spec or the pod template, so
// GitOps tools (Argo CD, Flux) have nothing to revert.
const RequestAnnotation = "warbler.dev/request"

// RequestedByAnnotation names who set RequestAnnotation, as the client
// found out (kubectl canary asks the API server who it is). It is recorded
// with the request and removed with it. It is a statement of the client,
// for the audit trail of a release; the API server's audit log is the
// authority.
const RequestedByAnnotation = "warbler.dev/requested-by"

// Request is an imperative operation on a Canary.
type Request string

// The operations.
const (
	// RequestPromote promotes a canary that waits for promotion approval
	// (WaitingPromotion) or for approval to start (Waiting).
	RequestPromote Request = "promote"
	// RequestPromoteNow promotes a running canary at once, skipping the
	// rest of its analysis.
	RequestPromoteNow Request = "promote-skip-analysis"
	// RequestAbort rolls a running or waiting canary back.
	RequestAbort Request = "abort"
	// RequestRetry runs the analysis again for the revision of a Failed
	// canary, without a change to the target (Flagger #1310).
	RequestRetry Request = "retry"
	// RequestPause holds the canary where it is until RequestResume.
	RequestPause Request = "pause"
	// RequestResume ends a pause.
	RequestResume Request = "resume"
)

// Requests lists the valid operations.
func Requests() []Request {
	return []Request{RequestPromote, RequestPromoteNow, RequestAbort, RequestRetry, RequestPause, RequestResume}
}

// RequestRecord is the last imperative operation the controller handled.
type RequestRecord struct {
	// Operation as requested.
	Operation Request `json:"operation"`
	// ID the requester gave, if any.
	// +optional
	ID string `json:"id,omitempty"`
	// By names the requester (RequestedByAnnotation), if known.
	// +optional
	By string `json:"by,omitempty"`
	// Time the controller handled it.
	Time metav1.Time `json:"time"`
	// Accepted tells whether it was carried out.
	Accepted bool `json:"accepted"`
	// Message says what was done, or why not.
	// +optional
	Message string `json:"message,omitempty"`
}
