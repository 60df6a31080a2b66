package models

import (
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/standinghq/standing/rules"
)

// SessionOutcome says what applying a session event did.
type SessionOutcome string

// The outcomes of ApplySessionEvent.
const (
	// SessionCurrent: the event became its session's current status.
	SessionCurrent SessionOutcome = "current"
	// SessionHistory: an older event; it joined the session's history only.
	SessionHistory SessionOutcome = "history"
	// SessionAlreadyApplied: the event was applied before (a duplicate job).
	SessionAlreadyApplied SessionOutcome = "already_applied"
	// SessionInvalid: the stored event could not be read; it failed for good.
	SessionInvalid SessionOutcome = "invalid"
)

// sessionApply is one session event being applied.
type sessionApply struct {
	tx      *txn
	app     *Application
	in      SessionEventInput
	facts   rules.DecisionFacts
	eventAt time.Time
	inboxID string
}

// sessionSettings are the application's settings that session decisions read.
func sessionSettings(st Settings) rules.SessionSettings {
	return rules.SessionSettings{AutoBlockOnDecline: st.AutoBlockOnDecline, AutoBlockWorkflows: st.AutoBlockWorkflows}
}

// run gathers the facts of the event, decides, and writes the decision.
func (a *sessionApply) run(e *Entity) (SessionOutcome, error) {
	w := newEntityWriter(a.tx, e)
	sess, known, err := a.findSession(e)
	if err != nil {
		return "", err
	}
	hits, err := blocklistHits(a.tx, a.app.ID, a.facts)
	if err != nil {
		return "", err
	}
	facts := a.sessionFacts(e, sess, known, hits)
	if facts.Allowlisted, err = isAllowlisted(a.tx, a.app.ID, e.Kind, e.VendorData); err != nil {
		return "", err
	}
	d := rules.DecideSession(facts, sessionSettings(a.app.Settings))

	before, batch := sess.Status, a.tx.batch
	if batch.defers() {
		if err := batch.countsOf(a.tx, e); err != nil {
			return "", err
		}
	}
	if err := a.recordEvent(e, sess, known, d); err != nil {
		return "", err
	}
	if batch.defers() {
		batch.sessionRecorded(e, known, before, sess.Status)
	} else if err := recountSessions(a.tx, e); err != nil {
		return "", err
	}
	a.updateFeatures(e)
	var changed []string
	if d.Current {
		changed = a.updateProfile(e, d.Recorded)
	}
	if e.FirstSessionAt == nil || a.eventAt.Before(*e.FirstSessionAt) {
		e.FirstSessionAt = &a.eventAt
	}
	if e.LastSessionAt == nil || a.eventAt.After(*e.LastSessionAt) {
		e.LastSessionAt = &a.eventAt
	}
	e.LastActivityAt = &w.now
	if d.Current {
		if err := a.announce(w, e, sess, !known, d.Reason); err != nil {
			return "", err
		}
	}
	if len(changed) > 0 {
		if err := w.dataUpdated(changed); err != nil {
			return "", err
		}
		if err := w.activity(ActivityProfileUpdated, map[string]any{"changed_fields": changed, "session_id": sess.SessionID}); err != nil {
			return "", err
		}
	}
	if d.Transition != nil {
		if err := w.transition(*d.Transition, "system"); err != nil {
			return "", err
		}
	}
	if err := applyCountryLists(a.tx, w, e, changed); err != nil {
		return "", err
	}
	if err := a.afterSessionEvent(w, e, sess, d.Current, hits, changed); err != nil {
		return "", err
	}
	if err := w.save(); err != nil {
		return "", err
	}
	if d.Current {
		return SessionCurrent, nil
	}
	return SessionHistory, nil
}

// findSession reads the session of the event, if Standing knows it (from what its batch
// read up front when the batch knows), or returns a new one.
func (a *sessionApply) findSession(e *Entity) (*Session, bool, error) {
	if batched, known := a.tx.batch.session(e, a.in.SessionID); known {
		if batched == nil {
			return a.newSession(e), false, nil
		}
		return batched, true, nil
	}
	var sess Session
	err := a.tx.Where("entity_id = ? AND session_id = ?", e.ID, a.in.SessionID).Take(&sess).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return a.newSession(e), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read session: %w", err)
	}
	return &sess, true, nil
}

