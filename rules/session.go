// Package rules holds Standing's pure decisions: how session statuses order and map to
// features, what an entity's status does to a new session, when a session blocks its
// entity, which automatic transitions are allowed, and how list values are normalised.
// Nothing here does I/O or reads a clock: callers pass every fact in.
package rules

import "time"

// Session statuses, exactly as upstream verification systems send them.
const (
	SessionNotStarted   = "Not Started"
	SessionInProgress   = "In Progress"
	SessionApproved     = "Approved"
	SessionDeclined     = "Declined"
	SessionInReview     = "In Review"
	SessionAbandoned    = "Abandoned"
	SessionExpired      = "Expired"
	SessionResubmitted  = "Resubmitted"
	SessionKycExpired   = "Kyc Expired"
	SessionAwaitingUser = "Awaiting User"
)

// sessionRank orders statuses along the lifecycle: Not Started < In Progress < In Review,
// Awaiting User, Resubmitted < Approved, Declined, Abandoned, Expired < Kyc Expired.
var sessionRank = map[string]int{
	SessionNotStarted:   0,
	SessionInProgress:   1,
	SessionInReview:     2,
	SessionAwaitingUser: 2,
	SessionResubmitted:  2,
	SessionApproved:     3,
	SessionDeclined:     3,
	SessionAbandoned:    3,
	SessionExpired:      3,
	SessionKycExpired:   4,
}

// SessionStatuses lists every session status.
func SessionStatuses() []string {
	return []string{
		SessionNotStarted, SessionInProgress, SessionApproved, SessionDeclined, SessionInReview,
		SessionAbandoned, SessionExpired, SessionResubmitted, SessionKycExpired, SessionAwaitingUser,
	}
}

// ValidSessionStatus reports whether s is one of the session statuses (exact string).
func ValidSessionStatus(s string) bool {
	_, ok := sessionRank[s]
	return ok
}

// Supersedes reports whether a session event (at, status) replaces the session's current
// status (curAt, curStatus): the later event time wins; at the same time the status later
// in the lifecycle wins; at the same time and stage the greater status string wins, so
// that the outcome never depends on arrival order.
func Supersedes(at time.Time, status string, curAt time.Time, curStatus string) bool {
	if !at.Equal(curAt) {
		return at.After(curAt)
	}
	if r, cr := sessionRank[status], sessionRank[curStatus]; r != cr {
		return r > cr
	}
	return status > curStatus
}

// Feature statuses.
const (
	FeatureApproved       = "APPROVED"
	FeatureDeclined       = "DECLINED"
	FeatureInReview       = "IN_REVIEW"
	FeatureNotFinished    = "NOT_FINISHED"
	FeatureResubRequested = "RESUB_REQUESTED"
)

// FeatureStatus maps a status reported for one feature of a session (in the session
// status vocabulary) to the entity's feature status.
func FeatureStatus(s string) (string, bool) {
	switch s {
	case SessionApproved:
		return FeatureApproved, true
	case SessionDeclined:
		return FeatureDeclined, true
	case SessionInReview, SessionAwaitingUser:
		return FeatureInReview, true
	case SessionNotStarted, SessionInProgress, SessionAbandoned, SessionExpired, SessionKycExpired:
		return FeatureNotFinished, true
	case SessionResubmitted:
		return FeatureResubRequested, true
	}
	return "", false
}

// Entity statuses.
const (
	EntityActive  = "ACTIVE"
	EntityFlagged = "FLAGGED"
	EntityBlocked = "BLOCKED"
)

// Reasons recorded by the rules.
const (
	ReasonEntityBlocked     = "entity_blocked"
	ReasonEntityFlagged     = "entity_flagged"
	ReasonSessionDeclined   = "session_declined"
	ReasonBlocklistMatch    = "blocklist_match"
	ReasonWatchlist         = "watchlist"
	ReasonTransactionRule   = "transaction_rule"
	ReasonOngoingMonitoring = "ongoing_monitoring"
)

// EnforceSession returns the status recorded for a session event whose upstream status is
// reported, given the status the entity is in (and has been in since before the event):
// a BLOCKED entity's sessions are recorded Declined (unless already a failed outcome), a
// FLAGGED entity's Approved sessions are recorded In Review. The reason is empty when the
// reported status stands.
func EnforceSession(entityStatus, reported string) (recorded, reason string) {
	switch entityStatus {
	case EntityBlocked:
		switch reported {
		case SessionDeclined, SessionAbandoned, SessionExpired, SessionKycExpired:
			return reported, ""
		}
		return SessionDeclined, ReasonEntityBlocked
	case EntityFlagged:
		if reported == SessionApproved {
			return SessionInReview, ReasonEntityFlagged
		}
	}
	return reported, ""
}

// AutoBlock says whether a session recorded Declined blocks its entity: when the
// application's auto_block_on_decline is on and its auto_block_workflows is empty or
// names the session's workflow.
func AutoBlock(enabled bool, workflows []string, workflowID, recorded string) bool {
	if !enabled || recorded != SessionDeclined {
		return false
	}
	if len(workflows) == 0 {
		return true
	}
	for _, w := range workflows {
		if w == workflowID {
			return true
		}
	}
	return false
}

var severity = map[string]int{EntityActive: 0, EntityFlagged: 1, EntityBlocked: 2}

// Raises reports whether an automatic rule may move an entity from current to target:
// automatic rules only raise a status (ACTIVE < FLAGGED < BLOCKED), never lower it.
func Raises(current, target string) bool {
	return severity[target] > severity[current]
}
