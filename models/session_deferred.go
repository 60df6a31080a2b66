package models

import (
	"fmt"

	"gorm.io/gorm/clause"

	"github.com/standinghq/standing/rules"
)

// Deferred writes of a batch of session events (PostgreSQL): the sessions and entities
// the batch's events change are written once each, at the end of the transaction, with
// one multi-row upsert per table, instead of one statement per event; the counters of
// an entity follow its sessions' statuses in memory, from one grouped count per batch,
// instead of a count per event. Nothing in the batch's transaction reads a session or
// an entity back from its table after an event changed it: each event starts from what
// the batch holds (batchReads).

// sessionCounts are an entity's counters of sessions: all, and those whose current
// status is approved, declined, in review.
type sessionCounts struct {
	Total, Approved, Declined, InReview int
}

// add counts a session of status n times (n is 1 or -1).
func (c *sessionCounts) add(status string, n int) {
	switch status {
	case rules.SessionApproved:
		c.Approved += n
	case rules.SessionDeclined:
		c.Declined += n
	case rules.SessionInReview:
		c.InReview += n
	}
}

// set copies the counters into e.
func (c sessionCounts) set(e *Entity) {
	e.SessionCount, e.ApprovedCount, e.DeclinedCount, e.InReviewCount = c.Total, c.Approved, c.Declined, c.InReview
}

// countSessionsSQL is the select list that counts an entity's sessions by status.
const countSessionsSQL = "COUNT(*) AS total, " +
	"COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS approved, " +
	"COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS declined, " +
	"COALESCE(SUM(CASE WHEN status = ? THEN 1 ELSE 0 END), 0) AS in_review"

// readCounts reads the counters of the locked entityIDs' sessions in one statement (an
// entity without sessions counts zero).
func (r *batchReads) readCounts(tx *txn, entityIDs []string) error {
	var rows []struct {
		EntityID                            string
		Total, Approved, Declined, InReview int
	}
	err := tx.Model(&Session{}).Select("entity_id, "+countSessionsSQL,
		rules.SessionApproved, rules.SessionDeclined, rules.SessionInReview).
		Where("entity_id IN ?", entityIDs).Group("entity_id").Find(&rows).Error
	if err != nil {
		return fmt.Errorf("count the batch's sessions: %w", err)
	}
	for _, id := range entityIDs {
		r.counts[id] = &sessionCounts{}
	}
	for _, row := range rows {
		r.counts[row.EntityID] = &sessionCounts{row.Total, row.Approved, row.Declined, row.InReview}
	}
	return nil
}

// defers reports whether the transaction defers its session and entity writes to its
// end (a batch on PostgreSQL).
func (r *batchReads) defers() bool { return r != nil && r.deferred }

// countsOf makes sure the batch counts e's sessions, before e's first event in the
// batch records its session: an entity the batch did not count up front (one it found
// only when it locked it) is counted from its table, which then holds all its sessions.
func (r *batchReads) countsOf(tx *txn, e *Entity) error {
	if r.counts[e.ID] != nil {
		return nil
	}
	c, err := countSessions(tx, e.ID)
	if err != nil {
		return err
	}
	r.counts[e.ID] = &c
	return nil
}

// countSessions counts the sessions of entity entityID in its table.
func countSessions(tx *txn, entityID string) (sessionCounts, error) {
	var c sessionCounts
	err := tx.Model(&Session{}).Where("entity_id = ?", entityID).
		Select(countSessionsSQL, rules.SessionApproved, rules.SessionDeclined, rules.SessionInReview).
		Find(&c).Error
	if err != nil {
		return c, fmt.Errorf("count sessions: %w", err)
	}
	return c, nil
}

// sessionRecorded keeps e's counters in step with a session whose current status went
// from before (known: the session existed; otherwise it is new) to after, as a recount
// of e's sessions would find them once the batch's writes are in.
func (r *batchReads) sessionRecorded(e *Entity, known bool, before, after string) {
	c := r.counts[e.ID]
	if known {
		c.add(before, -1)
	} else {
		c.Total++
	}
	c.add(after, 1)
	c.set(e)
}

// upserts are the rows of one table a transaction writes at its end: each row once, in
// the order first recorded.
type upserts[T any] struct {
	rows []*T
	seen map[*T]bool
}

// add records row (again: a no-op).
func (u *upserts[T]) add(row *T) {
	if u.seen == nil {
		u.seen = map[*T]bool{}
	}
	if !u.seen[row] {
		u.seen[row] = true
		u.rows = append(u.rows, row)
	}
}

// deferSession records a session the transaction writes at its end; isNew: it is not in
// its table yet.
func (p *pendingRows) deferSession(sess *Session, isNew bool) {
	p.sessions.add(sess)
	if isNew {
		if p.newSessions == nil {
			p.newSessions = map[*Session]bool{}
		}
		p.newSessions[sess] = true
	}
}

// sessionColumns are the columns of a session that change after its creation. Neither
// list may name a column of a unique index that is not partial (a key column): an
// upsert that sets one locks its row FOR UPDATE, which blocks other transactions'
// foreign-key checks (FOR KEY SHARE), where the entity's lock and these upserts now
// take FOR NO KEY UPDATE.
var sessionColumns = []string{"workflow_id", "status", "reported_status", "status_reason", "status_at",
	"decision", "metadata", "options", "upstream", "face_id", "url", "updated_at"}

// flushUpserts writes the deferred sessions and entities, one multi-row upsert per
// table (an existing row is updated in place, a new session inserted).
func (t *txn) flushUpserts() error {
	r := &t.rows
	for _, table := range []struct {
		rows    any
		n       int
		columns []string
		what    string
	}{
		{r.sessions.rows, len(r.sessions.rows), sessionColumns, "sessions"},
		{r.entities.rows, len(r.entities.rows), entityColumns, "entities"},
	} {
		if table.n == 0 {
			continue
		}
		err := t.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}},
			DoUpdates: clause.AssignmentColumns(table.columns)}).CreateInBatches(table.rows, insertBatchRows).Error
		if err != nil {
			return fmt.Errorf("write the batch's %s: %w", table.what, err)
		}
	}
	return nil
}
