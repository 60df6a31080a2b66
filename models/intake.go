package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Intake group commit: concurrent intake requests share one transaction and one
// multi-row insert instead of each paying for its own commit. A request waits only while
// the batch before it commits (there is no timer): under light load a batch holds one
// row, under heavy load up to maxIntakeBatch, and every request is answered only after
// the commit that stored its row.
const (
	// intakeCommitters is how many batches may commit at once.
	intakeCommitters = 4
	// maxIntakeBatch bounds the rows of one insert.
	maxIntakeBatch = 64
	// intakeCommitTimeout bounds one batch's transaction; it does not depend on any one
	// request's context, so that a request that goes away does not fail the others.
	intakeCommitTimeout = 10 * time.Second
)

// errStoreClosed means the store was closed while a request waited for a batch.
var errStoreClosed = errors.New("the store is closed")

// intakeRequest is one row waiting for a batch, and where its outcome goes.
type intakeRequest struct {
	item *InboxItem
	done chan intakeResult
}

// intakeResult says whether the row was inserted or its dedup key was already taken.
type intakeResult struct {
	inserted bool
	err      error
}

// intakeBatcher runs the committers.
type intakeBatcher struct {
	db       *gorm.DB
	requests chan intakeRequest
	quit     chan struct{}
	wg       sync.WaitGroup
}

func newIntakeBatcher(db *gorm.DB) *intakeBatcher {
	b := &intakeBatcher{db: db, requests: make(chan intakeRequest), quit: make(chan struct{})}
	for range intakeCommitters {
		b.wg.Go(b.run)
	}
	return b
}

// close stops the committers once the batches in flight are done.
func (b *intakeBatcher) close() {
	close(b.quit)
	b.wg.Wait()
}

// run takes a request, adds whatever else is already waiting, and commits the batch.
func (b *intakeBatcher) run() {
	for {
		var batch []intakeRequest
		select {
		case <-b.quit:
			return
		case r := <-b.requests:
			batch = append(batch, r)
		}
	drain:
		for len(batch) < maxIntakeBatch {
			select {
			case r := <-b.requests:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		b.commit(batch)
	}
}

// commit inserts the batch's rows in one statement; a row whose dedup key is taken
// (by an earlier request or by another row of the batch) is skipped and reported.
func (b *intakeBatcher) commit(batch []intakeRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), intakeCommitTimeout)
	defer cancel()
	inserted := map[string]bool{}
	err := b.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var sql strings.Builder
		sql.WriteString(`INSERT INTO inbox (id, application_id, task_type, dedup_key, payload, state, attempts, last_error, created_at, enqueued_at) VALUES `)
		args := make([]any, 0, 10*len(batch))
		for i, r := range batch {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			it := r.item
			args = append(args, it.ID, it.ApplicationID, it.TaskType, it.DedupKey, it.Payload, it.State,
				it.Attempts, it.LastError, it.CreatedAt, it.EnqueuedAt)
		}
		sql.WriteString(` ON CONFLICT (application_id, task_type, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING RETURNING id`)
		var ids []string
		if err := tx.Raw(sql.String(), args...).Scan(&ids).Error; err != nil {
			return err
		}
		for _, id := range ids {
			inserted[id] = true
		}
		return nil
	})
	if err != nil && len(batch) > 1 {
		// One row the database refuses must not fail the requests it shares a batch
		// with: each row goes again on its own.
		for _, r := range batch {
			b.commit([]intakeRequest{r})
		}
		return
	}
	if err != nil {
		err = fmt.Errorf("store an intake row: %w", err)
	}
	for _, r := range batch {
		r.done <- intakeResult{inserted: err == nil && inserted[r.item.ID], err: err}
	}
}

// insert stores item through a batch and reports whether it was inserted (false: its
// dedup key was taken). It returns once the batch has committed, or with ctx's error
// when ctx ends first (the row may then be stored or not; a retry finds it by its
// dedup key).
func (b *intakeBatcher) insert(ctx context.Context, item *InboxItem) (bool, error) {
	r := intakeRequest{item: item, done: make(chan intakeResult, 1)}
	select {
	case b.requests <- r:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-b.quit:
		return false, errStoreClosed
	}
	select {
	case res := <-r.done:
		return res.inserted, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// ingestBatched stores an intake row of taskType with dedup key through a shared
// commit, has its job enqueued after that commit, and returns it; the same key again
// returns the stored row and duplicate true (its job enqueued again while it is pending).
func (s *Store) ingestBatched(ctx context.Context, appID, taskType, key string, payload any) (*InboxItem, bool, error) {
	item, err := newInboxItem(appID, taskType, payload, s.Now())
	if err != nil {
		return nil, false, err
	}
	item.DedupKey = &key
	inserted, err := s.intake.insert(ctx, item)
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
