// Package v1beta1 holds the Go types of the flagger.app/v1beta1 API that
// Warbler serves: Canary, MetricTemplate and AlertProvider.
//
// The JSON field names, enums, defaults and printer columns follow Flagger's
// CRDs so that existing manifests apply unchanged. Warbler-only fields are
// optional and marked as such in their comments. The CRD YAML is generated
// from these types by controller-gen ("make generate") into
// charts/warbler/crds/.
//
// +kubebuilder:object:generate=true
// +groupName=flagger.app
package v1beta1
