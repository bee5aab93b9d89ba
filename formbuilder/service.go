package formbuilder

import (
	"context"
	"time"
)

// FormFilter selects forms for lists.
type FormFilter struct {
	IncludeArchived bool
	Query           string
}

// FormService stores forms. Returned forms have their Consents loaded with
// each consent's current version, so they can be rendered and validated.
type FormService interface {
	// CreateForm sets ID, Key (when empty), Version, times. EINVALID, ECONFLICT.
	CreateForm(ctx context.Context, f *Form) error
	// UpdateForm replaces the definition of the form with f.ID and bumps
	// Version. EINVALID, ENOTFOUND.
	UpdateForm(ctx context.Context, f *Form) error
	// ArchiveForm stops a form from accepting submissions. ENOTFOUND.
	ArchiveForm(ctx context.Context, id int64, archived bool) error
	// FindFormByID and FindFormByKey return ENOTFOUND when missing.
	FindFormByID(ctx context.Context, id int64) (*Form, error)
	FindFormByKey(ctx context.Context, key string) (*Form, error)
	ListForms(ctx context.Context, filter FormFilter) ([]*Form, error)
}

// ConsentService stores consents and their immutable versions.
type ConsentService interface {
	// CreateConsent stores c and its first version with content. The content
	// must already be sanitised and valid. EINVALID.
	CreateConsent(ctx context.Context, c *Consent, content ConsentContent, author string) error
	// UpdateConsent renames c (name, type) and, when content differs from the
	// current version, appends version n+1. It returns the consent with its
	// current version. EINVALID, ENOTFOUND.
	UpdateConsent(ctx context.Context, c *Consent, content ConsentContent, author string) (*Consent, error)
	FindConsentByID(ctx context.Context, id int64) (*Consent, error)
	ListConsents(ctx context.Context) ([]*Consent, error)
	// ListConsentVersions returns all versions, newest first. ENOTFOUND.
	ListConsentVersions(ctx context.Context, consentID int64) ([]*ConsentVersion, error)
	FindConsentVersion(ctx context.Context, id int64) (*ConsentVersion, error)
}

// SubmissionService stores submissions with their consent records.
type SubmissionService interface {
	// CreateSubmission stores sub and records in one transaction and returns
	// only after it committed: either all are stored or none. It sets ids,
	// times and the records' chain hashes.
	CreateSubmission(ctx context.Context, sub *Submission, records []*ConsentRecord) error
	FindSubmission(ctx context.Context, id int64) (*Submission, error)
}

// ConsentLog reads and appends to the consent log. There is deliberately no
// method that changes or deletes an entry.
type ConsentLog interface {
	// ListRecords returns a page, newest first, keyset-paginated by BeforeID.
	ListRecords(ctx context.Context, f RecordFilter) ([]*ConsentRecord, error)
	FindRecord(ctx context.Context, id int64) (*ConsentRecord, error)
	// ExportRecords calls fn for every matching entry, oldest first, reading
	// in bounded batches so memory stays flat.
	ExportRecords(ctx context.Context, f RecordFilter, fn func(*ConsentRecord) error) error
	// Withdraw appends a withdrawal of entry id. ENOTFOUND, ECONFLICT when it
	// was withdrawn already.
	Withdraw(ctx context.Context, id int64, ip, userAgent string) (*ConsentRecord, error)
	// Withdrawn reports which of ids have been withdrawn.
	Withdrawn(ctx context.Context, ids []int64) (map[int64]bool, error)
	// Verify walks the hash chain from the first entry.
	Verify(ctx context.Context) (VerifyResult, error)
}

// UserService stores admin users.
type UserService interface {
	CreateUser(ctx context.Context, u *User) error // EINVALID, ECONFLICT
	UpdatePassword(ctx context.Context, id int64, hash string) error
	FindUserByID(ctx context.Context, id int64) (*User, error)
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	CountUsers(ctx context.Context) (int, error)
}

// SessionService stores admin sessions by the hash of their token.
type SessionService interface {
	CreateSession(ctx context.Context, s *Session) error
	// FindSession returns ENOTFOUND for unknown ids.
	FindSession(ctx context.Context, id string) (*Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions ends every session of a user (password change).
	DeleteUserSessions(ctx context.Context, userID int64) error
	// DeleteExpiredSessions removes sessions last seen before idle or created
	// before absolute.
	DeleteExpiredSessions(ctx context.Context, idle, absolute time.Time) error
}

// TokenService stores API tokens by their hash.
type TokenService interface {
	CreateToken(ctx context.Context, t *APIToken) error
	FindTokenByHash(ctx context.Context, hash string) (*APIToken, error)
	ListTokens(ctx context.Context) ([]*APIToken, error)
	DeleteToken(ctx context.Context, id int64) error
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// SettingsService loads and saves the installation's settings.
type SettingsService interface {
	GetSettings(ctx context.Context) (*Settings, error)
	SaveSettings(ctx context.Context, s *Settings) error
}
