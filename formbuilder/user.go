package formbuilder

import (
	"strings"
	"time"
	"unicode/utf8"
)

// User is an admin or employee who signs in to the admin UI and may be the
// responsible user of forms and channels.
type User struct {
	ID           int64     `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// DisplayName is the name, or the e-mail when no name was given.
func (u *User) DisplayName() string {
	if strings.TrimSpace(u.Name) != "" {
		return u.Name
	}
	return u.Email
}

// Validate checks the e-mail and name.
func (u *User) Validate() error {
	errs := map[string]string{}
	if !validEmail(u.Email) {
		errs["email"] = "is not a valid e-mail address"
	}
	if utf8.RuneCountInString(u.Name) > MaxNameLength {
		errs["name"] = "is too long"
	}
	return FieldErrors(errs)
}

// Session is a signed-in admin's server-side session. The cookie carries a
// random token; storage keeps only its SHA-256 (ID), so a stolen database
// does not hand out live sessions.
type Session struct {
	ID        string    `json:"-"`
	UserID    int64     `json:"user_id"`
	CSRF      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
}

// APIToken authorises JSON API calls as a bearer token; only its hash is stored.
type APIToken struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitempty"`
}

// Settings are the installation-wide settings an admin edits.
type Settings struct {
	Company CompanyData `json:"company"`
	// IPMode is IPFull or IPTruncated.
	IPMode string `json:"ip_mode"`
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if s.IPMode != IPFull && s.IPMode != IPTruncated {
		return FieldErrors(map[string]string{"ip_mode": "must be full or truncated"})
	}
	return nil
}
