package models

import (
	"fmt"

	"github.com/standinghq/standing/rules"
)

// entityRef names a live entity across applications.
type entityRef struct {
	appID string
	entityKey
}

// sessionRef names one session of one entity.
type sessionRef struct {
	entityID, sessionID string
}

// batchReads are what a batch of session events reads up front, in a few statements
// instead of a few per event (PostgreSQL): the live entities it locked (skipping those
// another transaction holds), the sessions of those entities that its events name, and
// which of those entities are on an allowlist. Each is read after the entity's lock, as
// the per-event reads are. Events update entities and sessions as they write them, so
// that the next event of the batch starts from what the last one wrote.
type batchReads struct {
	// entities are the entities this transaction holds, as the last event left them.
	entities map[entityRef]*Entity
	// prefetched are the entities locked up front, whose sessions and allowlisting are
	// known: a session of theirs missing from sessions does not exist.
	prefetched  map[entityRef]bool
	sessions    map[sessionRef]*Session
	allowlisted map[entityRef]bool
}

// prefetchBatch locks the live entities of queued that no other transaction holds and
// reads their sessions named by queued and their allowlisting. On SQLite (one writer,
// no row locks) it reads nothing: every event reads its own.
func (s *Store) prefetchBatch(tx *txn, queued []*queuedSession) (*batchReads, error) {
	r := &batchReads{entities: map[entityRef]*Entity{}, prefetched: map[entityRef]bool{},
		sessions: map[sessionRef]*Session{}, allowlisted: map[entityRef]bool{}}
	if s.dialect != Postgres || len(queued) == 0 {
		return r, nil
	}
	keys := map[string][][]any{} // application -> (kind, vendor_data) pairs
	seen := map[entityRef]bool{}
	for _, q := range queued {
		ref := entityRef{q.item.ApplicationID, entityKey{q.in.Kind, q.in.VendorData}}
		if !seen[ref] {
			seen[ref] = true
			keys[ref.appID] = append(keys[ref.appID], []any{ref.Kind, ref.VendorData})
		}
	}
	var entityIDs []string
	for appID, pairs := range keys {
		var found []*Entity
		err := skipLocked(tx.Model(&Entity{})).
			Where("application_id = ? AND deleted_at IS NULL AND (kind, vendor_data) IN ?", appID, pairs).
			Find(&found).Error
		if err != nil {
			return nil, fmt.Errorf("lock the batch's entities: %w", err)
		}
		for _, e := range found {
			ref := entityRef{appID, entityKey{e.Kind, e.VendorData}}
			r.entities[ref], r.prefetched[ref] = e, true
			entityIDs = append(entityIDs, e.ID)
		}
	}
	if len(entityIDs) == 0 {
		return r, nil
	}
	if err := r.readSessions(tx, queued, entityIDs); err != nil {
		return nil, err
	}
	return r, r.readAllowlisted(tx, keys)
}

// readSessions reads the sessions of the locked entityIDs that queued names.
func (r *batchReads) readSessions(tx *txn, queued []*queuedSession, entityIDs []string) error {
	names := map[string]bool{}
	var sessionIDs []string
	for _, q := range queued {
		if !names[q.in.SessionID] {
			names[q.in.SessionID] = true
			sessionIDs = append(sessionIDs, q.in.SessionID)
		}
	}
	var sessions []*Session
	if err := tx.Where("entity_id IN ? AND session_id IN ?", entityIDs, sessionIDs).Find(&sessions).Error; err != nil {
		return fmt.Errorf("read the batch's sessions: %w", err)
	}
	for _, sess := range sessions {
		r.sessions[sessionRef{sess.EntityID, sess.SessionID}] = sess
	}
	return nil
}

// readAllowlisted reads which prefetched entities are on an allowlist (entry type kind,
// value vendor_data).
func (r *batchReads) readAllowlisted(tx *txn, keys map[string][][]any) error {
	for appID, pairs := range keys {
		var on []struct{ EntryType, Value string }
		err := tx.Model(&ListEntry{}).Select("entry_type, value").
			Where("application_id = ? AND list_type = ? AND (entry_type, value) IN ?", appID, rules.ListAllowlist, pairs).
			Scan(&on).Error
		if err != nil {
			return fmt.Errorf("look up the batch's allowlists: %w", err)
		}
		for _, row := range on {
			r.allowlisted[entityRef{appID, entityKey{row.EntryType, row.Value}}] = true
		}
	}
	return nil
}

// session returns e's session sessionID as the batch knows it: found reports whether
// the batch knows (e was prefetched), sess is nil when there is no such session.
func (r *batchReads) session(e *Entity, sessionID string) (sess *Session, found bool) {
	if r == nil || !r.prefetched[entityRef{e.ApplicationID, entityKey{e.Kind, e.VendorData}}] {
		return nil, false
	}
	return r.sessions[sessionRef{e.ID, sessionID}], true
}

// sessionWritten records what an event wrote of a session.
func (r *batchReads) sessionWritten(sess *Session) {
	if r != nil {
		r.sessions[sessionRef{sess.EntityID, sess.SessionID}] = sess
	}
}

// isAllowlisted returns whether the batch knows if the entity kind/vendorData of appID
// is on an allowlist (known), and if so whether it is.
func (r *batchReads) isAllowlisted(appID, kind, vendorData string) (on, known bool) {
	ref := entityRef{appID, entityKey{kind, vendorData}}
	if r == nil || !r.prefetched[ref] {
		return false, false
	}
	return r.allowlisted[ref], true
}
