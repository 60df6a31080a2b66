package models

import (
	"github.com/standinghq/standing/rules"
)

// afterSessionEvent does, in the transaction applying a session event, what ongoing
// monitoring and risk signals owe the change: the session's session_declined signal kept
// in step with its current status, a list_match signal for a blocklist match of the
// session's facts, and screening when the event changed the screened name or date of
// birth (changed are the profile fields it changed) or is the entity's first approval.
func (a *sessionApply) afterSessionEvent(w *entityWriter, e *Entity, sess *Session, current bool, hits []rules.Hit, changed []string) error {
	weights := a.app.Settings.Risk.Weights()
	if current {
		w.sessionSignal(weights, sess)
	}
	for _, h := range hits {
		if h.ListType == rules.ListBlocklist {
			w.setSignal(weights, rules.SignalListMatch, h.EntryID, map[string]any{
				"list_id": h.ListID, "entry_type": h.EntryType, "session_id": sess.SessionID,
			})
		}
	}
	if current && sess.Status == rules.SessionApproved && e.ApprovedCount == 1 && !screenedFieldChanged(e.Kind, changed) {
		// The entity's first approved session: from now on it is monitored, with the
		// profile it already had.
		changed = append(changed, "date_of_birth")
	}
	return screenOnChange(a.tx, w, e, a.app.Settings, changed)
}

// screenProfileChange screens an entity whose profile an API call changed, when the
// change touches the screened name or date of birth and the entity has an approved
// session.
func screenProfileChange(tx *txn, w *entityWriter, e *Entity, changed []string) error {
	if e.ApprovedCount == 0 || !screenedFieldChanged(e.Kind, changed) {
		return nil
	}
	var app Application
	if err := tx.Select("id", "settings").Where("id = ?", e.ApplicationID).Take(&app).Error; err != nil {
		return err
	}
	return screenOnChange(tx, w, e, app.Settings, changed)
}
