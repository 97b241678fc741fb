// Package loadtester is Warbler's webhook executor: a drop-in replacement
// for Flagger's loadtester that runs next to the workloads and answers the
// controller's webhooks.
//
// The HTTP side (Server) only routes, applies middleware and maps errors to
// status codes. The work is done by task functions registered by type in a
// Registry (Tasks.Registry builds the built-in ones: cmd, bash, helm,
// helmv3, kubectl, load), by a gates.Store for the manual gates, and by
// Results, which keeps the latest load result of each canary. Each of
// these can be used and tested without HTTP.
//
// Long-lived parts follow one lifecycle: Start(ctx) runs until ctx ends and
// then stops gracefully (Server, Runner, gates.ConfigMaps).
package loadtester
