package formbuilder

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Actions of consent records.
const (
	ActionGiven     = "given"
	ActionWithdrawn = "withdrawn"
	// ActionConfirmed confirms a given entry whose consent needs
	// confirmation by e-mail (double opt-in); ConfirmsID names it.
	ActionConfirmed = "confirmed"
)

// GenesisHash is the PrevHash of the first entry of the log.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ConsentRecord is one entry of the consent log. It is never changed or
// deleted; a withdrawal is a new entry with Action "withdrawn" pointing at the
// entry it withdraws. Names (consent, form, user) are copied at the time of
// consent so the entry stays true when those are renamed later.
type ConsentRecord struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"`

	ConsentID   int64  `json:"consent_id"`
	ConsentName string `json:"consent_name"`
	VersionID   int64  `json:"version_id"`
	VersionNo   int    `json:"version"`
	TextHash    string `json:"text_hash"`
	// Document is the file the version's label linked to, if any. It
	// follows from the version, whose hash (TextHash) covers its SHA-256,
	// so Canonical leaves it out; storage fills it when it reads entries.
	Document *Document `json:"document,omitempty"`

	FormID    int64  `json:"form_id,omitempty"`
	FormKey   string `json:"form_key,omitempty"`
	ChannelID int64  `json:"channel_id,omitempty"`
	// Source is the form's or the chat channel's name.
	Source  string `json:"source"`
	PageURL string `json:"page_url,omitempty"`

	// UserID/User is the responsible employee.
	UserID int64  `json:"user_id,omitempty"`
	User   string `json:"user,omitempty"`

	IP        string `json:"ip"`
	UserAgent string `json:"user_agent,omitempty"`
	Subject   string `json:"subject,omitempty"`

	// InitialState is whether the box was ticked when shown; Interacted
	// whether the visitor changed it. Pre-ticked and untouched is weak
	// evidence (Planet49) and exports say so.
	InitialState bool `json:"initial_state"`
	Interacted   bool `json:"interacted"`

	SubmissionID int64 `json:"submission_id,omitempty"`
	// WithdrawsID is, for a withdrawal, the entry being withdrawn.
	WithdrawsID int64 `json:"withdraws_id,omitempty"`
	// ConfirmBy is set on a given entry whose consent needs confirmation
	// by e-mail (double opt-in): it is "given, unconfirmed" until a
	// confirmation entry follows, and expired when none came by then.
	ConfirmBy time.Time `json:"confirm_by,omitzero"`
	// ConfirmsID is, for a confirmation, the entry being confirmed.
	ConfirmsID int64 `json:"confirms_id,omitempty"`

	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// PreTickedUntouched reports whether the box was pre-ticked and never touched.
func (r *ConsentRecord) PreTickedUntouched() bool {
	return r.Action == ActionGiven && r.InitialState && !r.Interacted
}

// Canonical returns the byte string the entry's hash covers: a version tag,
// then every field in a fixed order, each length-prefixed. The time is UTC
// with nanoseconds so that a round trip through storage keeps it exact.
//
// Entries without the double opt-in fields (ConfirmBy, ConfirmsID) are
// encoded as version 1, byte for byte as before those fields existed, so
// every stored hash stays valid; entries with them are version 2, which
// appends both.
func (r *ConsentRecord) Canonical() []byte {
	var b strings.Builder
	b.Grow(512)
	v2 := !r.ConfirmBy.IsZero() || r.ConfirmsID != 0
	if v2 {
		b.WriteString("consentforms/consent-record/v2\n")
	} else {
		b.WriteString("consentforms/consent-record/v1\n")
	}
	put := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
		b.WriteByte('\n')
	}
	i64 := func(n int64) { put(strconv.FormatInt(n, 10)) }
	bl := func(v bool) { put(strconv.FormatBool(v)) }
	i64(r.ID)
	put(r.Time.UTC().Format(time.RFC3339Nano))
	put(r.Action)
	i64(r.ConsentID)
	put(r.ConsentName)
	i64(r.VersionID)
	i64(int64(r.VersionNo))
	put(r.TextHash)
	i64(r.FormID)
	put(r.FormKey)
	i64(r.ChannelID)
	put(r.Source)
	put(r.PageURL)
	i64(r.UserID)
	put(r.User)
	put(r.IP)
	put(r.UserAgent)
	put(r.Subject)
	bl(r.InitialState)
	bl(r.Interacted)
	i64(r.SubmissionID)
	i64(r.WithdrawsID)
	put(r.PrevHash)
	if v2 {
		put(FormatConfirmBy(r.ConfirmBy))
		i64(r.ConfirmsID)
	}
	return []byte(b.String())
}

// FormatConfirmBy is how a ConfirmBy time is hashed and stored: UTC with
// nanoseconds, "" for none.
func FormatConfirmBy(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// ComputeHash returns the hex SHA-256 of Canonical (which includes PrevHash).
func (r *ConsentRecord) ComputeHash() string {
	sum := sha256.Sum256(r.Canonical())
	return hex.EncodeToString(sum[:])
}

// Seal sets PrevHash to prev and Hash accordingly; storage calls it with the
// hash of the entry before, inside the transaction that appends the entry.
func (r *ConsentRecord) Seal(prev string) {
	r.PrevHash = prev
	r.Hash = r.ComputeHash()
}

// RecordFilter selects consent log entries. Zero values do not filter.
// Pagination is by keyset: entries with ID < BeforeID, newest first.
type RecordFilter struct {
	ConsentID int64
	FormID    int64
	ChannelID int64
	Since     time.Time // inclusive
	Until     time.Time // exclusive
	IP        string
	// Query matches subject, page URL, source, consent name and user (substring).
	Query string
	// Action limits to given, withdrawn or confirmed entries.
	Action string
	// Subject matches the subject exactly, ignoring the case of ASCII
	// letters (an e-mail address as the visitor types it again; see
	// FoldSubject).
	Subject  string
	BeforeID int64
	// AfterID, for exports, returns entries with ID > AfterID, oldest first.
	AfterID int64
	Limit   int
}

// FoldSubject is what RecordFilter.Subject compares: s with its ASCII
// letters in lower case and every other character as it is. Every storage
// engine folds alike this way (their lower() differ beyond ASCII).
func FoldSubject(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// DefaultPageSize and MaxPageSize bound list pages.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// PageLimit returns the effective page size for limit.
func PageLimit(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	if limit > MaxPageSize {
		return MaxPageSize
	}
	return limit
}

// VerifyResult is the outcome of walking the consent log's hash chain.
type VerifyResult struct {
	Checked int64 `json:"checked"`
	// BrokenID is the first entry whose hash or link does not match; 0 when
	// the chain is intact.
	BrokenID int64  `json:"broken_id,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// OK reports whether the whole chain verified.
func (v VerifyResult) OK() bool { return v.BrokenID == 0 && v.Reason == "" }

// TruncateIP keeps an IPv4 address's first 24 bits and an IPv6 address's
// first 48, for the "truncated" IP setting. Unparseable input is returned empty.
func TruncateIP(ip string) string {
	return truncateIP(ip)
}
