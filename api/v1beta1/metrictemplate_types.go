package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetricTemplate is a reusable query, run by a metric provider and referenced
// by canary metrics through templateRef.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all
// +kubebuilder:metadata:annotations="helm.sh/resource-policy=keep"
// +kubebuilder:printcolumn:name="Provider",type=string,JSONPath=`.spec.provider.type`
type MetricTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   MetricTemplateSpec   `json:"spec"`
	Status MetricTemplateStatus `json:"status,omitempty"`
}

// MetricTemplateList is a list of MetricTemplate objects.
//
// +kubebuilder:object:root=true
type MetricTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MetricTemplate `json:"items"`
}

// MetricTemplateSpec is the desired state of a MetricTemplate.
type MetricTemplateSpec struct {
	// Provider runs the query.
	// +required
	Provider MetricTemplateProvider `json:"provider"`

	// Query is a Go text/template rendered with the functions name,
	// namespace, target, service, ingress, route, interval and variables.
	// For the http provider it is the JSON path of the number in the
	// response (for example .data.errorRate); for the loadtest provider it is
	// the name of a load-test result field (for example p99 or errorRate).
	// +required
	// +kubebuilder:validation:MinLength=1
	Query string `json:"query"`
}

// MetricTemplateProvider describes where a MetricTemplate's query runs.
type MetricTemplateProvider struct {
	// Type of the provider. Warbler runs every Flagger type but
	// externalmetrics, plus http (a JSON document fetched from address)
	// and loadtest (the results of a loadtester "load" task at address).
	// +required
	// +kubebuilder:validation:Enum=prometheus;influxdb;datadog;externalmetrics;stackdriver;cloudwatch;newrelic;graphite;dynatrace;keptn;splunk;http;loadtest
	Type string `json:"type"`

	// Address of the provider's API.
	// +optional
	Address string `json:"address,omitempty"`

	// Headers added to every request.
	// +optional
	Headers map[string][]string `json:"headers,omitempty"`

	// SecretRef names a Secret in the template's namespace holding
	// credentials, under the keys Flagger names for the type: "token"
	// (bearer) or "username" and "password" (basic auth) for prometheus,
	// http (also "headers", one "Name: value" per line) and graphite;
	// datadog_api_key and datadog_application_key; newrelic_account_id and
	// newrelic_query_key; dynatrace_token; sf_token_key (splunk); project
	// and serviceAccountKey (stackdriver); token and org (influxdb).
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	// Region of the provider (cloudwatch).
	// +optional
	Region string `json:"region,omitempty"`

	// InsecureSkipVerify disables TLS verification of the address.
	// +optional
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
}

// MetricTemplateStatus is the observed state of a MetricTemplate.
type MetricTemplateStatus struct {
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
