package v1beta1

// The controller publishes the settings clients need on a ConfigMap that
// its Helm chart creates in the release namespace (named "<release>-config"
// by default). Clients find it by ControllerConfigLabel, without knowing
// that namespace: kubectl canary reads the default provider from it, so a
// canary without spec.provider is shown as the controller runs it.
const ControllerConfigLabel = "warbler.dev/controller-config"

// The keys of the controller's ConfigMap.
const (
	// ConfigMeshProvider is the controller's -mesh-provider.
	ConfigMeshProvider = "meshProvider"
	// ConfigVersion is the controller's version.
	ConfigVersion = "version"
	// ConfigWatchNamespace is the controller's -namespace: the one
	// namespace it watches, empty for all.
	ConfigWatchNamespace = "watchNamespace"
)
