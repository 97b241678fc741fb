package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Canary describes how a workload is released: which Deployment or DaemonSet
// it targets, how traffic reaches it, and the analysis that decides between
// promotion and rollback.
//
// +genclient
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all
// +kubebuilder:metadata:annotations="helm.sh/resource-policy=keep"
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Weight",type=string,JSONPath=`.status.canaryWeight`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="FailedChecks",type=string,JSONPath=`.status.failedChecks`,priority=1
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.analysis.interval`,priority=1
// +kubebuilder:printcolumn:name="Mirror",type=boolean,JSONPath=`.spec.analysis.mirror`,priority=1
// +kubebuilder:printcolumn:name="StepWeight",type=string,JSONPath=`.spec.analysis.stepWeight`,priority=1
// +kubebuilder:printcolumn:name="StepWeights",type=string,JSONPath=`.spec.analysis.stepWeights`,priority=1
// +kubebuilder:printcolumn:name="MaxWeight",type=string,JSONPath=`.spec.analysis.maxWeight`,priority=1
// +kubebuilder:printcolumn:name="LastTransitionTime",type=string,JSONPath=`.status.lastTransitionTime`
type Canary struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CanarySpec   `json:"spec"`
	Status CanaryStatus `json:"status,omitempty"`
}

// CanaryList is a list of Canary objects.
//
// +kubebuilder:object:root=true
type CanaryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Canary `json:"items"`
}

// CanarySpec is the desired state of a Canary.
type CanarySpec struct {
	// Provider is the traffic management provider of this canary; it
	// overrides the controller's -mesh-provider flag. Warbler checks the
	// value itself rather than through a schema enum, so that a typo is
	// reported as an event that lists the valid providers.
	// +optional
	Provider string `json:"provider,omitempty"`

	// MetricsServer is the Prometheus URL used by the builtin metrics and by
	// inline queries; it overrides the controller's -metrics-server flag.
	// +optional
	MetricsServer string `json:"metricsServer,omitempty"`

	// TargetRef names the workload under release.
	// +required
	TargetRef LocalObjectReference `json:"targetRef"`

	// AutoscalerRef names the autoscaler of the target, copied for the
	// primary as <name>-primary.
	// +optional
	AutoscalerRef *AutoscalerReference `json:"autoscalerRef,omitempty"`

	// IngressRef names the Ingress used by the nginx provider.
	// +optional
	IngressRef *IngressReference `json:"ingressRef,omitempty"`

	// RouteRef names the APISIX route of the apisix provider.
	// +optional
	RouteRef *RouteReference `json:"routeRef,omitempty"`

	// UpstreamRef names the Gloo Upstream whose settings are copied.
	// +optional
	UpstreamRef *UpstreamReference `json:"upstreamRef,omitempty"`

	// Service describes the Kubernetes services and routes generated for the
	// target.
	// +optional
	Service CanaryService `json:"service,omitzero"`

	// Analysis describes the checks and the traffic schedule of a release.
	// +required
	Analysis *CanaryAnalysis `json:"analysis"`

	// ProgressDeadlineSeconds is how long the canary and the primary may
	// take to become ready before the release is rolled back.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=0
	// +optional
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`

	// SkipAnalysis promotes a new revision without running the analysis.
	// +optional
	SkipAnalysis bool `json:"skipAnalysis,omitempty"`

	// RevertOnDeletion restores the objects Warbler changed when the Canary
	// is deleted.
	// +optional
	RevertOnDeletion bool `json:"revertOnDeletion,omitempty"`

	// Suspend pauses every canary run of this object.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// LocalObjectReference names the target workload of a Canary.
