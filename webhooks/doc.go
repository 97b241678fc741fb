// Package webhooks is the wire protocol between the controller and the
// services it calls during a release (the loadtester, or any HTTP endpoint):
// the JSON payload, which status codes count as success, the client with its
// timeout, retries and request signing, and the signature check the server
// side uses. It is Flagger's protocol, with the response body kept in every
// error and optional authentication.
package webhooks
