package models

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"github.com/standinghq/standing/internal/group"
)

// Intake group commit: concurrent intake requests share one transaction and one
// multi-row insert instead of each paying for its own commit (a group). Every request is
// answered only after the commit that stored its row.
const (
	// intakeCommitters is how many batches may commit at once.
	intakeCommitters = 4
	// maxIntakeBatch bounds the rows of one insert.
	maxIntakeBatch = 64
)

// newIntakeGroup returns the group that stores intake rows and reports, for each,
// whether it was inserted (false: its dedup key was already taken).
func newIntakeGroup(db *gorm.DB) *group.Group[*InboxItem, bool] {
	return group.New(intakeCommitters, maxIntakeBatch, func(ctx context.Context, items []*InboxItem) ([]bool, error) {
		return insertIntakeRows(ctx, db, items)
	})
}

// insertIntakeRows inserts rows in one statement (atomic on its own: no transaction
// around it, one round trip); a row whose dedup key is taken (by an earlier request or
// by another row of the batch) is skipped and reported.
func insertIntakeRows(ctx context.Context, db *gorm.DB, items []*InboxItem) ([]bool, error) {
	var sql strings.Builder
	sql.WriteString(`INSERT INTO inbox (id, application_id, task_type, dedup_key, payload, state, attempts, last_error, created_at, enqueued_at) VALUES `)
	args := make([]any, 0, 10*len(items))
	for i, it := range items {
		if i > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, it.ID, it.ApplicationID, it.TaskType, it.DedupKey, it.Payload, it.State,
			it.Attempts, it.LastError, it.CreatedAt, it.EnqueuedAt)
	}
	sql.WriteString(` ON CONFLICT (application_id, task_type, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING RETURNING id`)
	var ids []string
	if err := db.WithContext(ctx).Raw(sql.String(), args...).Find(&ids).Error; err != nil { // Find: Scan formats the SQL for a logger
		return nil, fmt.Errorf("store an intake row: %w", err)
	}
	inserted := make(map[string]bool, len(ids))
	for _, id := range ids {
		inserted[id] = true
	}
	out := make([]bool, len(items))
	for i, it := range items {
		out[i] = inserted[it.ID]
	}
	return out, nil
}

// ingestRow stores an intake row of taskType with dedup key in one statement
// (PostgreSQL), shared with concurrent requests when intake group commit is on, has
// its job enqueued after that commit, and returns it; the same key again returns the
// stored row and duplicate true (its job enqueued again while it is pending).
func (s *Store) ingestRow(ctx context.Context, appID, taskType, key string, payload any) (*InboxItem, bool, error) {
	item, err := newInboxItem(appID, taskType, payload, s.Now())
	if err != nil {
		return nil, false, err
	}
	item.DedupKey = &key
	var inserted bool
	if s.intake != nil {
		inserted, err = s.intake.Do(ctx, item)
	} else {
		var one []bool
		if one, err = insertIntakeRows(ctx, s.db, []*InboxItem{item}); err == nil {
			inserted = one[0]
		}
	}
	if err != nil {
		return nil, false, err
	}
	duplicate := !inserted
	if duplicate {
		item = &InboxItem{}
		err := s.db.WithContext(ctx).Where("application_id = ? AND task_type = ? AND dedup_key = ?", appID, taskType, key).
			Take(item).Error
		if err != nil {
			return nil, false, fmt.Errorf("read the stored event: %w", err)
		}
	}
	if item.State == InboxPending && s.afterCommit != nil {
		s.afterCommit(ctx, Committed{Inbox: []InboxRef{{ID: item.ID, TaskType: item.TaskType}}})
	}
	return item, duplicate, nil
}
