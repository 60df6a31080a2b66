package models

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// InboxRef names an inbox item whose job is to be enqueued: the item's id (the job's task
// id) and the type of the job that applies it.
type InboxRef struct {
	ID       string
	TaskType string
}

// DeliveryRef names a delivery whose job must be enqueued: a first attempt, or (Retry)
// a later one, due At.
type DeliveryRef struct {
	ID            string
	DestinationID string
	Retry         bool
	At            time.Time
}

// Committed is the work one committed transaction made due: inbox items to apply and
// deliveries to attempt.
type Committed struct {
	Inbox      []InboxRef
	Deliveries []DeliveryRef
}

func (c Committed) empty() bool { return len(c.Inbox) == 0 && len(c.Deliveries) == 0 }

// AfterCommit is told, after each commit that made work due, what that work is, so that
// its jobs are enqueued at once. It must not fail the caller: the rows are committed, and
// the relay enqueues whatever the hook could not. ctx is the caller's (its values, not
// necessarily its deadline: the commit already happened).
type AfterCommit func(ctx context.Context, c Committed)

// WithAfterCommit sets the store's after-commit hook (workers implements it: it enqueues
// each job with the row id as task id).
func WithAfterCommit(hook AfterCommit) Option {
	return func(s *Store) { s.afterCommit = hook }
}

// txn is one database transaction of the store, passed to every helper that works in it:
// the gorm handle (embedded, so helpers query through it), the transaction's clock
// reading, and the work it made due, handed to the after-commit hook once it commits.
type txn struct {
	*gorm.DB
	store *Store
	now   time.Time
	due   Committed
	// destinations caches each application's enabled destinations for the fan-out of
	// every event the transaction writes.
	destinations map[string][]Destination
	// audits are the status records the transaction wrote, linked into their
	// application's audit chain just before the commit (chain.go).
	audits []*StatusChange
	// rows are the append-only rows the transaction wrote (events, deliveries, timeline
	// entries, session history), written just before the commit with one COPY per table
	// on PostgreSQL (copy_rows.go), one multi-row insert per table on SQLite. Nothing
	// reads them back in the transaction that writes them.
	rows pendingRows
	// apps caches the applications the transaction read (settings, secrets), by id.
	apps map[string]*Application
	// batch holds what a batch of session events read up front; nil otherwise.
	batch *batchReads
	// conn is the PostgreSQL connection the transaction runs on, for COPY (copy_rows.go);
	// nil on SQLite.
	conn *sql.Conn
}

// pendingRows are rows a transaction inserts at its end, table by table.
type pendingRows struct {
	events        []*OutboxEvent
	deliveries    []*Delivery
	activities    []*Activity
	sessionEvents []*SessionEvent
	// sessions and entities are the rows a batch of session events writes at its end
	// (session_deferred.go); newSessions those of them not in their table yet.
	sessions    upserts[Session]
	entities    upserts[Entity]
	newSessions map[*Session]bool
}

// insertBatchRows bounds the rows of one multi-row insert (PostgreSQL takes at most
// 65,535 parameters in a statement).
const insertBatchRows = 500

// flushRows writes the rows the transaction wrote, in an order their foreign keys
// accept (events before the deliveries of them): the deferred upserts, then the
// append-only rows, with COPY where the transaction can (copy_rows.go).
func (t *txn) flushRows() error {
	if err := t.flushUpserts(); err != nil {
		return err
	}
	write := t.insertPending
	if t.canCopy() {
		write = t.copyPending
	}
	if err := write(); err != nil {
		return err
	}
	t.rows = pendingRows{}
	return nil
}

// insertPending writes the transaction's pending append-only rows with one multi-row
// insert per table (SQLite), in the order copyPending writes them.
func (t *txn) insertPending() error {
	r := &t.rows
	for _, table := range []struct {
		rows any
		n    int
		what string
	}{
		{r.events, len(r.events), "events"},
		{r.deliveries, len(r.deliveries), "deliveries"},
		{r.activities, len(r.activities), "timeline entries"},
		{r.sessionEvents, len(r.sessionEvents), "session history"},
	} {
		if table.n == 0 {
			continue
		}
		if err := t.CreateInBatches(table.rows, insertBatchRows).Error; err != nil {
			return fmt.Errorf("write %s: %w", table.what, err)
		}
	}
	return nil
}

// application returns an application the transaction reads (cached for its length).
func (t *txn) application(id string) (*Application, error) {
	if app, ok := t.apps[id]; ok {
		return app, nil
	}
	var app Application
	if err := t.Where("id = ?", id).Take(&app).Error; err != nil {
		return nil, fmt.Errorf("read application: %w", err)
	}
	if t.apps == nil {
		t.apps = map[string]*Application{}
	}
	t.apps[id] = &app
	return &app, nil
}

// Now is the transaction's time: the store's clock, read once at the first call. Helpers
// call it after the transaction's locks are taken, so that the times written follow the
// order in which changes were applied.
func (t *txn) Now() time.Time {
	if t.now.IsZero() {
		t.now = t.store.Now()
	}
	return t.now
}

// resetClock makes the next Now read the clock again: a transaction that applies
// several inbox items times each item's changes after that item's locks.
func (t *txn) resetClock() { t.now = time.Time{} }

// addInbox inserts an inbox item and has its job enqueued after commit.
func (t *txn) addInbox(item *InboxItem) error {
	if err := t.Create(item).Error; err != nil {
		return fmt.Errorf("store %s job: %w", item.TaskType, err)
	}
	t.enqueue(item)
	return nil
}

// enqueue has the job of a stored inbox item enqueued after commit.
func (t *txn) enqueue(item *InboxItem) {
	t.due.Inbox = append(t.due.Inbox, InboxRef{ID: item.ID, TaskType: item.TaskType})
}

// deliver has the job of a due delivery enqueued after commit.
func (t *txn) deliver(ref DeliveryRef) {
	t.due.Deliveries = append(t.due.Deliveries, ref)
}

// transaction runs fn in one database transaction. Once it commits, the work it made due
// is handed to the after-commit hook.
func (s *Store) transaction(ctx context.Context, fn func(tx *txn) error) error {
	t := &txn{store: s}
	err := s.inTransaction(ctx, t, func(db *gorm.DB) error {
		t.DB = db
		if err := fn(t); err != nil {
			return err
		}
		if err := t.flushRows(); err != nil {
			return err
		}
		// Last, so that the chain head is the last lock the transaction takes.
		return appendChain(t, t.audits)
	})
	if err == nil && s.afterCommit != nil && !t.due.empty() {
		s.afterCommit(ctx, t.due)
	}
	return err
}

// inTransaction runs body in a database transaction. On PostgreSQL the transaction runs
// on a connection of its own, t.conn, so that its append-only rows can go through COPY
// on the same connection (copy_rows.go); the connection goes back to the pool as soon as
// the transaction ends, before the after-commit hook (a stalled Redis must not hold it).
func (s *Store) inTransaction(ctx context.Context, t *txn, body func(db *gorm.DB) error) error {
	if s.dialect != Postgres {
		return s.db.WithContext(ctx).Transaction(body, &sql.TxOptions{})
	}
	pool, err := s.db.DB()
	if err != nil {
		return err
	}
	if t.conn, err = pool.Conn(ctx); err != nil {
		return err
	}
	defer func() {
		_ = t.conn.Close()
		t.conn = nil
	}()
	db := s.db.Session(&gorm.Session{Context: ctx, NewDB: true})
	db.Statement.ConnPool = t.conn
	return db.Transaction(body, &sql.TxOptions{})
}
