package formbuilder

import (
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The audit trail records every change staff make through the admin UI or
// the API (and the CLI's user and token commands): who, when, from which
// address, what. Like the consent log it is append-only, and the database
// itself refuses to change or delete an entry; unlike the log it is not
// hash-chained, because it proves nothing to a visitor: it tells an
// installation's admins who did what.

// Where a change came from (AuditEvent.Via).
const (
	ViaAdmin = "admin" // the admin UI, with a session
	ViaAPI   = "api"   // the JSON API, with a bearer token
	ViaCLI   = "cli"   // a consentforms command on the server
)

// What a change touched (AuditEvent.Target). The admin's filter offers
// these; a web route that records no change of its own falls back to
// AuditOther, which tests refuse.
const (
	AuditForm         = "form"
	AuditField        = "field"
	AuditFormConsent  = "form_consent" // a consent attached to a form, its switches, order
	AuditConsent      = "consent"
	AuditSettings     = "settings"
	AuditUser         = "user"
	AuditToken        = "token"
	AuditWebhook      = "webhook"
	AuditEmail        = "email" // a notification address of a form
	AuditChannel      = "channel"
	AuditConversation = "conversation"
	AuditOther        = "other"
)

// AuditTargets lists the targets in the order the admin's filter shows.
var AuditTargets = []string{AuditForm, AuditField, AuditFormConsent, AuditConsent, AuditSettings, AuditUser,
	AuditToken, AuditWebhook, AuditEmail, AuditChannel, AuditConversation, AuditOther}

// ValidAuditTarget reports whether t is one of AuditTargets.
func ValidAuditTarget(t string) bool {
	for _, x := range AuditTargets {
		if x == t {
			return true
		}
	}
	return false
}

// Bounds of an audit entry's text, so one entry cannot grow the table by
// megabytes.
const (
	MaxAuditDetails     = 32
	MaxAuditDetailBytes = 1000
)

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	// UserID is the acting user; 0 for the CLI.
	UserID int64 `json:"user_id,omitempty"`
	// Actor names the acting user as they were then (their e-mail), or
	// the CLI; users can be renamed, the trail keeps what it saw.
	Actor string `json:"actor"`
	// Via is ViaAdmin, ViaAPI or ViaCLI.
	Via string `json:"via"`
	// TokenID is the API token a change was made with.
	TokenID int64 `json:"token_id,omitempty"`
	// IP is the client's address (behind trusted proxies), in full: the
	// trail is about staff, not visitors.
	IP string `json:"ip,omitempty"`
	// Target is what was changed (one of AuditTargets) and Action the
	// verb ("create", "update", "deactivate", …).
	Target     string `json:"target"`
	Action     string `json:"action"`
	TargetID   int64  `json:"target_id,omitempty"`
	TargetName string `json:"target_name,omitempty"`
	// Details are what changed, in words and numbers: a consent edit has
	// old_version and new_version, a form edit its old and new version, a
	// token its scope and expiry. Never a secret.
	Details map[string]string `json:"details,omitempty"`
}

// Validate checks an entry before it is appended. EINVALID naming the field.
func (e *AuditEvent) Validate() error {
	errs := map[string]Msg{}
	switch e.Via {
	case ViaAdmin, ViaAPI, ViaCLI:
	default:
		errs["via"] = M(MsgEither, "a", "admin, api", "b", "cli")
	}
	if e.Via != ViaCLI && e.UserID <= 0 {
		errs["user_id"] = M(MsgAuditUser)
	}
	if strings.TrimSpace(e.Actor) == "" || len(e.Actor) > MaxAuditDetailBytes {
		errs["actor"] = M(MsgRequired)
	}
	if !ValidAuditTarget(e.Target) {
		errs["target"] = M(MsgUnknownTarget)
	}
	if e.Action == "" || len(e.Action) > 40 || strings.TrimFunc(e.Action, isAuditWordRune) != "" {
		errs["action"] = M(MsgAuditWord)
	}
	if len(e.TargetName) > MaxAuditDetailBytes || !utf8.ValidString(e.TargetName) {
		errs["target_name"] = M(MsgTooLong)
	}
	if e.IP != "" {
		if _, err := netip.ParseAddr(e.IP); err != nil {
			errs["ip"] = M(MsgNotAnIP)
		}
	}
	if len(e.Details) > MaxAuditDetails {
		errs["details"] = M(MsgTooManyEntries)
	}
	for k, v := range e.Details {
		if k == "" || len(k) > 40 || strings.TrimFunc(k, isAuditWordRune) != "" ||
			len(v) > MaxAuditDetailBytes || !utf8.ValidString(v) {
			errs["details"] = M(MsgAuditDetails)
		}
	}
	return FieldErrors(errs)
}

