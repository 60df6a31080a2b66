package models

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// The append-only rows a transaction writes at its end (events, deliveries, timeline
// entries, session history, the delivery log) go to PostgreSQL through COPY, in the
// binary format, on the transaction's own connection: no statement to build, parse or
// plan, no parameters to bind one by one, and no reflection over the structs. Each
// table's columns and values are listed here by hand, as its migration names them.
// SQLite keeps the multi-row inserts (flushRows).

// errNoCopy means the transaction has no PostgreSQL connection of its own to COPY on.
var errNoCopy = errors.New("models: COPY needs the transaction's PostgreSQL connection")

// copyRows writes rows (values in the order of columns) into table on the connection
// of t's transaction.
func (t *txn) copyRows(table string, columns []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if t.conn == nil {
		return errNoCopy
	}
	ctx := t.Statement.Context
	if err := ctx.Err(); err != nil {
		return err // ended: say so, not the closed connection database/sql leaves
	}
	err := t.conn.Raw(func(driverConn any) (err error) {
		// Neither a panic nor driver.ErrBadConn may leave this function: on either,
		// database/sql closes the connection, and waits for it forever, since the open
		// transaction holds it. (pgx encodes the rows in a goroutine of its own, where a
		// panic would end the process; the values here are plain types its encoders
		// take without one.)
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("COPY into %s: %v", table, p)
			}
		}()
		c, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return errNoCopy
		}
		n, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromRows(rows))
		switch {
		case errors.Is(err, driver.ErrBadConn):
			return unavailableError(errors.New(err.Error())) // the cause without ErrBadConn in its chain
		case err == nil && n != int64(len(rows)):
			return fmt.Errorf("copied %d of %d rows", n, len(rows))
		}
		return err
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err) // the context ended during the COPY
	}
	return err
}

// canCopy reports whether t writes its append-only rows with COPY.
func (t *txn) canCopy() bool { return t.conn != nil }

// copyPending writes the transaction's pending append-only rows with COPY, in an order
// their foreign keys accept (events before the deliveries of them).
func (t *txn) copyPending() error {
	r := &t.rows
	now := t.Now()
	for _, table := range []struct {
		name    string
		columns []string
		rows    [][]any
	}{
		{"outbox_events", eventColumns, eventRows(r.events, now)},
		{"deliveries", deliveryColumns, deliveryRows(r.deliveries, now)},
		{"activities", activityColumns, activityRows(r.activities, now)},
		{"session_events", sessionEventColumns, sessionEventRows(r.sessionEvents)},
	} {
		if err := t.copyRows(table.name, table.columns, table.rows); err != nil {
			return fmt.Errorf("write %s: %w", table.name, err)
		}
	}
	return nil
}

// uuidValue is the value of a uuid column: pgx writes a pgtype.UUID in binary as it is, where a
// string would first fail to encode (an error built and thrown away per value, a tenth
// of the work process's COPY time in a profile) and then be parsed by pgx. A string that
// is no UUID is passed as it is, for the server to refuse as it would have.
func uuidValue(s string) any {
	u, err := uuid.Parse(s)
	if err != nil {
		return s
	}
	return pgtype.UUID{Bytes: u, Valid: true}
}

// optionalUUID is uuidValue for a nullable uuid column.
func optionalUUID(s *string) any {
	if s == nil {
		return pgtype.UUID{}
	}
	return uuidValue(*s)
}

// orNow is at, or now when at is zero (gorm sets a zero CreatedAt or UpdatedAt to the
// current time on create; COPY keeps that).
func orNow(at, now time.Time) time.Time {
	if at.IsZero() {
		return now
	}
	return at
}

var eventColumns = []string{"id", "application_id", "entity_id", "type", "sequence", "body", "body_canonical", "created_at"}

func eventRows(events []*OutboxEvent, now time.Time) [][]any {
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{uuidValue(e.ID), uuidValue(e.ApplicationID), optionalUUID(e.EntityID), e.Type, e.Sequence, e.Body,
			e.BodyCanonical, orNow(e.CreatedAt, now)}
	}
	return rows
}

var deliveryColumns = []string{"id", "application_id", "event_id", "destination_id", "state", "attempts", "last_status",
	"last_error", "created_at", "updated_at", "enqueued_at", "delivered_at", "next_attempt_at", "attempting_until",
	"cycle_started_at"}

func deliveryRows(deliveries []*Delivery, now time.Time) [][]any {
	rows := make([][]any, len(deliveries))
	for i, d := range deliveries {
		rows[i] = []any{uuidValue(d.ID), uuidValue(d.ApplicationID), uuidValue(d.EventID), uuidValue(d.DestinationID), d.State,
			d.Attempts, d.LastStatus, d.LastError, orNow(d.CreatedAt, now), orNow(d.UpdatedAt, now), d.EnqueuedAt,
			d.DeliveredAt, d.NextAttemptAt, d.AttemptingUntil, d.CycleStartedAt}
	}
	return rows
}

var activityColumns = []string{"id", "application_id", "entity_id", "type", "details", "created_at"}

func activityRows(activities []*Activity, now time.Time) [][]any {
	rows := make([][]any, len(activities))
	for i, a := range activities {
		rows[i] = []any{uuidValue(a.ID), uuidValue(a.ApplicationID), uuidValue(a.EntityID), a.Type, jsonColumn(a.Details),
			orNow(a.CreatedAt, now)}
	}
	return rows
}

var sessionEventColumns = []string{"id", "session_pk", "inbox_id", "reported_status", "status", "reason", "event_at",
	"current", "received_at"}

func sessionEventRows(events []*SessionEvent) [][]any {
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{uuidValue(e.ID), uuidValue(e.SessionPK), optionalUUID(e.InboxID), e.ReportedStatus, e.Status, e.Reason,
			e.EventAt, e.Current, e.ReceivedAt}
	}
	return rows
}

var attemptColumns = []string{"id", "delivery_id", "destination_id", "event_id", "webhook_type", "attempt", "request_url",
	"request_headers", "response_status", "response_body", "response_time_ms", "error", "created_at"}

func attemptRows(attempts []*DeliveryAttempt, now time.Time) [][]any {
	rows := make([][]any, len(attempts))
	for i, a := range attempts {
		rows[i] = []any{uuidValue(a.ID), uuidValue(a.DeliveryID), uuidValue(a.DestinationID), uuidValue(a.EventID), a.WebhookType,
			a.Attempt, a.RequestURL, jsonColumn(a.RequestHeaders), a.ResponseStatus, a.ResponseBody, a.ResponseTimeMs, a.Error,
			orNow(a.CreatedAt, now)}
	}
	return rows
}
