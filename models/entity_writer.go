package models

import (
	"time"

	"github.com/standinghq/standing/rules"
)

// entityWriter records, inside the transaction that changes an entity, everything the
// change owes: audit records, timeline entries and outbox events numbered by the entity's
// event sequence. save writes the entity's changed columns with the new sequence. Its
// time is the transaction's, read after the entity's lock.
type entityWriter struct {
	tx  *txn
	e   *Entity
	now time.Time
}

func newEntityWriter(tx *txn, e *Entity) *entityWriter {
	now := tx.Now()
	e.UpdatedAt = now
	return &entityWriter{tx: tx, e: e, now: now}
}

// audit writes one status audit record: the change, its reason and actor, and the rule
// and inputs of the decision that made it, verbatim. It is linked into the application's
// hash chain when the transaction ends (chain.go).
func (w *entityWriter) audit(from *string, to, reason, actor, rule string, inputs map[string]any) error {
	inputs, err := normaliseInputs(inputs)
	if err != nil {
		return err
	}
	id, vendorData, kind := w.e.ID, w.e.VendorData, w.e.Kind
	return pendingAudit(w.tx, &StatusChange{
		ID:            newID(),
		ApplicationID: w.e.ApplicationID,
		EntityID:      &id,
		VendorData:    &vendorData,
		Kind:          &kind,
		FromStatus:    from,
		ToStatus:      to,
		Reason:        reason,
		Actor:         actor,
		Rule:          rule,
		Inputs:        inputs,
		CreatedAt:     w.now,
	})
}

// event writes an outbox event about the entity with the next sequence number.
func (w *entityWriter) event(typ string, fields map[string]any) error {
	w.e.EventSequence++
	_, err := insertEvent(w.tx, w.e.ApplicationID, &w.e.ID, typ, w.e.EventSequence, w.now, fields)
	return err
}

// identity are the fields every entity event carries.
func (w *entityWriter) identity() map[string]any {
	return map[string]any{
		"vendor_data": w.e.VendorData,
		"uuid":        w.e.ID,
		"kind":        w.e.Kind,
		"status":      w.e.Status,
	}
}

// dataUpdated announces a change of the entity's data (kind.data.updated).
func (w *entityWriter) dataUpdated(changed []string) error {
	fields := w.identity()
	fields["entity"] = w.e.Resource()
	fields["changed_fields"] = changed
	return w.event(w.e.Kind+"."+EventDataUpdated, fields)
}

// statusUpdated announces a status transition (kind.status.updated).
func (w *entityWriter) statusUpdated(previous, reason, actor, rule string) error {
	fields := w.identity()
	fields["previous_status"] = previous
	fields["reason"] = reason
	fields["actor"] = actor
	fields["rule"] = rule
	return w.event(w.e.Kind+".status.updated", fields)
}

// activity adds a timeline entry and announces it (activity.created).
func (w *entityWriter) activity(typ string, details map[string]any) error {
	a := &Activity{
		ID:            newID(),
		ApplicationID: w.e.ApplicationID,
		EntityID:      w.e.ID,
		Type:          typ,
		Details:       details,
		CreatedAt:     w.now,
	}
	w.tx.rows.activities = append(w.tx.rows.activities, a)
	fields := w.identity()
	fields["activity"] = a.Resource()
	return w.event(EventActivityCreated, fields)
}

// entityColumns are the columns of an entity that change after creation; save writes
// them all, so that no change to the struct can be forgotten. No key column (see
// sessionColumns).
var entityColumns = []string{
	"status", "status_reason", "status_changed_at", "status_effective_at", "status_requested_at", "session_count",
	"approved_count", "declined_count", "in_review_count", "features", "features_at", "metadata", "event_sequence",
	"profile_at", "first_session_at", "last_session_at", "last_activity_at", "updated_at",
	"deleted_at", "full_name", "display_name", "date_of_birth", "portrait_image", "nationality",
	"document_number", "email", "phone", "legal_name", "registration_number", "country_code", "region",
	"risk_score", "risk_signals",
}

// save writes the entity's mutable columns, with its event sequence and update time.
func (w *entityWriter) save() error {
	w.e.UpdatedAt = w.now
	if w.tx.batch.defers() {
		w.tx.rows.entities.add(w.e) // written at the transaction's end
		return nil
	}
	return w.tx.Model(w.e).Select(entityColumns).Updates(w.e).Error
}

// created records the creation of an entity as c decided it: its first audit record, the
// data event with the fields set, and the timeline entry (source names the path that
// created it), then saves the event sequence.
func (w *entityWriter) created(changed []string, c rules.Creation, source string) error {
	if err := w.recordCreation(changed, c, source); err != nil {
		return err
	}
	return w.save()
}

// recordCreation is created without the save, for a caller that saves the entity itself
// before its transaction ends (the session event that created it).
func (w *entityWriter) recordCreation(changed []string, c rules.Creation, source string) error {
	if err := w.audit(nil, w.e.Status, c.Reason, c.Actor, c.Rule, c.Inputs); err != nil {
		return err
	}
	if err := w.dataUpdated(changed); err != nil {
		return err
	}
	details := map[string]any{"status": w.e.Status, "actor": c.Actor, "source": source}
	if c.Rule != "" {
		details["rule"] = c.Rule
	}
	if err := w.activity(ActivityCreated, details); err != nil {
		return err
	}
	if w.e.Status == rules.EntityBlocked {
		if err := addToSystemBlocklist(w.tx, w.e, w.now); err != nil {
			return err
		}
	}
	if rules.IsListRule(c.Rule) {
		// Created on a list: the match is a risk signal.
		weights, err := riskWeights(w.tx, w.e.ApplicationID)
		if err != nil {
			return err
		}
		w.setSignal(weights, rules.SignalListMatch, rules.ListMatchSource(c.Rule, c.Inputs),
			map[string]any{"rule": c.Rule, "status": w.e.Status})
	}
	return nil
}

// transition moves the entity as t says and records it: status_reason, the audit record
// (with t's rule and inputs), kind.status.updated with previous_status, the timeline
// entry, and the system blocklist (an entity entering BLOCKED is added to its kind's
// system blocklist, one leaving BLOCKED is removed from it). The caller saves the entity.
func (w *entityWriter) transition(t rules.Transition, actor string) error {
	previous := w.e.Status
	reason := t.Reason
	w.e.Status = t.To
	w.e.StatusReason = &reason
	w.e.StatusChangedAt = &w.now
	effective := w.now
	if t.EffectiveAt != nil {
		effective = t.EffectiveAt.UTC()
	}
	w.e.StatusEffectiveAt = &effective
	w.e.LastActivityAt = &w.now
	if err := w.audit(&previous, t.To, reason, actor, t.Rule, t.Inputs); err != nil {
		return err
	}
	if err := w.statusUpdated(previous, reason, actor, t.Rule); err != nil {
		return err
	}
	details := map[string]any{"from": previous, "to": t.To, "reason": reason, "actor": actor}
	if t.Rule != "" {
		details["rule"] = t.Rule
	}
	if err := w.activity(ActivityStatusChanged, details); err != nil {
		return err
	}
	switch {
	case t.To == rules.EntityBlocked:
		return addToSystemBlocklist(w.tx, w.e, w.now)
	case previous == rules.EntityBlocked:
		return removeFromSystemBlocklist(w.tx, w.e)
	}
	return nil
}
