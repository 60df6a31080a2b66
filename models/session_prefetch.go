package models

import (
	"fmt"
	"strings"

	"gorm.io/gorm"

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
// another transaction holds) and which others exist, the sessions of the locked
// entities that its events name, and which of them are on an allowlist. Each is read
// after the entity's lock, as the per-event reads are. Events update what the batch
// knows as they write, so that the next event of an entity starts from what the last
// one wrote, and an entity the batch creates is known to have no other session.
type batchReads struct {
	// entities are the entities this transaction holds, as the last event left them.
	entities map[entityRef]*Entity
	// live are the entities that existed when the batch began; vendorLocked those that
	// did not and whose vendor_data lock this transaction holds (to create them).
	live, vendorLocked map[entityRef]bool
	// sessionsKnown are the entities whose sessions named by the batch are in sessions
	// (a session missing there does not exist).
	sessionsKnown map[entityRef]bool
	sessions      map[sessionRef]*Session
	// allowKnown are the entities whose allowlisting is in allowlisted.
	allowKnown, allowlisted map[entityRef]bool
	// deferred: the batch writes its sessions and entities at its end, and keeps the
	// counters of its entities' sessions in counts, by entity id (session_deferred.go).
	deferred bool
	counts   map[string]*sessionCounts
}

func newBatchReads() *batchReads {
	return &batchReads{entities: map[entityRef]*Entity{}, live: map[entityRef]bool{}, vendorLocked: map[entityRef]bool{},
		sessionsKnown: map[entityRef]bool{}, sessions: map[sessionRef]*Session{},
		allowKnown: map[entityRef]bool{}, allowlisted: map[entityRef]bool{}, counts: map[string]*sessionCounts{}}
}

// prefetchBatch locks the live entities of queued that no other transaction holds,
// notes which others exist, and reads the locked ones' sessions named by queued and
// their allowlisting. On SQLite (one writer, no row locks) it reads nothing: every
// event reads its own.
func (s *Store) prefetchBatch(tx *txn, queued []*queuedSession) (*batchReads, error) {
	r := newBatchReads()
	if s.dialect != Postgres || len(queued) == 0 {
		return r, nil
	}
	r.deferred = true
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
		found, existing, err := lockLiveEntities(tx, appID, pairs)
		if err != nil {
			return nil, err
		}
		for _, e := range found {
			ref := entityRef{appID, entityKey{e.Kind, e.VendorData}}
			r.entities[ref], r.sessionsKnown[ref], r.allowKnown[ref] = e, true, true
			entityIDs = append(entityIDs, e.ID)
		}
		for k := range existing {
			r.live[entityRef{appID, k}] = true
		}
	}
	if len(entityIDs) == 0 {
		return r, nil
	}
	if err := r.readSessions(tx, queued); err != nil {
		return nil, err
	}
	if err := r.readCounts(tx, entityIDs); err != nil {
		return nil, err
	}
	return r, r.readAllowlisted(tx, keys)
}

// lockLiveEntities locks, without waiting, the live entities of appID named by pairs
// ((kind, vendor_data) each) that no other transaction holds and, when some were not
// locked, names every live one of pairs (a live one not locked is held by another
// transaction; one not named does not exist).
func lockLiveEntities(tx *txn, appID string, pairs [][]any) ([]*Entity, map[entityKey]bool, error) {
	named, args := pairsCondition("kind", "vendor_data", pairs)
	q := tx.Model(&Entity{}).Where("application_id = ? AND deleted_at IS NULL", appID).Where(named, args...)
	var found []*Entity
	if err := skipLocked(q.Session(&gorm.Session{})).Find(&found).Error; err != nil {
		return nil, nil, fmt.Errorf("lock entities: %w", err)
	}
	live := map[entityKey]bool{}
	if len(found) < len(pairs) {
		var existing []entityKey
		if err := q.Session(&gorm.Session{}).Select("kind, vendor_data").Find(&existing).Error; err != nil {
			return nil, nil, fmt.Errorf("find entities: %w", err)
		}
		for _, k := range existing {
			live[k] = true
		}
	}
	return found, live, nil
}

// readSessions reads the sessions that queued names of the entities the batch locked,
// as (entity, session id) pairs joined to the sessions' unique index: one probe per
// pair. (Two IN lists, entity_id IN … AND session_id IN …, made PostgreSQL either scan
// the whole table, 1.8 ms at 14,000 sessions and growing with it, or probe every
// combination of the two lists, 64 × 64.)
func (r *batchReads) readSessions(tx *txn, queued []*queuedSession) error {
	seen := map[sessionRef]bool{}
	var entityIDs, sessionIDs []string
	for _, q := range queued {
		e := r.entities[entityRef{q.item.ApplicationID, entityKey{q.in.Kind, q.in.VendorData}}]
		if e == nil {
			continue // not locked by the batch: its events read their own
		}
		ref := sessionRef{e.ID, q.in.SessionID}
		if !seen[ref] {
			seen[ref] = true
			entityIDs, sessionIDs = append(entityIDs, e.ID), append(sessionIDs, q.in.SessionID)
		}
	}
	if len(entityIDs) == 0 {
		return nil
	}
	var sessions []*Session
	err := tx.Raw(`SELECT s.* FROM sessions AS s
		JOIN unnest(CAST(? AS uuid[]), CAST(? AS text[])) AS k(entity_id, session_id)
		ON s.entity_id = k.entity_id AND s.session_id = k.session_id`,
		arrayLiteral(entityIDs), arrayLiteral(sessionIDs)).Find(&sessions).Error
	if err != nil {
		return fmt.Errorf("read the batch's sessions: %w", err)
	}
	for _, sess := range sessions {
		r.sessions[sessionRef{sess.EntityID, sess.SessionID}] = sess
	}
	return nil
}

