package models

import (
	"errors"
	"fmt"
)

// ErrorKind says what kind of failure a store error is, so that callers (the HTTP layer
// above all) answer it from its kind, never from its message.
type ErrorKind int

// The kinds of store errors. The zero value, Internal, is a failure nobody outside can act
// on (it is logged, never shown).
const (
	// Internal is a bug or an unexpected failure.
	Internal ErrorKind = iota
	// NotFound: the row asked for does not exist (for this application).
	NotFound
	// Conflict: the change would break a uniqueness rule or a state rule.
	Conflict
	// Forbidden: the entity's status refuses the request (a BLOCKED entity's new session).
	Forbidden
	// Invalid: a value of the request is wrong (Field names it).
	Invalid
	// Unprocessable: the request is well-formed but cannot be used (Field names the
	// member): an unknown currency, an amount out of range.
	Unprocessable
	// Unavailable: a dependency (the database) is down or unreachable; try again later.
	Unavailable
)

var kindNames = map[ErrorKind]string{
	Internal: "internal error", NotFound: "not found", Conflict: "conflict", Forbidden: "forbidden",
	Invalid: "invalid", Unprocessable: "unprocessable", Unavailable: "unavailable",
}

// String names the kind.
func (k ErrorKind) String() string { return kindNames[k] }

// Error is a store error: its kind, the request member at fault (Invalid, Unprocessable)
// and a message for the client (a sentence without its final period). Err is the cause,
// for logs.
type Error struct {
	Kind  ErrorKind
	Field string
	Msg   string
	Err   error
}

// Error returns the message, with the cause when there is one.
func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Err != nil {
		return msg + ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) (and the other bare kinds) true for every error of
// that kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Field == "" && t.Err == nil && t.Kind == e.Kind
}

// The bare kinds, for errors.Is.
var (
	// ErrNotFound matches every NotFound error.
	ErrNotFound error = &Error{Kind: NotFound}
	// ErrConflict matches every Conflict error.
	ErrConflict error = &Error{Kind: Conflict}
	// ErrForbidden matches every Forbidden error.
	ErrForbidden error = &Error{Kind: Forbidden}
	// ErrInvalid matches every Invalid error.
	ErrInvalid error = &Error{Kind: Invalid}
	// ErrUnavailable matches every Unavailable error.
	ErrUnavailable error = &Error{Kind: Unavailable}
)

// KindOf returns the kind of err: the kind of the first Error in its chain, Internal when
// there is none.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// errNotFound says that what (a "list", a "destination") does not exist.
func errNotFound(what string) error {
	return &Error{Kind: NotFound, Msg: what + " not found"}
}

// conflictf is a Conflict with a formatted message.
func conflictf(format string, args ...any) error {
	return &Error{Kind: Conflict, Msg: fmt.Sprintf(format, args...)}
}

// forbiddenf is a Forbidden with a formatted message.
func forbiddenf(format string, args ...any) error {
	return &Error{Kind: Forbidden, Msg: fmt.Sprintf(format, args...)}
}

// invalid says that field's value is wrong: msg says how.
func invalid(field, msg string) error {
	return &Error{Kind: Invalid, Field: field, Msg: msg}
}

// unprocessable says that field's value is well-formed but unusable: msg says why.
func unprocessable(field, msg string, cause error) error {
	return &Error{Kind: Unprocessable, Field: field, Msg: msg, Err: cause}
}
