package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// IsUnavailable reports whether err means the database is down or unreachable rather
// than that the request was wrong: a failed connection (refused, reset, timed out, DNS),
// a connection lost mid-statement, a deadline while waiting for the database, a server
// shutting down or starting (SQLSTATE class 08, 57P01–57P03), too many connections
// (53300), or SQLite busy past its timeout.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var me *Error
	if errors.As(err, &me) && me.Kind == Unavailable {
		return true
	}
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var netErr net.Error
	switch {
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	case errors.As(err, &connectErr), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr), pgconn.Timeout(err):
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"connection refused", "conn closed", "connection reset", "broken pipe",
		"server closed the connection", "failed to connect", "database is locked", "unexpected eof"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Classify returns err as an Error of kind Unavailable when IsUnavailable says the
// database is down, and err unchanged otherwise; the cause stays in the chain.
func Classify(err error) error {
	var me *Error
	if err == nil || (errors.As(err, &me) && me.Kind == Unavailable) || !IsUnavailable(err) {
		return err
	}
	return unavailableError(err)
}

// unavailableError is the Error of kind Unavailable that cause (the database's own
// error, kept in the chain) amounts to.
func unavailableError(cause error) *Error {
	return &Error{Kind: Unavailable, Msg: "the database is unavailable", Err: cause}
}

// registerClassifier makes every statement's error pass through Classify, so that the
// store's methods return a database outage as kind Unavailable.
func registerClassifier(db *gorm.DB) error {
	classify := func(tx *gorm.DB) {
		if tx.Error != nil {
			tx.Error = Classify(tx.Error)
		}
	}
	cb := db.Callback()
	for _, err := range []error{
		cb.Create().After("*").Register("standing:classify_create", classify),
		cb.Query().After("*").Register("standing:classify_query", classify),
		cb.Update().After("*").Register("standing:classify_update", classify),
		cb.Delete().After("*").Register("standing:classify_delete", classify),
		cb.Row().After("*").Register("standing:classify_row", classify),
		cb.Raw().After("*").Register("standing:classify_raw", classify),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
