package formbuilder

import (
	"context"
	"time"
)

// What every storage backend guarantees
//
// The interfaces below (and ChatService, OutboxService, SubmissionReader)
// are implemented by storage/sqlite and storage/postgres and held to one
// conformance suite, storage/storagetest. Beyond each method's comment,
// every backend guarantees, with any number of server processes on one
// database:
//
//   - Errors are *Error with a code: ENOTFOUND for a missing row (never a
//     nil result with a nil error), ECONFLICT for a unique value taken or a
//     state that forbids the call, EINVALID (naming the field) for bad input
//     and references to rows that do not exist, EINTERNAL for the rest, with
//     the cause wrapped for logs and never shown to clients.
//   - Input is checked by the rules of this package (Validate methods,
//     ValidateSubmissionRecords, CheckAccept, …) before anything is
//     written; a refused call stores nothing.
//   - The consent log is one hash chain: entries get consecutive ids 1, 2,
//     3, … and each stores the hash of the one before (Seal), however many
//     processes append at once. Appends are serialised (SQLite: the write
//     lock; PostgreSQL: a transaction-scoped advisory lock taken before any
//     row lock) and the database itself refuses an entry that does not
//     extend the head, and any UPDATE, DELETE, TRUNCATE or upsert of the log,
//     of consent versions and of the documents they link to.
//   - Entry times never decrease with the id (a clock stepping back is
//     clamped to the previous entry's time), so date filters are id bounds.
//   - Times are stored as fixed-width text with nanoseconds and read back
//     exactly: the chain hashes them.
//   - A call that writes returns only after its transaction committed
//     durably (group commit may share one commit among many calls), or with
//     its own error, in which case nothing of it was stored. A caller whose
//     context ends after the writer took its work still learns the outcome.
//   - Lists are ordered as each method says, ties broken by id.
//   - IP addresses are stored as the settings say at the moment of the
//     commit (ApplyIPMode with Settings.IPMode), whatever the caller
//     passed: submissions, their entries, withdrawals and chat consents
//     read the settings inside the transaction that stores them, and
//     SaveSettings waits for the transactions that read the old ones
//     (PostgreSQL: a shared advisory lock they hold, which SaveSettings
//     takes exclusively; SQLite: the write lock). So once SaveSettings
//     returned, no process stores an address the old way.
//   - Changes that server processes cache (forms, settings, chat) are
//     announced to every process through the ChangeFeed.

// Storage is every storage interface at once: what a backend implements.
type Storage interface {
	FormService
	ConsentService
	DocumentService
	SubmissionService
	ConsentLog
	UserService
	SessionService
	TokenService
	SettingsService
	ChatService
	OutboxService
	SubmissionReader
	AuditLog
	GaugeReader
	ChangeFeed
	AnchorService
}

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

// ConsentService stores consents and their immutable versions. Versions are
// numbered 1, 2, … per consent without gaps; creating one is serialised per
// consent (two admins saving at once get n+1 and n+2, or one ECONFLICT),
// and every form using the consent gets a new Version in the same
// transaction. A content's Document with Data is stored (once per SHA-256:
// the same bytes again are the same document) in the transaction of the
// version that links to it; one with only a SHA-256 must name a stored
// document (EINVALID naming "document"). Versions come with their
// Document's metadata, never its bytes.
type ConsentService interface {
	// CreateConsent stores c and its first version with content. The content
	// must already be sanitised and valid. EINVALID.
	CreateConsent(ctx context.Context, c *Consent, content ConsentContent, author string) error
	// UpdateConsent renames c (name, type) and, when content differs from the
	// current version (text, label, link URL, language or document),
	// appends version n+1. It returns the consent with its current
	// version. EINVALID, ENOTFOUND.
	UpdateConsent(ctx context.Context, c *Consent, content ConsentContent, author string) (*Consent, error)
	FindConsentByID(ctx context.Context, id int64) (*Consent, error)
	ListConsents(ctx context.Context) ([]*Consent, error)
	// ListConsentVersions returns all versions, newest first. ENOTFOUND.
	ListConsentVersions(ctx context.Context, consentID int64) ([]*ConsentVersion, error)
	FindConsentVersion(ctx context.Context, id int64) (*ConsentVersion, error)
}

// SubmissionService stores submissions with their consent records.
type SubmissionService interface {
	// CreateSubmission stores sub, records and the outbox messages of the
	// form's receivers in one transaction and returns only after it
	// committed: either all are stored or none. It sets ids, times (one
	// time for the submission and all its records) and the records' chain
	// hashes; on error it leaves them zero. The IP addresses of sub and
	// records are stored (and set) as the settings' IP mode is when the
	// transaction commits. EINVALID (see ValidateSubmissionRecords;
	// unknown versions too).
	CreateSubmission(ctx context.Context, sub *Submission, records []*ConsentRecord) error
	FindSubmission(ctx context.Context, id int64) (*Submission, error)
}