// newSession is the event's session of e as its first event makes it.
func (a *sessionApply) newSession(e *Entity) *Session {
	return &Session{
		ID: newID(), ApplicationID: a.app.ID, EntityID: e.ID, SessionID: a.in.SessionID, Kind: a.in.Kind,
		CreatedAt: a.tx.Now(), Metadata: map[string]any{}, Decision: map[string]any{},
		Options: map[string]any{}, Upstream: map[string]any{},
	}
}

// sessionFacts are the facts DecideSession decides on.
func (a *sessionApply) sessionFacts(e *Entity, sess *Session, known bool, hits []rules.Hit) rules.SessionFacts {
	f := rules.SessionFacts{
		EntityStatus: e.Status, Known: known, SessionID: a.in.SessionID, WorkflowID: a.in.WorkflowID,
		Reported: a.in.Status, EventAt: a.eventAt, Blocklisted: hits,
	}
	if f.WorkflowID == "" {
		f.WorkflowID = sess.WorkflowID
	}
	if e.StatusChangedAt != nil {
		f.StatusSince = *e.StatusChangedAt
	}
	f.StatusEffectiveAt = f.StatusSince
	if e.StatusEffectiveAt != nil {
		f.StatusEffectiveAt = *e.StatusEffectiveAt
	}
	if known {
		f.KnownSince, f.CurrentAt, f.CurrentReported = sess.CreatedAt, sess.StatusAt, sess.ReportedStatus
	}
	return f
}

// recordEvent adds the event to its session's history, creating the session on its
// first event, and makes it the session's current status when the decision says so.
func (a *sessionApply) recordEvent(e *Entity, sess *Session, known bool, d rules.SessionDecision) error {
	decision, faceID := scrubDecision(a.in.Decision)
	if d.Current {
		sess.Status, sess.ReportedStatus, sess.StatusReason, sess.StatusAt = d.Recorded, a.in.Status, d.Reason, a.eventAt
		if a.in.WorkflowID != "" {
			sess.WorkflowID = a.in.WorkflowID
		}
		if a.in.Decision != nil {
			sess.Decision = decision
		}
		if a.in.Metadata != nil {
			sess.Metadata = a.in.Metadata
		}
		if a.in.Upstream != nil {
			sess.Upstream = a.in.Upstream
		}
	}
	sess.Options, sess.Upstream = orEmpty(sess.Options), orEmpty(sess.Upstream)
	if faceID != "" {
		sess.FaceID = &faceID
	}
	sess.UpdatedAt = a.tx.Now()
	switch {
	case a.tx.batch.defers():
		a.tx.rows.deferSession(sess, !known) // written at the transaction's end
	case known:
		if err := a.tx.Save(sess).Error; err != nil {
			return fmt.Errorf("save session: %w", err)
		}
	default: // not an update that finds no row, then an insert
		if err := a.tx.Create(sess).Error; err != nil {
			return fmt.Errorf("save session: %w", err)
		}
	}
	a.tx.batch.sessionWritten(sess)
	if d.Current && known {
		// One event of a session's history is its current status: among those stored
		// (none for a session this transaction creates), and among those this
		// transaction writes at its end.
		if !a.tx.rows.newSessions[sess] {
			err := a.tx.Model(&SessionEvent{}).Where("session_pk = ? AND current", sess.ID).Update("current", false).Error
			if err != nil {
				return fmt.Errorf("update session history: %w", err)
			}
		}
		for _, ev := range a.tx.rows.sessionEvents {
			if ev.SessionPK == sess.ID {
				ev.Current = false
			}
		}
	}
	inboxID := a.inboxID
	a.tx.rows.sessionEvents = append(a.tx.rows.sessionEvents, &SessionEvent{ID: newID(), SessionPK: sess.ID,
		InboxID: &inboxID, ReportedStatus: a.in.Status, Status: d.Recorded, Reason: d.Reason, EventAt: a.eventAt,
		Current: d.Current, ReceivedAt: a.tx.Now()})
	return nil
}