func isAuditWordRune(r rune) bool { return r >= 'a' && r <= 'z' || r == '_' }

// AuditFilter selects entries of the audit trail, newest first, keyset
// paginated like the consent log.
type AuditFilter struct {
	// UserID limits to one acting user ("who").
	UserID int64
	// Target limits to one kind of change ("what").
	Target string
	Since  time.Time
	Until  time.Time // exclusive
	// BeforeID pages to older entries; AfterID (exports, newer pages)
	// returns entries with a larger id, oldest first.
	BeforeID int64
	AfterID  int64
	Limit    int
}

// Validate checks the filter. EINVALID naming "target" or "until".
func (f *AuditFilter) Validate() error {
	errs := map[string]Msg{}
	if f.Target != "" && !ValidAuditTarget(f.Target) {
		errs["target"] = M(MsgUnknownChangeKind)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		errs["until"] = M(MsgAfterSince)
	}
	if f.UserID < 0 || f.BeforeID < 0 || f.AfterID < 0 {
		errs["id"] = M(MsgPositive)
	}
	return FieldErrors(errs)
}

// AuditLog appends to and reads the audit trail. There is deliberately no
// method that changes or deletes an entry, and the database refuses UPDATE,
// DELETE (and TRUNCATE) on the table.
type AuditLog interface {
	// AppendAudit validates e, sets its ID and Time (now) and stores it.
	// EINVALID.
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// ListAudit returns a page, newest first: below BeforeID when set,
	// the page just above AfterID when set. EINVALID for a bad filter.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
	// ExportAudit calls fn for every matching entry, oldest first (from
	// AfterID), reading in bounded batches so memory stays flat.
	ExportAudit(ctx context.Context, f AuditFilter, fn func(*AuditEvent) error) error
}

// AuditCSVColumns is the header row of a CSV export of the audit trail;
// details are one JSON object in the last column.
var AuditCSVColumns = []string{"id", "time", "user_id", "actor", "via", "token_id", "ip", "target", "action",
	"target_id", "target_name", "details"}

// AuditEncoder writes audit entries in one export format.
type AuditEncoder interface {
	Encode(e *AuditEvent) error
	Flush() error
}

// NewAuditEncoder returns the encoder of format writing to w. EINVALID for
// an unknown format.
func NewAuditEncoder(format string, w io.Writer) (AuditEncoder, error) {
	switch format {
	case FormatCSV:
		return &auditCSV{newCSVTable(w, AuditCSVColumns)}, nil
	case FormatNDJSON:
		return &auditNDJSON{newNDJSON(w)}, nil
	}
	return nil, FieldError("format", MsgEither, "a", "csv", "b", "ndjson")
}

// auditCSV writes the header and a row per entry, every cell neutralised
// against formula injection (names and details are typed by staff).
type auditCSV struct{ csvTable }

// Encode implements AuditEncoder.
func (e *auditCSV) Encode(a *AuditEvent) error {
	ref := refCell
	details := ""
	if len(a.Details) > 0 {
		b, err := json.Marshal(a.Details) // keys sorted
		if err != nil {
			return err
		}
		details = string(b)
	}
	return e.write([]string{strconv.FormatInt(a.ID, 10), a.Time.UTC().Format(time.RFC3339Nano), ref(a.UserID), a.Actor,
		a.Via, ref(a.TokenID), a.IP, a.Target, a.Action, ref(a.TargetID), a.TargetName, details})
}

type auditNDJSON struct{ ndjson }

// Encode implements AuditEncoder.
func (e *auditNDJSON) Encode(a *AuditEvent) error { return e.enc.Encode(a) }

// ExportAudit streams every entry of log matching f, oldest first, to w in
// format, flushing as Export does, and returns how many it wrote.
func ExportAudit(ctx context.Context, log AuditLog, f AuditFilter, format string, w io.Writer) (int64, error) {
	enc, err := NewAuditEncoder(format, w)
	if err != nil {
		return 0, err
	}
	return streamRows(ctx, w, enc, nil, func(each func(*AuditEvent) error) error {
		return log.ExportAudit(ctx, f, each)
	})
}

// DetailKeys returns the keys of d in order, for pages that list details.
func DetailKeys(d map[string]string) []string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// AuditDetails are what the audit trail keeps of a token: its scope, owner
// and expiry, never its secret or hash.
func (t *APIToken) AuditDetails() map[string]string {
	d := map[string]string{"scope": t.Scope, "user": t.UserEmail}
	if !t.ExpiresAt.IsZero() {
		d["expires_at"] = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return d
}
