package models

import (
	"context"
	"errors"
	"strings"
	"sync"

	"gorm.io/gorm"

	"github.com/standinghq/standing/rules"
)

// ExecForTest runs one SQL statement on the store, for tests that tamper with rows.
func (s *Store) ExecForTest(ctx context.Context, sql string, args ...any) (int64, error) {
	res := s.db.WithContext(ctx).Exec(sql, args...)
	return res.RowsAffected, res.Error
}

// TombstoneForTest tombstones the audit records of entityIDs as the purge does.
func (s *Store) TombstoneForTest(ctx context.Context, entityIDs []string) (int64, error) {
	var n int64
	err := s.transaction(ctx, func(tx *txn) error {
		var err error
		n, err = tombstoneStatusChanges(tx, entityIDs)
		return err
	})
	return n, err
}

// AppendRecordsForTest links n audit records about entityID, each with a comment of
// commentBytes bytes in its inputs, into the application's chain through the real
// append path, in transactions of 500.
func (s *Store) AppendRecordsForTest(ctx context.Context, appID, entityID string, n, commentBytes int) error {
	comment := strings.Repeat("x", commentBytes)
	for done := 0; done < n; {
		batch := min(500, n-done)
		err := s.transaction(ctx, func(tx *txn) error {
			e := &Entity{ID: entityID, ApplicationID: appID, Kind: KindUser, VendorData: "bulk"}
			w := newEntityWriter(tx, e)
			for i := range batch {
				from := rules.EntityActive
				if err := w.audit(&from, rules.EntityFlagged, "bulk", "system", "test", map[string]any{"i": done + i, "comment": comment}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += batch
	}
	return nil
}

// HoldForTest runs query (a locking SELECT, PostgreSQL) in a transaction of its own and
// keeps its locks until the returned release is called (once or more: a test may also
// register it as a cleanup, so that a failing test does not hang); the transaction then
// rolls back.
func (s *Store) HoldForTest(ctx context.Context, query string, args ...any) (func(), error) {
	locked, release, done := make(chan error, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		_ = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var n int
			err := tx.Raw("SELECT count(*) FROM ("+query+") held", args...).Scan(&n).Error
			if err == nil && n == 0 {
				err = errors.New("the query locked no row")
			}
			locked <- err
			if err != nil {
				return err
			}
			<-release
			return errors.New("roll back")
		})
	}()
	if err := <-locked; err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { close(release) }); <-done }, nil
}

// CountForTest counts the rows of table that match where.
func (s *Store) CountForTest(ctx context.Context, table, where string, args ...any) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Table(table).Where(where, args...).Count(&n).Error
	return n, err
}

// CopiedRows are rows written through COPY and read back through gorm.
type CopiedRows struct {
	Event    OutboxEvent
	Delivery Delivery
	Activity Activity
	History  SessionEvent
	Attempt  DeliveryAttempt
}

// CopyRoundTripForTest writes in into copies of their tables (temporary, without keys)
// through COPY, as a transaction's end writes them, and reads them back through gorm.
func (s *Store) CopyRoundTripForTest(ctx context.Context, in CopiedRows) (CopiedRows, error) {
	var out CopiedRows
	err := s.transaction(ctx, func(tx *txn) error {
		if !tx.canCopy() {
			return errNoCopy
		}
		for _, c := range []struct {
			table   string
			columns []string
			rows    [][]any
			dest    any
		}{
			{"outbox_events", eventColumns, eventRows([]*OutboxEvent{&in.Event}, tx.Now()), &out.Event},
			{"deliveries", deliveryColumns, deliveryRows([]*Delivery{&in.Delivery}, tx.Now()), &out.Delivery},
			{"activities", activityColumns, activityRows([]*Activity{&in.Activity}, tx.Now()), &out.Activity},
			{"session_events", sessionEventColumns, sessionEventRows([]*SessionEvent{&in.History}), &out.History},
			{"delivery_attempts", attemptColumns, attemptRows([]*DeliveryAttempt{&in.Attempt}, tx.Now()), &out.Attempt},
		} {
			copied := "copied_" + c.table
			if err := tx.Exec("CREATE TEMPORARY TABLE " + copied + " (LIKE " + c.table + " INCLUDING DEFAULTS) ON COMMIT DROP").Error; err != nil {
				return err
			}
			if err := tx.copyRows(copied, c.columns, c.rows); err != nil {
				return err
			}
			if err := tx.Table(copied).Take(c.dest).Error; err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// CopyAfterCancelForTest ends a transaction's context before its end writes an event
// through COPY, and returns what the transaction returned.
func (s *Store) CopyAfterCancelForTest() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return s.transaction(ctx, func(tx *txn) error {
		cancel()
		tx.rows.events = append(tx.rows.events, &OutboxEvent{ID: newID(), ApplicationID: newID(), Type: "x", Body: "{}"})
		return nil
	})
}
