package formbuilder

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
	"unicode/utf8"
)

// Roles of users. An admin may do everything; an operator answers chats
// and reads the submissions of the forms they are responsible for, and
// nothing else (no consents, settings, users or tokens, no other form's
// data). The web layer enforces the role on every route.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
)

// Roles lists every role, in the order forms offer them.
var Roles = []string{RoleAdmin, RoleOperator}

// ValidRole reports whether r is one of Roles.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleOperator }

// User is an admin or employee who signs in to the admin UI and may be the
// responsible user of forms and channels. Users are never deleted, because
// the consent log names them as responsible users; they are deactivated.
type User struct {
	ID           int64  `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	PasswordHash string `json:"-"`
	// Role is RoleAdmin or RoleOperator; empty means RoleAdmin when the
	// user is created (the CLI's `admin add` and users from before roles).
	Role string `json:"role"`
	// Language is the language of the user's admin pages and mails
	// (LangDE, LangEN); empty until their first sign-in, which takes it
	// from the browser.
	Language  string    `json:"language"`
	CreatedAt time.Time `json:"created_at"`
	// DeactivatedAt is when the user was deactivated; zero while active.
	// A deactivated user cannot sign in, and their sessions and tokens are
	// refused.
	DeactivatedAt time.Time `json:"deactivated_at,omitzero"`
}

// DisplayName is the name, or the e-mail when no name was given.
func (u *User) DisplayName() string {
	if strings.TrimSpace(u.Name) != "" {
		return u.Name
	}
	return u.Email
}

// Active reports whether the user may sign in and act.
func (u *User) Active() bool { return u.DeactivatedAt.IsZero() }

// IsAdmin reports whether the user is an active admin.
func (u *User) IsAdmin() bool { return u.Active() && u.Role == RoleAdmin }

// MaySeeForm reports whether the user may read form f's submissions: an
// admin every form's, an operator only those of the forms they are
// responsible for.
func (u *User) MaySeeForm(f *Form) bool {
	return u.IsAdmin() || u.Active() && f.ResponsibleUserID == u.ID
}

// MaySeeConversation reports whether the user may read and answer conv of
// channel ch: an admin every conversation, an operator those of channels
// they are an operator of and those assigned to them.
func (u *User) MaySeeConversation(conv *Conversation, ch *Channel) bool {
	if u.IsAdmin() {
		return true
	}
	return u.Active() && (conv.AssignedUserID == u.ID || ch != nil && ch.HasOperator(u.ID))
}

// Validate checks the e-mail, name, role (an empty role is taken as
// RoleAdmin, see User.Role) and language (empty: not chosen yet).
func (u *User) Validate() error {
	errs := map[string]Msg{}
	if !validEmail(u.Email) {
		errs["email"] = M(MsgInvalidEmail)
	}
	if utf8.RuneCountInString(u.Name) > MaxNameLength {
		errs["name"] = M(MsgTooLong)
	}
	if u.Role != "" && !ValidRole(u.Role) {
		errs["role"] = M(MsgEither, "a", "admin", "b", "operator")
	}
	if u.Language != "" && !ValidLanguage(u.Language) {
		errs["language"] = M(MsgOneOf, "values", "de, en")
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

// Scopes of API tokens: a read-only token may only read (GET, HEAD); a
// read-write token may also change what its user's role allows.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// ValidScope reports whether s is ScopeRead or ScopeWrite.
func ValidScope(s string) bool { return s == ScopeRead || s == ScopeWrite }

// APIToken authorises JSON API calls as a bearer token; only its hash is
// stored. A token belongs to a user and acts with that user's role, limited
// to reading when its scope is ScopeRead. It stops working at once when it
// is revoked, when ExpiresAt passes or when its user is deactivated.
type APIToken struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Hash   string `json:"-"`
	UserID int64  `json:"user_id"`
	// UserEmail is the owner's e-mail, filled in by lists and lookups.
	UserEmail string `json:"user_email,omitempty"`
	// Scope is ScopeRead or ScopeWrite; empty means ScopeWrite.
	Scope     string    `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	// ExpiresAt is when the token stops working; zero means never.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// RevokedAt is when the token was revoked; zero while it is not.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Usable reports whether the token may be used at now: not revoked and not
// expired (its user's state is checked apart).
func (t *APIToken) Usable(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// Status names the token's state at now for lists: "active", "expired" or
// "revoked".
func (t *APIToken) Status(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// CanWrite reports whether the token's scope allows changes.
func (t *APIToken) CanWrite() bool { return t.Scope != ScopeRead }

// APITokenPrefix starts every API token, so that a leaked one is easy to
// recognise (secret scanners, logs) and a wrong credential is refused
// before any lookup.
const APITokenPrefix = "cf_"

// NewAPIToken returns a new random bearer token (160 bits) and the hash
// that storage keeps of it. The token is shown once and never stored.
func NewAPIToken() (plain, hash string) {
	plain = APITokenPrefix + RandomKey(20)
	return plain, HashToken(plain)
}

// HashToken is what storage keeps of a bearer secret (API token, session
// cookie): the lower-case hex SHA-256.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// ValidAPIToken checks the shape of a token NewAPIToken made ("cf_" and
// lower-case base32) before any lookup.
func ValidAPIToken(tok string) bool {
	if !strings.HasPrefix(tok, APITokenPrefix) || len(tok) < 16 || len(tok) > 128 {
		return false
	}
	for _, r := range tok[len(APITokenPrefix):] {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// MaxTokenLifetime bounds how far in the future a token may expire.
const MaxTokenLifetime = 5 * 366 * 24 * time.Hour

// Settings are the installation-wide settings an admin edits.
type Settings struct {
	Company CompanyData `json:"company"`
	// IPMode is IPFull or IPTruncated.
	IPMode string `json:"ip_mode"`
}

// Validate checks the settings.
func (s *Settings) Validate() error {
	if s.IPMode != IPFull && s.IPMode != IPTruncated {
		return FieldError("ip_mode", MsgEither, "a", "full", "b", "truncated")
	}
	return nil
}
