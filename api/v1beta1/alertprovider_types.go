package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AlertProvider is a destination for release notifications.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=all
// +kubebuilder:metadata:annotations="helm.sh/resource-policy=keep"
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
type AlertProvider struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   AlertProviderSpec   `json:"spec"`
	Status AlertProviderStatus `json:"status,omitempty"`
}

// AlertProviderList is a list of AlertProvider objects.
//
// +kubebuilder:object:root=true
type AlertProviderList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AlertProvider `json:"items"`
}

// AlertProviderSpec is the desired state of an AlertProvider: its type and
// either an address or a Secret holding one.
// +kubebuilder:validation:XValidation:rule="has(self.address) || has(self.secretRef)",message="set address or secretRef (a Secret with the key address)"
type AlertProviderSpec struct {
	// Type of the provider. webhook posts a generic JSON document (Warbler
	// only).
	// +required
	// +kubebuilder:validation:Enum=slack;msteams;discord;rocket;gchat;webhook
	Type string `json:"type"`

	// Channel to post to (default "general").
	// +optional
	Channel string `json:"channel,omitempty"`

	// Username of the bot (default "flagger").
	// +optional
	Username string `json:"username,omitempty"`

	// Address is the hook URL.
	// +optional
	Address string `json:"address,omitempty"`

	// Proxy is an HTTP(S) proxy URL.
	// +optional
	Proxy string `json:"proxy,omitempty"`

	// SecretRef names a Secret in the provider's namespace with the key
	// "address" and optionally "token" and "proxy".
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`
}

// AlertProviderStatus is the observed state of an AlertProvider.
type AlertProviderStatus struct {
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