// arrayLiteral writes values as a PostgreSQL array literal of quoted elements (any
// text, commas, braces and quotes included), for a parameter cast to an array type.
func arrayLiteral(values []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, c := range []byte(v) {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// readAllowlisted reads which prefetched entities are on an allowlist (entry type kind,
// value vendor_data).
func (r *batchReads) readAllowlisted(tx *txn, keys map[string][][]any) error {
	for appID, pairs := range keys {
		var on []struct{ EntryType, Value string }
		named, args := pairsCondition("entry_type", "value", pairs)
		err := tx.Model(&ListEntry{}).Select("entry_type, value").
			Where("application_id = ? AND list_type = ?", appID, rules.ListAllowlist).Where(named, args...).
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
// the batch knows, sess is nil when there is no such session.
func (r *batchReads) session(e *Entity, sessionID string) (sess *Session, found bool) {
	if r == nil {
		return nil, false
	}
	// A session the batch read or wrote (a deferred write is not in its table yet).
	if sess := r.sessions[sessionRef{e.ID, sessionID}]; sess != nil {
		return sess, true
	}
	if !r.sessionsKnown[entityRef{e.ApplicationID, entityKey{e.Kind, e.VendorData}}] {
		return nil, false
	}
	return nil, true
}

// sessionWritten records what an event wrote of a session.
func (r *batchReads) sessionWritten(sess *Session) {
	if r != nil {
		r.sessions[sessionRef{sess.EntityID, sess.SessionID}] = sess
	}
}

// entityCreated records that the batch created e: it has no session but the batch's.
func (r *batchReads) entityCreated(e *Entity) {
	if r != nil {
		r.sessionsKnown[entityRef{e.ApplicationID, entityKey{e.Kind, e.VendorData}}] = true
		r.counts[e.ID] = &sessionCounts{}
	}
}

// holdsVendorData reports whether the batch found no live entity kind/vendorData of
// appID and holds its vendor_data lock.
func (r *batchReads) holdsVendorData(appID, kind, vendorData string) bool {
	return r != nil && r.vendorLocked[entityRef{appID, entityKey{kind, vendorData}}]
}

// isAllowlisted returns whether the batch knows if the entity kind/vendorData of appID
// is on an allowlist (known), and if so whether it is.
func (r *batchReads) isAllowlisted(appID, kind, vendorData string) (on, known bool) {
	ref := entityRef{appID, entityKey{kind, vendorData}}
	if r == nil || !r.allowKnown[ref] {
		return false, false
	}
	return r.allowlisted[ref], true
}

// allowlistRead records an allowlist lookup made under the entity's lock or its
// vendor_data lock. The batch answers later lookups of the entity from it: an allowlist
// entry that commits while the batch runs (adding one takes neither lock) counts from the
// next batch on, as it would for events the batch had applied before the entry.
func (r *batchReads) allowlistRead(appID, kind, vendorData string, on bool) {
	if r != nil {
		ref := entityRef{appID, entityKey{kind, vendorData}}
		r.allowKnown[ref], r.allowlisted[ref] = true, on
	}
}

// pairsCondition is the condition that (first, second) is one of pairs ((first value,
// second value) each), written as one "second IN (…)" per first value: PostgreSQL plans
// a row-value IN list as one OR branch and one index scan per pair (over a millisecond
// of planning for 64 pairs, and a sequential scan on a small table), a scalar IN list as
// one index scan.
func pairsCondition(first, second string, pairs [][]any) (string, []any) {
	if len(pairs) == 0 {
		return "1 = 0", nil
	}
	var firsts []any
	seconds := map[any][]any{}
	for _, p := range pairs {
		if _, ok := seconds[p[0]]; !ok {
			firsts = append(firsts, p[0])
		}
		seconds[p[0]] = append(seconds[p[0]], p[1])
	}
	branches := make([]string, len(firsts))
	args := make([]any, 0, 2*len(firsts))
	for i, f := range firsts {
		branches[i] = "(" + first + " = ? AND " + second + " IN ?)"
		args = append(args, f, seconds[f])
	}
	return "(" + strings.Join(branches, " OR ") + ")", args
}