// announce writes the events of a session whose current status changed, and its
// timeline entry (session linked or updated).
func (a *sessionApply) announce(w *entityWriter, e *Entity, sess *Session, isNew bool, reason string) error {
	withData := a.in.Decision != nil || a.in.Metadata != nil
	if err := sessionEvents(w, e, sess, a.eventAt, withData); err != nil {
		return err
	}
	typ := ActivitySessionUpdated
	if isNew {
		typ = ActivitySessionLinked
	}
	details := map[string]any{"session_id": sess.SessionID, "status": sess.Status, "workflow_id": sess.WorkflowID}
	if reason != "" {
		details["reason"] = reason
	}
	return w.activity(typ, details)
}

// recountSessions recomputes the entity's counters from its sessions' current statuses,
// so that duplicates and arrival order cannot skew them.
func recountSessions(tx *txn, e *Entity) error {
	c, err := countSessions(tx, e.ID)
	if err != nil {
		return err
	}
	c.set(e)
	return nil
}

// updateFeatures sets each reported feature whose event is the latest for it.
func (a *sessionApply) updateFeatures(e *Entity) {
	if e.Features == nil {
		e.Features = map[string]string{}
	}
	if e.FeaturesAt == nil {
		e.FeaturesAt = map[string]int64{}
	}
	at := a.eventAt.Unix()
	for feature, status := range a.facts.Features {
		prevAt, seen := e.FeaturesAt[feature]
		if seen && (at < prevAt || (at == prevAt && status <= e.Features[feature])) {
			continue
		}
		e.Features[feature] = status
		e.FeaturesAt[feature] = at
	}
}

// updateProfile copies the profile fields of an approved session that is the latest
// approved one by upstream time, and returns the fields that changed.
func (a *sessionApply) updateProfile(e *Entity, recorded string) []string {
	if recorded != rules.SessionApproved || len(a.facts.Profile) == 0 {
		return nil
	}
	if e.ProfileAt != nil && a.eventAt.Before(*e.ProfileAt) {
		return nil
	}
	e.ProfileAt = &a.eventAt
	var changed []string
	for _, field := range ProfileFields(e.Kind) {
		v, ok := a.facts.Profile[field]
		if !ok {
			continue
		}
		p := e.profileField(field)
		if *p != nil && **p == v {
			continue
		}
		value := v
		*p = &value
		changed = append(changed, field)
	}
	return changed
}

// sessionEvents writes status.updated (and business_session.status.updated for
// businesses) for a session whose current status changed, and data.updated when the
// event also brought the session's decision or metadata (withData).
func sessionEvents(w *entityWriter, e *Entity, sess *Session, eventAt time.Time, withData bool) error {
	// The stored decision, without the face biometric id: event bodies are kept (and
	// logged with every delivery attempt) beyond the entity's deletion.
	fields := map[string]any{
		"session_id":      sess.SessionID,
		"status":          sess.Status,
		"reported_status": sess.ReportedStatus,
		"reason":          sess.StatusReason,
		"vendor_data":     e.VendorData,
		"uuid":            e.ID,
		"session_kind":    sess.Kind,
		"workflow_id":     sess.WorkflowID,
		"decision":        sess.Decision,
		"metadata":        sess.Metadata,
		"timestamp":       eventAt.Unix(),
	}
	if err := w.event(EventStatusUpdated, fields); err != nil {
		return err
	}
	if e.Kind == KindBusiness {
		if err := w.event(EventBusinessSessionStatusUpdated, fields); err != nil {
			return err
		}
	}
	if withData {
		// The session's data (its decision or metadata) changed with its status.
		return w.event(EventDataUpdated, fields)
	}
	return nil
}

// eraseFaceIDs erases the face biometric ids of the sessions of deleted entities.
func eraseFaceIDs(tx *txn, entities []Entity) error {
	ids := make([]string, len(entities))
	for i := range entities {
		ids[i] = entities[i].ID
	}
	return tx.Model(&Session{}).Where("entity_id IN ?", ids).Update("face_id", nil).Error
}
