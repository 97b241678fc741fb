package analysis

// ConditionStatus is the status of the Promoted condition.
type ConditionStatus string

// The condition statuses.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// Promoted returns the status and message of the single Promoted condition
// a canary carries in a phase; its reason is the phase. `kubectl wait
// --for=condition=promoted` relies on it.
func Promoted(p Phase, kind string) (ConditionStatus, string) {
	switch p {
	case PhaseInitialized:
		return ConditionTrue, kind + " initialization completed."
	case PhaseWaiting, PhaseWaitingPromotion:
		return ConditionUnknown, "Waiting for approval."
	case PhaseProgressing:
		return ConditionUnknown, "New revision detected, progressing canary analysis."
	case PhasePromoting:
		return ConditionUnknown, "Canary analysis completed, starting primary rolling update."
	case PhaseFinalising:
		return ConditionUnknown, "Canary analysis completed, routing all traffic to primary."
	case PhaseSucceeded:
		return ConditionTrue, "Canary analysis completed successfully, promotion finished."
	case PhaseFailed:
		return ConditionFalse, "Canary analysis failed, " + kind + " scaled to zero."
	case PhaseTerminating, PhaseTerminated:
		return ConditionUnknown, "Canary is being deleted."
	}
	return ConditionUnknown, "New " + kind + " detected, starting initialization."
}

// StatusGauge is the value of flagger_canary_status: 0 while Progressing,
// 2 when Failed, 1 otherwise.
func StatusGauge(p Phase) float64 {
	switch p {
	case PhaseProgressing:
		return 0
	case PhaseFailed:
		return 2
	}
	return 1
}
