package formbuilder

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestUserValidate(t *testing.T) {
	tests := []struct {
		name string
		u    User
		errs []string
	}{
		{"valid", User{Email: "ada@example.com", Name: "Ada"}, nil},
		{"no name", User{Email: "ada@example.com"}, nil},
		{"name 200 runes", User{Email: "ada@example.com", Name: strings.Repeat("李", MaxNameLength)}, nil},
		{"name too long", User{Email: "ada@example.com", Name: strings.Repeat("a", MaxNameLength+1)}, []string{"name"}},
		{"email missing", User{Name: "Ada"}, []string{"email"}},
		{"email invalid", User{Email: "ada@", Name: "Ada"}, []string{"email"}},
		{"email with display name", User{Email: "Ada <ada@example.com>"}, []string{"email"}},
		{"both", User{Email: "x", Name: strings.Repeat("a", 201)}, []string{"email", "name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.u.Validate()
			if tt.errs == nil {
				assert.NoError(t, err)
				return
			}
			requireFieldErrors(t, err, tt.errs...)
		})
	}
}

func TestUserDisplayName(t *testing.T) {
	assert.Equal(t, "Ada", (&User{Email: "ada@example.com", Name: "Ada"}).DisplayName())
	assert.Equal(t, "ada@example.com", (&User{Email: "ada@example.com"}).DisplayName())
	assert.Equal(t, "ada@example.com", (&User{Email: "ada@example.com", Name: "  "}).DisplayName())
}

func TestSettingsValidate(t *testing.T) {
	tests := []struct {
		mode string
		ok   bool
	}{
		{IPFull, true},
		{IPTruncated, true},
		{"", false},
		{"none", false},
		{"Full", false},
	}
	for _, tt := range tests {
		err := (&Settings{IPMode: tt.mode}).Validate()
		if tt.ok {
			assert.NoError(t, err, tt.mode)
			continue
		}
		requireFieldErrors(t, err, "ip_mode")
	}
}
