package formbuilder

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorHelpers(t *testing.T) {
	secret := errors.New("sql: no such table: users at /var/lib/consentforms/db.sqlite")
	invalid := FieldErrors(map[string]Msg{"email": M(MsgInvalidEmail)})
	tests := []struct {
		name    string
		err     error
		code    string
		msg     Msg
		message string
		fields  map[string]string
	}{
		{"nil", nil, "", Msg{}, "", nil},
		{"plain error", secret, EINTERNAL, M(MsgInternal), "internal error", nil},
		{"io error", io.ErrUnexpectedEOF, EINTERNAL, M(MsgInternal), "internal error", nil},
		{"coded", NewError(ENOTFOUND, MsgFormNotFound), ENOTFOUND, M(MsgFormNotFound), "form not found", nil},
		{"coded, wrapped", fmt.Errorf("loading: %w", NewError(EFORBIDDEN, MsgError)), EFORBIDDEN, M(MsgError), "error", nil},
		{"internal wrapper", Internal(secret), EINTERNAL, M(MsgInternal), "internal error", nil},
		{"EINTERNAL with another message", NewError(EINTERNAL, MsgMissingArgument, "what", "password=hunter2"),
			EINTERNAL, M(MsgInternal), "internal error", nil},
		{"EINTERNAL wrapped", fmt.Errorf("x: %w", &Error{Code: EINTERNAL, Msg: M(MsgFormNotFound), Err: secret}),
			EINTERNAL, M(MsgInternal), "internal error", nil},
		{"no message code", &Error{Code: ECONFLICT}, ECONFLICT, M(MsgError), "error", nil},
		{"field errors", invalid, EINVALID, M(MsgInvalidFields, "fields", "email"), "invalid email",
			map[string]string{"email": "is not a valid e-mail address"}},
		{"field errors wrapped", fmt.Errorf("saving: %w", invalid), EINVALID, M(MsgInvalidFields, "fields", "email"),
			"invalid email", map[string]string{"email": "is not a valid e-mail address"}},
		{"with parameters", NewError(EGONE, MsgTooLongMax, "max", "20"), EGONE, M(MsgTooLongMax, "max", "20"),
			"is too long (at most 20 characters)", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, ErrorCode(tt.err))
			assert.Equal(t, tt.msg, ErrorMsg(tt.err))
			assert.Equal(t, tt.message, ErrorMessage(tt.err))
			assert.Equal(t, tt.fields, ErrorFields(tt.err))
			assert.NotContains(t, ErrorMessage(tt.err), "sql")
			assert.NotContains(t, ErrorMessage(tt.err), "hunter2")
			assert.NotContains(t, ErrorMsg(tt.err).Text(LangDE), "hunter2")
		})
	}
}

func TestInternal(t *testing.T) {
	assert.NoError(t, Internal(nil))

	secret := errors.New("disk full")
	err := Internal(secret)
	assert.Equal(t, EINTERNAL, ErrorCode(err))
	assert.ErrorIs(t, err, secret, "the cause stays reachable for logs")
	assert.Contains(t, err.Error(), "disk full", "Error() is for logs and keeps the cause")
	assert.Equal(t, "internal error", ErrorMessage(err))
	assert.Equal(t, "interner Fehler", ErrorMsg(err).Text(LangDE))

	coded := NewError(ECONFLICT, MsgExists)
	assert.Same(t, coded, Internal(coded), "coded errors pass through")
	wrapped := fmt.Errorf("ctx: %w", coded)
	assert.Equal(t, wrapped, Internal(wrapped))
	assert.Equal(t, ECONFLICT, ErrorCode(Internal(wrapped)))
}

func TestFieldErrors(t *testing.T) {
	assert.NoError(t, FieldErrors(nil))
	assert.NoError(t, FieldErrors(map[string]Msg{}))

	err := FieldErrors(map[string]Msg{"name": M(MsgRequired), "consent.3": M(MsgMustAccept), "email": M(MsgInvalidEmail)})
	require.Error(t, err)
	assert.Equal(t, "invalid consent.3, email, name", ErrorMessage(err), "keys are sorted")
	assert.Equal(t, "invalid: invalid consent.3, email, name; consent.3: must be accepted; "+
		"email: is not a valid e-mail address; name: is required", err.Error())
	assert.Equal(t, map[string]Msg{"name": M(MsgRequired), "consent.3": M(MsgMustAccept), "email": M(MsgInvalidEmail)},
		ErrorFieldMsgs(err))
	assert.Equal(t, "Ungültige Felder: consent.3, email, name", ErrorMsg(err).Text(LangDE))

	one := FieldError("expires_at", MsgBetween, "min", "1", "max", "9")
	assert.Equal(t, map[string]string{"expires_at": "must be between 1 and 9"}, ErrorFields(one))
}

func TestErrorString(t *testing.T) {
	assert.Equal(t, "not_found", (&Error{Code: ENOTFOUND}).Error())
	assert.Equal(t, "not_found: form not found", NewError(ENOTFOUND, MsgFormNotFound).Error())
	e := &Error{Code: EINTERNAL, Msg: M(MsgInternal), Err: errors.New("boom")}
	assert.Equal(t, "internal: internal error: boom", e.Error())
	assert.Equal(t, "boom", errors.Unwrap(e).Error())

	var target *Error
	require.ErrorAs(t, fmt.Errorf("a: %w", e), &target)
	assert.Same(t, e, target)
}

func TestErrorCodesAreDistinct(t *testing.T) {
	codes := []string{EINVALID, ENOTFOUND, ECONFLICT, EUNAUTHORIZED, EFORBIDDEN, ERATELIMIT, ETOOLARGE, EGONE, EINTERNAL}
	seen := map[string]bool{}
	for _, c := range codes {
		assert.NotEmpty(t, c)
		assert.False(t, seen[c], c)
		seen[c] = true
	}
}