type LocalObjectReference struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	APIVersion string `json:"apiVersion"`
	// +required
	// +kubebuilder:validation:Enum=DaemonSet;Deployment;Service
	Kind string `json:"kind"`
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// AutoscalerReference names a HorizontalPodAutoscaler or a KEDA ScaledObject.
type AutoscalerReference struct {
	// +required
	APIVersion string `json:"apiVersion"`
	// +required
	// +kubebuilder:validation:Enum=HorizontalPodAutoscaler;ScaledObject
	Kind string `json:"kind"`
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// PrimaryScalerQueries replaces the trigger queries of the primary
	// ScaledObject, keyed by trigger name.
	// +optional
	PrimaryScalerQueries map[string]string `json:"primaryScalerQueries,omitempty"`
	// PrimaryScalerReplicas overrides the replica bounds of the primary
	// autoscaler.
	// +optional
	PrimaryScalerReplicas *ScalerReplicas `json:"primaryScalerReplicas,omitempty"`
}

// ScalerReplicas holds replica bounds for an autoscaler.
type ScalerReplicas struct {
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
}

// IngressReference names an Ingress.
type IngressReference struct {
	// +required
	APIVersion string `json:"apiVersion"`
	// +required
	// +kubebuilder:validation:Enum=Ingress
	Kind string `json:"kind"`
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// RouteReference names an ApisixRoute.
type RouteReference struct {
	// +required
	APIVersion string `json:"apiVersion"`
	// +required
	// +kubebuilder:validation:Enum=ApisixRoute
	Kind string `json:"kind"`
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// UpstreamReference names a Gloo Upstream.
type UpstreamReference struct {
	// +required
	APIVersion string `json:"apiVersion"`
	// +required
	// +kubebuilder:validation:Enum=Upstream
	Kind string `json:"kind"`
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// CanaryService describes the ClusterIP services <name>, <name>-primary and
// <name>-canary, and the traffic object of the mesh or gateway in use.
// +kubebuilder:validation:XValidation:rule="!(has(self.delegation) && self.delegation) || (!has(self.hosts) || size(self.hosts) == 0) && (!has(self.gateways) || size(self.gateways) == 0)",message="service.delegation cannot be combined with service.hosts or service.gateways"
type CanaryService struct {
	// Name of the apex service; defaults to the target's name.
	// +optional
	Name string `json:"name,omitempty"`

	// Port the services expose.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`

	// PortName of the service port.
	// +kubebuilder:default=http
	// +optional
	PortName string `json:"portName,omitempty"`

	// TargetPort is the container port, a number or a name; defaults to
	// Port.
	// +optional
	TargetPort *intstr.IntOrString `json:"targetPort,omitempty"`

	// AppProtocol of the service port.
	// +optional
	AppProtocol *string `json:"appProtocol,omitempty"`

	// TrafficDistribution of the generated services.
	// +kubebuilder:validation:Enum=PreferClose;PreferSameZone;PreferSameNode
	// +optional
	TrafficDistribution *string `json:"trafficDistribution,omitempty"`

	// PortDiscovery adds every other container port to the services.
	// +optional
	PortDiscovery bool `json:"portDiscovery,omitempty"`

	// Headless generates headless services (clusterIP: None).
	// +optional
	Headless bool `json:"headless,omitempty"`

	// Timeout of HTTP or gRPC requests (Istio route timeout, Gateway API
	// timeouts.request).
	// +optional
	Timeout string `json:"timeout,omitempty"`

	// BackendTimeout is the Gateway API timeouts.backendRequest.
	// +optional
	BackendTimeout string `json:"backendTimeout,omitempty"`

	// MeshName is the App Mesh mesh.
	// +optional
	MeshName string `json:"meshName,omitempty"`

	// Backends are App Mesh virtual service backends.
	// +optional
	Backends []string `json:"backends,omitempty"`

	// Hosts are the host names of the route (Istio hosts, HTTPRoute
	// hostnames; hosts[0] is the SMI TrafficSplit service).
	// +optional
	Hosts []string `json:"hosts,omitempty"`

	// Delegation makes the Istio VirtualService a delegate.
	// +optional
	Delegation bool `json:"delegation,omitempty"`

	// Match holds URI match conditions of the route.
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`

	// Retries is the retry policy of HTTP requests.
	// +optional
	Retries *HTTPRetry `json:"retries,omitempty"`

	// Rewrite rewrites HTTP URIs and authority.
	// +optional
	Rewrite *HTTPRewrite `json:"rewrite,omitempty"`

	// Mirror holds Gateway API request mirror filters.
	// +optional
	Mirror []HTTPRequestMirrorFilter `json:"mirror,omitempty"`

	// Headers operations on requests and responses.
	// +optional
	Headers *Headers `json:"headers,omitempty"`

	// Gateways are the Istio gateways of the VirtualService.
	// +optional
	Gateways []string `json:"gateways,omitempty"`

	// GatewayRefs are the parent Gateways of the HTTPRoute; required by the
	// gatewayapi provider.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	GatewayRefs []ParentReference `json:"gatewayRefs,omitempty"`

	// CorsPolicy is the Istio cross-origin resource sharing policy.
	// +optional
	CorsPolicy *CorsPolicy `json:"corsPolicy,omitempty"`

	// TrafficPolicy is the Istio DestinationRule traffic policy, copied
	// verbatim.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +optional
	TrafficPolicy *runtime.RawExtension `json:"trafficPolicy,omitempty"`

	// Apex holds metadata for the apex service and the traffic object.
	// +optional
	Apex *CustomMetadata `json:"apex,omitempty"`

	// Primary holds metadata for the primary service.
	// +optional
	Primary *CustomMetadata `json:"primary,omitempty"`

	// Canary holds metadata for the canary service.
	// +optional
	Canary *CustomMetadata `json:"canary,omitempty"`

	// UnmanagedMetadata lists label and annotation keys that Warbler keeps
	// as they are on the services it owns.
	// +optional
	UnmanagedMetadata *UnmanagedMetadata `json:"unmanagedMetadata,omitempty"`
}

// CustomMetadata holds labels and annotations to set on a generated object.
type CustomMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// UnmanagedMetadata lists metadata keys that are left alone.
type UnmanagedMetadata struct {
	// +optional
	Labels []string `json:"labels,omitempty"`
	// +optional
	Annotations []string `json:"annotations,omitempty"`
}

// StringMatch matches a string exactly, by prefix, by suffix or by an RE2
// regular expression; at most one of them is set.
// +kubebuilder:validation:MaxProperties=1
type StringMatch struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Suffix is honoured by the routers that support it (Istio headers).
	// +optional
	Suffix string `json:"suffix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// HTTPMatchRequest is an Istio-shaped request match, used by service.match
// and by analysis.match (A/B testing).
type HTTPMatchRequest struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	URI *StringMatch `json:"uri,omitempty"`
	// +optional
	Scheme *StringMatch `json:"scheme,omitempty"`
	// +optional
	Method *StringMatch `json:"method,omitempty"`
	// +optional
	Authority *StringMatch `json:"authority,omitempty"`
	// +optional
	Headers map[string]StringMatch `json:"headers,omitempty"`
	// +optional
	Port uint32 `json:"port,omitempty"`
	// SourceLabels apply only when the mesh gateway is in service.gateways.
	// +optional
	SourceLabels map[string]string `json:"sourceLabels,omitempty"`
	// +optional
	Gateways []string `json:"gateways,omitempty"`
	// +optional
	QueryParams map[string]StringMatch `json:"queryParams,omitempty"`
	// +optional
	IgnoreURICase bool `json:"ignoreUriCase,omitempty"`
	// +optional
	WithoutHeaders map[string]StringMatch `json:"withoutHeaders,omitempty"`
	// +optional
	SourceNamespace string `json:"sourceNamespace,omitempty"`
}

// HTTPRetry is a retry policy.
type HTTPRetry struct {
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// +optional
	PerTryTimeout string `json:"perTryTimeout,omitempty"`
	// +optional
	RetryOn string `json:"retryOn,omitempty"`
}

// HTTPRewrite rewrites the URI and authority of requests. Type
// ReplacePrefixMatch rewrites only the matched prefix (Gateway API).
type HTTPRewrite struct {
	// +optional
	URI string `json:"uri,omitempty"`
	// +optional
	Authority string `json:"authority,omitempty"`
	// +optional
	Type string `json:"type,omitempty"`
}

// HeaderOperations adds, sets and removes headers.
type HeaderOperations struct {
	// +optional
	Set map[string]string `json:"set,omitempty"`
	// +optional
	Add map[string]string `json:"add,omitempty"`
	// +optional
	Remove []string `json:"remove,omitempty"`
}

// Headers holds header operations for requests and responses.
type Headers struct {
	// +optional
	Request *HeaderOperations `json:"request,omitempty"`
	// +optional
	Response *HeaderOperations `json:"response,omitempty"`
}

// StringMatchOrigin matches a CORS origin with exactly one of its fields.
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
type StringMatchOrigin struct {
	// +optional
	Exact string `json:"exact,omitempty"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	Regex string `json:"regex,omitempty"`
}

// CorsPolicy is a cross-origin resource sharing policy.
type CorsPolicy struct {
	// +optional
	AllowOrigin []string `json:"allowOrigin,omitempty"`
	// +optional
	AllowOrigins []StringMatchOrigin `json:"allowOrigins,omitempty"`
	// +optional
	AllowMethods []string `json:"allowMethods,omitempty"`
	// +optional
	AllowHeaders []string `json:"allowHeaders,omitempty"`
	// +optional
	ExposeHeaders []string `json:"exposeHeaders,omitempty"`
	// +optional
	MaxAge string `json:"maxAge,omitempty"`
	// +optional
	AllowCredentials *bool `json:"allowCredentials,omitempty"`
}

// ParentReference names a parent of an HTTPRoute (a Gateway, or a Service
// for mesh routing). The fields follow Gateway API's ParentReference.
type ParentReference struct {
	// +kubebuilder:default=gateway.networking.k8s.io
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Group *string `json:"group,omitempty"`
	// +kubebuilder:default=Gateway
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
	// +optional
	Kind *string `json:"kind,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	SectionName *string `json:"sectionName,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// BackendObjectReference names the backend of a mirror filter.
// +kubebuilder:validation:XValidation:rule="(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true",message="Must have port for Service reference"
type BackendObjectReference struct {
	// +kubebuilder:default=""
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	Group *string `json:"group,omitempty"`
	// +kubebuilder:default=Service
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`
	// +optional
	Kind *string `json:"kind,omitempty"`
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Namespace *string `json:"namespace,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port *int32 `json:"port,omitempty"`
}

// HTTPRequestMirrorFilter mirrors requests to another backend.
type HTTPRequestMirrorFilter struct {
	// +required
	BackendRef BackendObjectReference `json:"backendRef"`
	// Percent of requests to mirror.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Percent *int32 `json:"percent,omitempty"`
}

// CanaryAnalysis describes the checks and the traffic schedule of a release.
//
// Exactly one of iterations (blue/green, or A/B with match), stepWeight or
// stepWeights selects the strategy, as in Flagger's schema.
// +kubebuilder:validation:XValidation:rule="[has(self.iterations), has(self.stepWeight), has(self.stepWeights)].filter(x, x).size() == 1",message="set exactly one of analysis.iterations (blue/green, A/B), analysis.stepWeight or analysis.stepWeights"
// +kubebuilder:validation:XValidation:rule="!has(self.match) || size(self.match) == 0 || has(self.iterations)",message="analysis.match (A/B testing) requires analysis.iterations"
// +kubebuilder:validation:XValidation:rule="(has(self.baseline) && self.baseline.enabled) || !has(self.metrics) || !self.metrics.exists(m, has(m.judge) || (has(m.compare) && m.compare.against == 'Baseline'))",message="metrics[].judge and metrics[].compare.against: Baseline need analysis.baseline.enabled"
// +kubebuilder:validation:XValidation:rule="!has(self.judge) || (has(self.metrics) && self.metrics.exists(m, has(m.judge)))",message="analysis.judge needs at least one metric with judge"
// +kubebuilder:validation:XValidation:rule="!has(self.baseline) || !self.baseline.enabled || !has(self.iterations)",message="analysis.baseline needs stepWeight or stepWeights: blue/green and A/B testing (iterations) give the canary no share of traffic for a baseline to match"
// +kubebuilder:validation:XValidation:rule="!has(self.baseline) || !self.baseline.enabled || !has(self.mirror) || !self.mirror",message="analysis.baseline cannot be combined with analysis.mirror: a mirror copies traffic to the canary only"
// +kubebuilder:validation:XValidation:rule="!has(self.baseline) || !self.baseline.enabled || has(self.iterations) || (has(self.stepWeights) ? self.stepWeights[size(self.stepWeights) - 1] <= 50 : (has(self.maxWeight) && self.maxWeight <= 50))",message="with analysis.baseline, maxWeight (or the last of stepWeights) must be set to 50 or less: the canary and the baseline each take that weight from the primary"
type CanaryAnalysis struct {
	// Interval between two analysis ticks, such as 30s or 1m.
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	Interval string `json:"interval"`

	// Threshold is the number of failed checks after which the release is
	// rolled back. Failed checks add up over the whole run.
	// +required
	// +kubebuilder:validation:Minimum=0
	Threshold int `json:"threshold"`

	// Iterations is the number of analysis ticks of a blue/green or A/B
	// release.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Iterations int `json:"iterations,omitempty"`

	// MaxWeight is the largest traffic weight routed to the canary (default
	// 100). It is ignored when stepWeights is set.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MaxWeight int `json:"maxWeight,omitempty"`

	// StepWeight is the weight added to the canary on every passing tick.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	StepWeight int `json:"stepWeight,omitempty"`

	// StepWeights is an explicit ladder of canary weights.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:Minimum=0
	// +kubebuilder:validation:items:Maximum=100
	// +optional
	StepWeights []int `json:"stepWeights,omitempty"`

	// StepWeightPromotion is the weight moved back to the primary on every
	// tick of the promotion; 0 moves it all at once.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	StepWeightPromotion int `json:"stepWeightPromotion,omitempty"`

	// Mirror copies traffic to the canary before shifting any to it.
	// +optional
	Mirror bool `json:"mirror,omitempty"`

	// MirrorWeight is the percentage of traffic mirrored.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	MirrorWeight int `json:"mirrorWeight,omitempty"`

	// PrimaryReadyThreshold is the percentage of updated primary replicas
	// that must be available.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	PrimaryReadyThreshold *int `json:"primaryReadyThreshold,omitempty"`

	// CanaryReadyThreshold is the percentage of updated canary replicas that
	// must be available.
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	CanaryReadyThreshold *int `json:"canaryReadyThreshold,omitempty"`

	// Alerts sent during the release.
	// +optional
	Alerts []CanaryAlert `json:"alerts,omitempty"`

	// Metrics checked on every tick.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Metrics []CanaryMetric `json:"metrics,omitempty"`

	// Webhooks called during the release.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Webhooks []CanaryWebhook `json:"webhooks,omitempty"`

	// Match holds the A/B testing conditions.
	// +optional
	Match []HTTPMatchRequest `json:"match,omitempty"`

	// SessionAffinity keeps users on the canary once routed there.
	// +optional
	SessionAffinity *SessionAffinity `json:"sessionAffinity,omitempty"`

	// Baseline runs <target>-baseline during each release: the primary's
	// version, started with the canary, at the canary's size and with as
	// much traffic as the canary (taken from the primary's share), so that
	// metrics compare the canary with an equal rather than with the
	// long-running primary. Warbler only.
	// +optional
	Baseline *CanaryBaseline `json:"baseline,omitempty"`

	// Judge sets the score thresholds of the statistical judge, which
	// compares the samples of the metrics that set judge with the
	// baseline's. Warbler only.
	// +optional
	Judge *CanaryJudge `json:"judge,omitempty"`
}

// CanaryBaseline configures the baseline workload.
type CanaryBaseline struct {
	// Enabled runs the baseline. It needs a Deployment target, a weighted
	// canary (stepWeight or stepWeights) with a maximum weight of 50 or
	// less, and a provider that splits traffic three ways.
	// +required
	Enabled bool `json:"enabled"`
}

// CanaryJudge sets the score thresholds of the statistical judge. Every
// tick the judge scores the judged metrics out of 100: a score below
// marginalScore counts as a failed check, and the tick that would promote
// needs passScore.
// +kubebuilder:validation:XValidation:rule="self.marginalScore <= self.passScore",message="judge.marginalScore must not exceed judge.passScore"
type CanaryJudge struct {
	// PassScore is the score the last judgement, before promotion, must
	// reach.
	// +kubebuilder:default=95
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	PassScore int `json:"passScore,omitempty"`

	// MarginalScore is the score every judgement must reach.
	// +kubebuilder:default=75
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	MarginalScore int `json:"marginalScore,omitempty"`
}

// CanaryMetric is a check run on every analysis tick.
// +kubebuilder:validation:XValidation:rule="!has(self.thresholdRange) || !has(self.thresholdRange.min) || !has(self.thresholdRange.max) || self.thresholdRange.min <= self.thresholdRange.max",message="thresholdRange.min must not exceed thresholdRange.max"
// +kubebuilder:validation:XValidation:rule="!has(self.compare) || has(self.thresholdRange)",message="metrics[].compare needs thresholdRange: the accepted range of the ratio or difference"
// +kubebuilder:validation:XValidation:rule="!has(self.judge) || !has(self.compare) && !has(self.thresholdRange) && !has(self.threshold)",message="metrics[].judge cannot be combined with compare, thresholdRange or threshold: the judge compares samples, not a value with a bound"
type CanaryMetric struct {
	// Name of the metric. request-success-rate and request-duration are
	// builtin checks.
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// Interval is the range of the query, such as 1m.
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	// +kubebuilder:default="1m"
	// +optional
	Interval string `json:"interval,omitempty"`

	// Threshold is deprecated: the minimum of request-success-rate, the
	// maximum of every other metric. Use thresholdRange.
	// +optional
	Threshold float64 `json:"threshold,omitempty"`

	// ThresholdRange is the accepted range of the value.
	// +optional
	ThresholdRange *CanaryThresholdRange `json:"thresholdRange,omitempty"`

	// Query is deprecated: an inline PromQL query run on the metrics
	// server. Use templateRef.
	// +optional
	Query string `json:"query,omitempty"`

	// TemplateRef names a MetricTemplate.
	// +optional
	TemplateRef *CrossNamespaceObjectReference `json:"templateRef,omitempty"`

	// TemplateVariables are available to the template as
	// {{ variables.key }}.
	// +optional
	TemplateVariables map[string]string `json:"templateVariables,omitempty"`

	// NoDataPolicy decides what a query that returns no value means:
	// Fail (the default, as in Flagger), Pass, or Skip (neither passes nor
	// fails the tick). Warbler only.
	// +kubebuilder:validation:Enum=Fail;Pass;Skip
	// +optional
	NoDataPolicy string `json:"noDataPolicy,omitempty"`

	// ErrorRetries is how many extra attempts a query gets within a tick
	// when the provider itself fails (unreachable, timeout, 5xx), before
	// the failure counts as a failed check. Warbler only; default 2.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	// +optional
	ErrorRetries *int `json:"errorRetries,omitempty"`

	// Compare makes the check relative: the query runs for the canary and
	// for the other side (a builtin metric's query for the other
	// workload, a template rendered with {{ target }} naming it), and
	// thresholdRange bounds the canary's ratio to it or difference from it.
	// Warbler only.
	// +optional
	Compare *MetricComparison `json:"compare,omitempty"`

	// Judge has the statistical judge compare the canary's samples of this
	// metric with the baseline's over the run, one sample per interval,
	// instead of checking a value. Warbler only.
	// +optional
	Judge *MetricJudgement `json:"judge,omitempty"`

	// DryRun runs and records the check and announces its failures, but
	// never counts them towards the threshold nor holds the release: a way
	// to try a new check on live releases. Warbler only (Argo Rollouts'
	// name).
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// ComparisonSide is the workload a relative check compares the canary
// with.
// +kubebuilder:validation:Enum=Baseline;Primary
type ComparisonSide string

// The sides of a comparison.
const (
	// CompareBaseline compares with <target>-baseline (analysis.baseline).
	CompareBaseline ComparisonSide = "Baseline"
	// ComparePrimary compares with <target>-primary.
	ComparePrimary ComparisonSide = "Primary"
)

// ComparisonRelation is how a relative check relates the two values.
// +kubebuilder:validation:Enum=Ratio;Difference
type ComparisonRelation string

// The relations of a comparison.
const (
	// CompareRatio divides the canary's value by the other side's.
	CompareRatio ComparisonRelation = "Ratio"
	// CompareDifference subtracts the other side's value from the
	// canary's.
	CompareDifference ComparisonRelation = "Difference"
)

// MetricComparison makes a metric check relative.
type MetricComparison struct {
	// Against is the side compared with: Baseline (needs
	// analysis.baseline) or Primary.
	// +required
	Against ComparisonSide `json:"against"`

	// As is Ratio (canary / other; thresholdRange.max 1.2 allows 20%
	// more) or Difference (canary - other; thresholdRange.max 1 allows one
	// more unit, such as a point of error rate).
	// +kubebuilder:default=Ratio
	// +optional
	As ComparisonRelation `json:"as,omitempty"`
}

// JudgeDirection is the change of a judged metric that fails it.
// +kubebuilder:validation:Enum=Increase;Decrease;Either
type JudgeDirection string

// MetricJudgement configures how the judge treats one metric.
type MetricJudgement struct {
	// Direction that fails: Increase, Decrease or Either. Defaults to
	// Increase for request-duration, Decrease for request-success-rate and
	// Either for other metrics.
	// +optional
	Direction JudgeDirection `json:"direction,omitempty"`

	// Weight of the metric in the score.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	Weight int `json:"weight,omitempty"`

	// Critical: a failure of this metric fails the whole judgement.
	// +optional
	Critical bool `json:"critical,omitempty"`

	// AllowedIncrease is the ratio of the canary's mean to the baseline's
	// up to which a significant increase still passes (1.1: 10% more).
	// +kubebuilder:validation:Minimum=1
	// +optional
	AllowedIncrease *float64 `json:"allowedIncrease,omitempty"`

	// AllowedDecrease is the ratio down to which a significant decrease
	// still passes (0.9: 10% less).
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	// +optional
	AllowedDecrease *float64 `json:"allowedDecrease,omitempty"`
}

// CanaryThresholdRange is an accepted range of a metric value.
type CanaryThresholdRange struct {
	// +optional
	Min *float64 `json:"min,omitempty"`
	// +optional
	Max *float64 `json:"max,omitempty"`
}

// CrossNamespaceObjectReference names an object, in the Canary's namespace
// unless a namespace is given.
type CrossNamespaceObjectReference struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// HookType is the kind of a webhook, which decides when it is called.
// +kubebuilder:validation:Enum="";confirm-rollout;pre-rollout;rollout;confirm-promotion;post-rollout;event;rollback;confirm-traffic-increase
type HookType string

// The webhook types. An empty type means rollout.
const (
	RolloutHook                HookType = "rollout"
	PreRolloutHook             HookType = "pre-rollout"
	PostRolloutHook            HookType = "post-rollout"
	ConfirmRolloutHook         HookType = "confirm-rollout"
	ConfirmPromotionHook       HookType = "confirm-promotion"
	ConfirmTrafficIncreaseHook HookType = "confirm-traffic-increase"
	EventHook                  HookType = "event"
	RollbackHook               HookType = "rollback"
)

// CanaryWebhook is an HTTP call made during the release.
type CanaryWebhook struct {
	// Type decides when the hook is called; empty means rollout.
	// +optional
	Type HookType `json:"type,omitempty"`

	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// URL the payload is POSTed to.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (url(self).getScheme() == 'http' || url(self).getScheme() == 'https')",message="webhook url must be an absolute http or https URL"
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// MuteAlert silences the approval alerts of confirm-* hooks.
	// +optional
	MuteAlert bool `json:"muteAlert,omitempty"`

	// Timeout of one attempt, such as 30s (default 10s).
	// +kubebuilder:validation:Pattern=`^[0-9]+(m|s)`
	// +optional
	Timeout string `json:"timeout,omitempty"`

	// Retries after a failed attempt.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Retries int `json:"retries,omitempty"`

	// DisableTLS skips verification of the server's certificate.
	// +optional
	DisableTLS bool `json:"disableTLS,omitempty"`

	// Metadata is sent in the payload.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`

	// GateTimeout bounds how long a confirm-rollout or confirm-promotion
	// gate may keep the canary waiting, such as 30m or 24h: once the canary
	// has waited that long for this gate it is rolled back (Failed), instead
	// of waiting forever. Empty: no bound, as in Flagger. Warbler only.
	// +kubebuilder:validation:Pattern=`^[0-9]+(h|m|s)$`
	// +optional
	GateTimeout string `json:"gateTimeout,omitempty"`

	// SecretRef names a Secret in the Canary's namespace whose key "token"
	// is sent as a bearer token and whose key "hmacKey" signs the request
	// (X-Warbler-Signature). Warbler only.
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
}

// LocalSecretReference names a Secret in the same namespace.
type LocalSecretReference struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// AlertSeverity filters which events an alert receives.
// +kubebuilder:validation:Enum="";info;warn;error
type AlertSeverity string

// Alert severities. An empty severity means info in Warbler (Flagger sends
// nothing for it).
const (
	SeverityInfo  AlertSeverity = "info"
	SeverityWarn  AlertSeverity = "warn"
	SeverityError AlertSeverity = "error"
)

// CanaryAlert routes the release's notifications to an AlertProvider.
type CanaryAlert struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Severity is the lowest severity sent: info, warn or error.
	// +kubebuilder:default=info
	// +optional
	Severity AlertSeverity `json:"severity,omitempty"`
	// +required
	ProviderRef CrossNamespaceObjectReference `json:"providerRef"`
}

// SessionAffinity keeps users on the canary once routed there, with a
// cookie.
// +kubebuilder:validation:XValidation:rule="!has(self.primaryCookieName) || self.primaryCookieName != self.cookieName",message="sessionAffinity.primaryCookieName must differ from cookieName"
type SessionAffinity struct {
	// +required
	// +kubebuilder:validation:MinLength=1
	CookieName string `json:"cookieName"`
	// +optional
	PrimaryCookieName string `json:"primaryCookieName,omitempty"`
	// +optional
	Domain string `json:"domain,omitempty"`
	// +optional
	HTTPOnly bool `json:"httpOnly,omitempty"`
	// MaxAge of the cookie in seconds.
	// +kubebuilder:default=86400
	// +optional
	MaxAge int `json:"maxAge,omitempty"`
	// +optional
	Partitioned bool `json:"partitioned,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +kubebuilder:validation:Enum=Strict;Lax;None
	// +optional
	SameSite string `json:"sameSite,omitempty"`
	// +optional
	Secure bool `json:"secure,omitempty"`
}
