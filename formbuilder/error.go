package formbuilder

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error codes. Every error that crosses a package boundary carries one of them so
// that transports can map it to a status without looking at messages.
const (
	EINVALID      = "invalid"      // the input is wrong; Message (and Fields) say why
	ENOTFOUND     = "not_found"    // the thing does not exist (or is not visible)
	ECONFLICT     = "conflict"     // the thing exists already or changed meanwhile
	EUNAUTHORIZED = "unauthorized" // no or a wrong identity
	EFORBIDDEN    = "forbidden"    // identity known, action not allowed
	ERATELIMIT    = "rate_limited" // too many attempts; try later
	ETOOLARGE     = "too_large"    // the body or a value is larger than allowed
	EGONE         = "gone"         // the thing existed but was archived or expired
	EINTERNAL     = "internal"     // anything else; details are logged, never shown
)

// Error is the one error type of the domain. Message is safe to show to the
// client; internal details belong in a wrapped error that is logged instead.
type Error struct {
	Code    string
	Message string
	// Fields maps a field key (for example "email" or "consent.3") to a message
	// for that field; set for EINVALID errors that concern particular fields.
	Fields map[string]string
	// Err is an underlying error kept for logs; it is never shown to clients.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Fields) > 0 {
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "; %s: %s", k, e.Fields[k])
		}
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error so errors.Is/As see through.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal wraps err as an EINTERNAL error; its text is only for logs.
func Internal(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Code: EINTERNAL, Message: "internal error", Err: err}
}

// FieldErrors builds an EINVALID error naming each field in fields.
// It returns nil when fields is empty so callers can return it unconditionally.
func FieldErrors(fields map[string]string) error {
	if len(fields) == 0 {
		return nil
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msg := "invalid " + strings.Join(keys, ", ")
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// ErrorCode returns the code of err: "" for nil, EINTERNAL for errors that are
// not an *Error.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-safe message of err; errors that are not an
// *Error, and EINTERNAL errors, give a generic text so nothing internal leaks.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "internal error"
}

// ErrorFields returns the per-field messages of err, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