// ConsentLog reads and appends to the consent log. There is deliberately no
// method that changes or deletes an entry.
type ConsentLog interface {
	// Entries come with the Document of their version, when it has one.
	//
	// ListRecords returns a page, newest first, keyset-paginated by BeforeID.
	// EINVALID for a filter RecordFilter.Validate refuses, and for a free-
	// text search that runs longer than the backend's search timeout.
	ListRecords(ctx context.Context, f RecordFilter) ([]*ConsentRecord, error)
	FindRecord(ctx context.Context, id int64) (*ConsentRecord, error)
	// ExportRecords calls fn for every matching entry, oldest first, reading
	// in bounded batches so memory stays flat.
	ExportRecords(ctx context.Context, f RecordFilter, fn func(*ConsentRecord) error) error
	// Withdraw appends WithdrawalOf(entry id) to the chain, with ip as the
	// settings' IP mode is when it commits. ENOTFOUND,
	// EINVALID for a withdrawal, ECONFLICT when it was withdrawn already
	// (also when two withdrawals race: at most one entry withdraws another).
	Withdraw(ctx context.Context, id int64, ip, userAgent string) (*ConsentRecord, error)
	// Withdrawn reports which of ids have been withdrawn.
	Withdrawn(ctx context.Context, ids []int64) (map[int64]bool, error)
	// Confirm appends ConfirmationOf(entry id) to the chain and, in the
	// same transaction, one webhook message (EventConsentConfirmed) per
	// webhook of the entry's form. ENOTFOUND, and CheckConfirmation's
	// codes at the backend's clock (ECONFLICT also when two confirmations
	// race: at most one entry confirms another).
	Confirm(ctx context.Context, id int64, ip, userAgent string) (*ConsentRecord, error)
	// Confirmed reports which of ids have been confirmed.
	Confirmed(ctx context.Context, ids []int64) (map[int64]bool, error)
	// Verify walks the hash chain from the first entry up to the newest at
	// the time of the call and reports the first entry whose hash, link,
	// id or consent version does not match, and any document a version
	// links to that is missing or whose bytes no longer match its SHA-256
	// (VerifyDocument).
	Verify(ctx context.Context) (VerifyResult, error)
}

// UserService stores the people who sign in. Users are never deleted
// (the consent log names them): they are deactivated, and the last active
// admin can be neither deactivated nor made an operator, so an
// installation always has someone who can manage it.
type UserService interface {
	// CreateUser stores u (an empty Role becomes RoleAdmin). EINVALID,
	// ECONFLICT for a taken e-mail (case-insensitive).
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser changes the name and role of the user u.ID. EINVALID,
	// ENOTFOUND, ECONFLICT when it would make the last active admin an
	// operator.
	UpdateUser(ctx context.Context, u *User) error
	// SetUserLanguage sets the language of a user's admin pages and mails.
	// EINVALID for a language the product does not speak, ENOTFOUND.
	SetUserLanguage(ctx context.Context, id int64, lang string) error
	// UpdatePassword sets a user's password hash. ENOTFOUND.
	UpdatePassword(ctx context.Context, id int64, hash string) error
	// SetUserActive deactivates (active false) or reactivates a user.
	// Deactivating ends the user's sessions and revokes their API tokens
	// in the same transaction, so both stop working at once; doing it
	// twice keeps the first time. ENOTFOUND, ECONFLICT for the last
	// active admin.
	SetUserActive(ctx context.Context, id int64, active bool) error
	FindUserByID(ctx context.Context, id int64) (*User, error)
	FindUserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns every user, deactivated ones too, by e-mail.
	ListUsers(ctx context.Context) ([]*User, error)
	CountUsers(ctx context.Context) (int, error)
}

// SessionService stores admin sessions by the hash of their token.
type SessionService interface {
	// CreateSession stores s (Session.Validate; ECONFLICT for a taken id,
	// EINVALID for an unknown user); zero times become now.
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

// TokenService stores API tokens by their hash. Tokens are revoked, not
// deleted, so that lists and the audit trail can still name them.
type TokenService interface {
	// CreateToken stores t (APIToken.Validate; an empty Scope becomes
	// ScopeWrite) and sets ID and CreatedAt. ECONFLICT for a taken hash,
	// EINVALID for an unknown or deactivated user.
	CreateToken(ctx context.Context, t *APIToken) error
	// FindTokenByHash returns the token with UserEmail, revoked and expired
	// ones too (the caller decides, with APIToken.Usable). ENOTFOUND.
	FindTokenByHash(ctx context.Context, hash string) (*APIToken, error)
	FindTokenByID(ctx context.Context, id int64) (*APIToken, error)
	// ListTokens returns every token with its owner's e-mail, oldest first.
	ListTokens(ctx context.Context) ([]*APIToken, error)
	// RevokeToken sets RevokedAt to now; revoking twice keeps the first
	// time. ENOTFOUND.
	RevokeToken(ctx context.Context, id int64) error
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// SettingsService loads and saves the installation's settings: one value,
// saved whole (the last save wins).
type SettingsService interface {
	GetSettings(ctx context.Context) (*Settings, error)
	// SaveSettings stores s (Settings.Validate; EINVALID). It returns after
	// every transaction that stores an IP address under the old IP mode
	// has committed; later ones use s.IPMode. It announces ChangeSettings.
	SaveSettings(ctx context.Context, s *Settings) error
}

// AnchorService keeps the checkpoints of the log's head (see Anchor). The
// signed tokens are made by the caller, who holds the key; storage keeps
// them in order and queues them for the receivers.
type AnchorService interface {
	// ChainHead returns the newest entry of the log; ID 0 and GenesisHash
	// for an empty log.
	ChainHead(ctx context.Context) (ChainHead, error)
	// LastAnchor returns the newest checkpoint. ENOTFOUND before the first.
	LastAnchor(ctx context.Context) (*Anchor, error)
	// AppendAnchor stores a and, in the same transaction, one outbox
	// message (DeliveryAnchor) per receiver. a.Seq must follow the newest
	// checkpoint (ECONFLICT when another process anchored meanwhile), and
	// a must name an entry of the log with its hash (EINVALID).
	AppendAnchor(ctx context.Context, a *Anchor, receivers []string) error
	// FindAnchor returns checkpoint seq. ENOTFOUND.
	FindAnchor(ctx context.Context, seq int64) (*Anchor, error)
	// ListAnchors returns up to limit (PageLimit) checkpoints with Seq >
	// after, oldest first.
	ListAnchors(ctx context.Context, after int64, limit int) ([]*Anchor, error)
}
