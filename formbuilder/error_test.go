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
	invalid := FieldErrors(map[string]string{"email": "is not a valid e-mail address"})
	tests := []struct {
		name    string
		err     error
		code    string
		message string
		fields  map[string]string
	}{
		{"nil", nil, "", "", nil},
		{"plain error", secret, EINTERNAL, "internal error", nil},
		{"io error", io.ErrUnexpectedEOF, EINTERNAL, "internal error", nil},
		{"coded", Errorf(ENOTFOUND, "form %q not found", "abc"), ENOTFOUND, `form "abc" not found`, nil},
		{"coded, wrapped", fmt.Errorf("loading: %w", Errorf(EFORBIDDEN, "no")), EFORBIDDEN, "no", nil},
		{"internal wrapper", Internal(secret), EINTERNAL, "internal error", nil},
		{"EINTERNAL with a detailed message", Errorf(EINTERNAL, "password=hunter2"), EINTERNAL, "internal error", nil},
		{"EINTERNAL wrapped", fmt.Errorf("x: %w", &Error{Code: EINTERNAL, Message: "db down", Err: secret}),
			EINTERNAL, "internal error", nil},
		{"field errors", invalid, EINVALID, "invalid email", map[string]string{"email": "is not a valid e-mail address"}},
		{"field errors wrapped", fmt.Errorf("saving: %w", invalid), EINVALID, "invalid email",
			map[string]string{"email": "is not a valid e-mail address"}},
		{"gone", Errorf(EGONE, "archived"), EGONE, "archived", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.code, ErrorCode(tt.err))
			assert.Equal(t, tt.message, ErrorMessage(tt.err))
			assert.Equal(t, tt.fields, ErrorFields(tt.err))
			assert.NotContains(t, ErrorMessage(tt.err), "sql")
			assert.NotContains(t, ErrorMessage(tt.err), "hunter2")
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

	coded := Errorf(ECONFLICT, "exists")
	assert.Same(t, coded, Internal(coded), "coded errors pass through")
	wrapped := fmt.Errorf("ctx: %w", coded)
	assert.Equal(t, wrapped, Internal(wrapped))
	assert.Equal(t, ECONFLICT, ErrorCode(Internal(wrapped)))
}

func TestFieldErrors(t *testing.T) {
	assert.NoError(t, FieldErrors(nil))
	assert.NoError(t, FieldErrors(map[string]string{}))

	err := FieldErrors(map[string]string{"name": "is required", "consent.3": "must be accepted", "email": "bad"})
	require.Error(t, err)
	assert.Equal(t, "invalid consent.3, email, name", ErrorMessage(err), "keys are sorted")
	assert.Equal(t, "invalid: invalid consent.3, email, name; consent.3: must be accepted; email: bad; name: is required",
		err.Error())
}

func TestErrorString(t *testing.T) {
	assert.Equal(t, "not_found", (&Error{Code: ENOTFOUND}).Error())
	assert.Equal(t, "not_found: no form", (&Error{Code: ENOTFOUND, Message: "no form"}).Error())
	e := &Error{Code: EINTERNAL, Message: "internal error", Err: errors.New("boom")}
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
