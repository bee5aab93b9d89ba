package formbuilder

import (
	"errors"
	"maps"
	"slices"
	"strings"
)

// Error codes. Every error that crosses a package boundary carries one of them so
// that transports can map it to a status without looking at messages.
const (
	EINVALID      = "invalid"      // the input is wrong; Msg (and Fields) say why
	ENOTFOUND     = "not_found"    // the thing does not exist (or is not visible)
	ECONFLICT     = "conflict"     // the thing exists already or changed meanwhile
	EUNAUTHORIZED = "unauthorized" // no or a wrong identity
	EFORBIDDEN    = "forbidden"    // identity known, action not allowed
	ERATELIMIT    = "rate_limited" // too many attempts; try later
	ETOOLARGE     = "too_large"    // the body or a value is larger than allowed
	EGONE         = "gone"         // the thing existed but was archived or expired
	EINTERNAL     = "internal"     // anything else; details are logged, never shown
)

// Error is the one error type of the domain. Msg says what went wrong by
// message code, so each reader gets it in their language; its English text
// is for logs and the API. Internal details belong in Err, which is logged
// and never shown.
type Error struct {
	Code string
	Msg  Msg
	// Fields maps a field key (for example "email" or "consent.3") to the
	// message for that field; set for EINVALID errors that concern
	// particular fields.
	Fields map[string]Msg
	// Err is an underlying error kept for logs; it is never shown to clients.
	Err error
}

// Error implements the error interface: the English text, for logs.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	if e.Msg.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg.String())
	}
	for _, k := range sortedKeys(e.Fields) {
		b.WriteString("; ")
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(e.Fields[k].String())
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error so errors.Is/As see through.
func (e *Error) Unwrap() error { return e.Err }

// NewError returns an *Error with the given code and the message msg with
// its parameters as name, value pairs (see M).
func NewError(code string, msg MsgCode, kv ...string) *Error {
	return &Error{Code: code, Msg: M(msg, kv...)}
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
	return &Error{Code: EINTERNAL, Msg: M(MsgInternal), Err: err}
}

// FieldErrors builds an EINVALID error naming each field in fields.
// It returns nil when fields is empty so callers can return it unconditionally.
func FieldErrors(fields map[string]Msg) error {
	if len(fields) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Msg: M(MsgInvalidFields, "fields", strings.Join(sortedKeys(fields), ", ")),
		Fields: fields}
}

// FieldError is FieldErrors for one field.
func FieldError(field string, msg MsgCode, kv ...string) error {
	return FieldErrors(map[string]Msg{field: M(msg, kv...)})
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

// ErrorMsg returns the client-safe message of err by code; errors that are
// not an *Error, and EINTERNAL errors, give MsgInternal so nothing internal
// leaks. It is the zero Msg for nil.
func ErrorMsg(err error) Msg {
	if err == nil {
		return Msg{}
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		if e.Msg.Code == "" {
			return M(MsgError)
		}
		return e.Msg
	}
	return M(MsgInternal)
}

// ErrorMessage returns the client-safe message of err in English (see
// ErrorMsg), for logs and the API's message.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	return ErrorMsg(err).String()
}

// ErrorFieldMsgs returns the per-field messages of err by code, or nil.
func ErrorFieldMsgs(err error) map[string]Msg {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorFields returns the per-field messages of err in English, or nil.
func ErrorFields(err error) map[string]string {
	fs := ErrorFieldMsgs(err)
	if fs == nil {
		return nil
	}
	out := make(map[string]string, len(fs))
	for k, m := range fs {
		out[k] = m.String()
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
