package v1beta1

// Naming of the objects Warbler generates for a Canary. These names are part
// of the Flagger contract: dashboards, NetworkPolicies and scripts use them.

// PrimarySuffix is appended to the target, its services, configs and
// autoscaler to name the copies that serve production traffic.
const PrimarySuffix = "-primary"

// CanarySuffix names the service that selects the canary pods.
const CanarySuffix = "-canary"

// ShardLabel assigns a Canary to a shard of controllers, after Flux's
// sharding.fluxcd.io/key: a controller started with
// -watch-label-selector 'sharding.warbler.dev/key in (shard1)' handles the
// canaries labelled shard1; one started with '!sharding.warbler.dev/key'
// handles the unlabelled ones.
const ShardLabel = "sharding.warbler.dev/key"

// Shard is the shard that handles the canary: its ShardLabel, or "" for the
// shard of unlabelled canaries.
func (c *Canary) Shard() string { return c.Labels[ShardLabel] }

// Key names the canary in logs and metrics: "<name>.<namespace>".
func (c *Canary) Key() string { return c.Name + "." + c.Namespace }

// ApexServiceName is spec.service.name, or the target's name when unset.
func (c *Canary) ApexServiceName() string {
	if c.Spec.Service.Name != "" {
		return c.Spec.Service.Name
	}
	return c.Spec.TargetRef.Name
}

// ServiceNames returns the apex, primary and canary service names.
func (c *Canary) ServiceNames() (apex, primary, canary string) {
	apex = c.ApexServiceName()
	return apex, apex + PrimarySuffix, apex + CanarySuffix
}

// PrimaryName is the name of the primary workload.
func (c *Canary) PrimaryName() string { return c.Spec.TargetRef.Name + PrimarySuffix }

// Condition returns the condition of the given type, or nil.
func (s *CanaryStatus) Condition(condType string) *CanaryCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == condType {
			return &s.Conditions[i]
		}
	}
	return nil
}

// BaselineSuffix names the baseline workload and its service
// (analysis.baseline).
const BaselineSuffix = "-baseline"

// BaselineName is the name of the baseline workload.
func (c *Canary) BaselineName() string { return c.Spec.TargetRef.Name + BaselineSuffix }

// BaselineServiceName is the name of the service that selects the
// baseline's pods.
func (c *Canary) BaselineServiceName() string { return c.ApexServiceName() + BaselineSuffix }

// BaselineEnabled tells whether the canary runs a baseline.
func (c *Canary) BaselineEnabled() bool {
	a := c.Spec.Analysis
	return a != nil && a.Baseline != nil && a.Baseline.Enabled
}
