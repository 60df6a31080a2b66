package rules

import "time"

// ReasonReverification is the status reason of a session Standing starts because the
// entity's verification is older than the reverification_interval_days setting.
const ReasonReverification = "reverification"

// ReverificationFacts are what decides whether an entity is due for re-verification.
type ReverificationFacts struct {
	// Status is the entity's status.
	Status string
	// Interval is the reverification_interval_days setting; zero or less is off.
	Interval time.Duration
	// LatestApprovedAt is the upstream time of the entity's latest approved session; nil
	// when it has none.
	LatestApprovedAt *time.Time
	// LastReverificationAt is when Standing last started a re-verification session for
	// the entity; nil when it never did.
	LastReverificationAt *time.Time
	// Now is the time of the decision.
	Now time.Time
}

// ReverificationDecision says whether to start a re-verification session, and why (or
// why not), in words for logs and tests.
type ReverificationDecision struct {
	Start bool
	Why   string
}

// DecideReverification decides whether an entity gets a new re-verification session: an
// ACTIVE entity whose latest approved session is at least the interval old, and that was
// not sent one within the last interval (never twice in a period). FLAGGED and BLOCKED
// entities never get one, nor entities that were never approved.
func DecideReverification(f ReverificationFacts) ReverificationDecision {
	switch {
	case f.Interval <= 0:
		return ReverificationDecision{Why: "re-verification is off"}
	case f.Status != EntityActive:
		return ReverificationDecision{Why: "the entity is " + f.Status}
	case f.LatestApprovedAt == nil:
		return ReverificationDecision{Why: "the entity has no approved session"}
	case f.Now.Sub(*f.LatestApprovedAt) < f.Interval:
		return ReverificationDecision{Why: "the latest approval is within the interval"}
	case f.LastReverificationAt != nil && f.Now.Sub(*f.LastReverificationAt) < f.Interval:
		return ReverificationDecision{Why: "a re-verification was started within the interval"}
	}
	return ReverificationDecision{Start: true, Why: "the latest approval is older than the interval"}
}
