package formbuilder

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The rules below are decided once, here, rather than in each storage
// backend's SQL or code: a backend loads the rows, asks the rule, and
// writes what it answers inside its transaction. That way SQLite and
// PostgreSQL cannot drift apart on what a visitor may do.

// MaxQueryLength bounds the free-text Query of RecordFilter and
// SubmissionFilter, in characters: the search is a substring scan.
const MaxQueryLength = 200

func validQuery(q string, errs map[string]Msg) {
	q = strings.TrimSpace(q)
	if !utf8.ValidString(q) || utf8.RuneCountInString(q) > MaxQueryLength {
		errs["query"] = M(MsgTooLong)
	}
}

// Validate checks a consent log filter before any backend runs it:
// EINVALID naming "action" or "query".
func (f *RecordFilter) Validate() error {
	errs := map[string]Msg{}
	if f.Action != "" && f.Action != ActionGiven && f.Action != ActionWithdrawn && f.Action != ActionConfirmed {
		errs["action"] = M(MsgOneOf, "values", "given, withdrawn, confirmed")
	}
	if len(f.Subject) > 254 {
		errs["subject"] = M(MsgTooLong)
	}
	validQuery(f.Query, errs)
	return FieldErrors(errs)
}

// Validate checks an inbox filter: EINVALID naming "form_id" or "query".
func (f *SubmissionFilter) Validate() error {
	errs := map[string]Msg{}
	if f.FormID <= 0 {
		errs["form_id"] = M(MsgRequired)
	}
	validQuery(f.Query, errs)
	return FieldErrors(errs)
}

// ValidateConsentWithContent checks a consent and the content of its
// version together, so that one answer names every bad field.
func ValidateConsentWithContent(c *Consent, content *ConsentContent) error {
	if c == nil {
		return NewError(EINVALID, MsgMissingArgument, "what", "consent")
	}
	fields := map[string]Msg{}
	for _, err := range []error{c.Validate(), content.Validate()} {
		if err == nil {
			continue
		}
		fs := ErrorFieldMsgs(err)
		if len(fs) == 0 {
			return err
		}
		for k, v := range fs {
			fields[k] = v
		}
	}
	return FieldErrors(fields)
}

// NeedsNewVersion reports whether saving content over a consent whose
// current version is cur appends a version: only a different text, label,
// link or language does (their hash differs); saving unchanged content
// adds nothing, so versions stay meaningful.
func NeedsNewVersion(cur *ConsentVersion, content ConsentContent) bool {
	return cur == nil || content.Hash() != cur.Hash
}

// CheckVersionCurrent returns ECONFLICT when the version a visitor was shown
// (shownVersionID) is no longer the consent's current one: an entry must
// prove the text that was shown, so the visitor has to see the new text.
func CheckVersionCurrent(shownVersionID, currentVersionID int64) error {
	if shownVersionID != currentVersionID {
		return NewError(ECONFLICT, MsgTextChanged)
	}
	return nil
}

// ValidateSubmissionRecords checks that records can be the consents given
// with sub: given (not withdrawals), naming a version and its hash, and of
// sub's form (a record without a form gets sub's). EINVALID naming
// "records" or "form_id".
func ValidateSubmissionRecords(sub *Submission, records []*ConsentRecord) error {
	if sub == nil || sub.FormID <= 0 {
		return FieldError("form_id", MsgRequired)
	}
	bad := func(msg MsgCode) error { return FieldError("records", msg) }
	for _, r := range records {
		switch {
		case r == nil:
			return bad(MsgRecordsNil)
		case r.Action != ActionGiven:
			return bad(MsgRecordsGiven)
		case r.WithdrawsID != 0 || r.ConfirmsID != 0:
			return bad(MsgRecordsNoWithdrawConfirm)
		case r.ConsentID <= 0 || r.VersionID <= 0 || r.TextHash == "":
			return bad(MsgRecordVersion)
		case r.FormID != 0 && r.FormID != sub.FormID:
			return bad(MsgRecordForm)
		case r.NeedsConfirmation() && !validEmail(sub.Subject):
			return bad(MsgRecordsConfirmSubject)
		}
		if r.FormID == 0 {
			r.FormID = sub.FormID
		}
	}
	return nil
}

// CheckWithdrawal decides whether entry orig may be withdrawn:
// EINVALID for anything but a given consent, ECONFLICT when it was
// withdrawn already.
func CheckWithdrawal(orig *ConsentRecord, alreadyWithdrawn bool) error {
	if orig.Action != ActionGiven {
		return NewError(EINVALID, MsgWithdrawOnlyGiven)
	}
	if alreadyWithdrawn {
		return NewError(ECONFLICT, MsgWithdrawnAlready)
	}
	return nil
}

// WithdrawalOf returns the entry that withdraws orig: the consent, version,
// form, source and subject of the original, the withdrawing visitor's ip
// and userAgent. Storage sets its id, time and hashes when it appends it.
func WithdrawalOf(orig *ConsentRecord, ip, userAgent string) *ConsentRecord {
	return &ConsentRecord{
		Action:      ActionWithdrawn,
		ConsentID:   orig.ConsentID,
		ConsentName: orig.ConsentName,
		VersionID:   orig.VersionID,
		VersionNo:   orig.VersionNo,
		TextHash:    orig.TextHash,
		FormID:      orig.FormID,
		FormKey:     orig.FormKey,
		ChannelID:   orig.ChannelID,
		Source:      orig.Source,
		PageURL:     orig.PageURL,
		UserID:      orig.UserID,
		User:        orig.User,
		IP:          ip,
		UserAgent:   userAgent,
		Subject:     orig.Subject,
		WithdrawsID: orig.ID,
	}
}

// ValidateChatConsentRecord checks the entry a visitor's acceptance in a
// chat appends: a given consent of a channel (not of a form), naming a
// version and its hash, with an http(s) page URL or none. The chat shows
// no box, ticked or not: the visitor presses "accept", so the entry is
// never pre-ticked and always an action of the visitor's own, whoever
// builds it. EINVALID naming "record" or "page_url".
func ValidateChatConsentRecord(rec *ConsentRecord) error {
	bad := func(msg MsgCode) error { return FieldError("record", msg) }
	switch {
	case rec == nil:
		return bad(MsgRequired)
	case rec.Action != ActionGiven || rec.WithdrawsID != 0 || rec.ConfirmsID != 0:
		return bad(MsgRecordGiven)
	case !rec.ConfirmBy.IsZero():
		return bad(MsgRecordNoConfirmBy)
	case rec.ConsentID <= 0 || rec.VersionID <= 0 || rec.TextHash == "":
		return bad(MsgRecordVersion)
	case rec.ChannelID <= 0 || rec.FormID != 0 || rec.SubmissionID != 0:
		return bad(MsgRecordChannel)
	case rec.InitialState || !rec.Interacted:
		return bad(MsgRecordChatAccept)
	}
	_, err := CheckPageURL(rec.PageURL)
	return err
}

// CheckAccept decides whether the visitor of conversation c may accept the
// consent with rec: rec must be of c's channel (EINVALID), a message must be
// held for it (ECONFLICT), and rec must name the consent's current version
// (currentVersionID; ECONFLICT, see CheckVersionCurrent).
func CheckAccept(c *Conversation, rec *ConsentRecord, currentVersionID int64) error {
	if c.ChannelID != rec.ChannelID {
		return FieldError("record", MsgRecordConvChannel)
	}
	if c.State != ConvAwaitingConsent || c.HeldMessage == "" {
		return NewError(ECONFLICT, MsgNoHeldMessage)
	}
	return CheckVersionCurrent(rec.VersionID, currentVersionID)
}

// CheckDecline decides whether the visitor may decline: only while the
// consent is pending (ECONFLICT otherwise).
func CheckDecline(c *Conversation) error {
	if c.State != ConvAwaitingConsent {
		return NewError(ECONFLICT, MsgNoPendingConsent)
	}
	return nil
}

// ReopenedState returns the state conversation c of channel ch takes when
// the visitor asks to be shown the consent again, and whether that changes
// anything: only a declined conversation starts over (InitialState).
func ReopenedState(c *Conversation, ch *Channel) (string, bool) {
	if c.State != ConvDeclined {
		return c.State, false
	}
	return InitialState(ch), true
}

// CheckOperatorReply decides whether an operator may write in c: only in an
// open conversation (ECONFLICT before the visitor started it or after they
// declined).
func CheckOperatorReply(c *Conversation) error {
	if c.State != ConvOpen {
		return NewError(ECONFLICT, MsgNotStarted)
	}
	return nil
}

// ValidTokenHash reports whether s is a lower-case hex SHA-256. Storage
// keeps only hashes of session and API tokens; refusing anything else stops
// a raw token from being stored by mistake.
func ValidTokenHash(s string) bool { return lowerHex(s, 64) }

// lowerHex reports whether s is n lower-case hex digits.
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Validate checks a session before it is stored: its ID must be the hash
// of the cookie token. EINVALID naming "id".
func (s *Session) Validate() error {
	if s == nil || !ValidTokenHash(s.ID) {
		return FieldError("id", MsgSessionHash)
	}
	return nil
}

// Validate checks an API token before it is stored: the hash of the token,
// a name, an owner and the scope (empty is taken as ScopeWrite). EINVALID
// naming "hash", "name", "user_id" or "scope".
func (t *APIToken) Validate() error {
	if t == nil {
		return NewError(EINVALID, MsgMissingArgument, "what", "token")
	}
	errs := map[string]Msg{}
	if !ValidTokenHash(t.Hash) {
		errs["hash"] = M(MsgTokenHash)
	}
	if strings.TrimSpace(t.Name) == "" {
		errs["name"] = M(MsgRequired)
	} else if utf8.RuneCountInString(t.Name) > MaxNameLength {
		errs["name"] = M(MsgTooLong)
	}
	if t.UserID <= 0 {
		errs["user_id"] = M(MsgTokenUser)
	}
	if t.Scope != "" && !ValidScope(t.Scope) {
		errs["scope"] = M(MsgEither, "a", "read", "b", "write")
	}
	return FieldErrors(errs)
}

// CheckTokenExpiry checks a new token's expiry against now: none (zero), or
// a time after now and at most MaxTokenLifetime ahead. EINVALID naming
// "expires_at".
func CheckTokenExpiry(expires, now time.Time) error {
	switch {
	case expires.IsZero():
		return nil
	case !expires.After(now):
		return FieldError("expires_at", MsgInFuture)
	case expires.Sub(now) > MaxTokenLifetime:
		return FieldError("expires_at", MsgFiveYears)
	}
	return nil
}

// ParseTokenExpiry reads the expiry of a new token as staff type it: empty
// (never), a number of days ("90" or "90d"), a date ("2026-12-31", valid
// through that day, UTC) or an RFC 3339 time. It checks the result with
// CheckTokenExpiry. EINVALID naming "expires_at".
func ParseTokenExpiry(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	var t time.Time
	if days, ok := strings.CutSuffix(s, "d"); ok || strings.Trim(s, "0123456789") == "" {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 5*366 {
			return time.Time{}, FieldError("expires_at", MsgExpiryDays)
		}
		t = now.Add(time.Duration(n) * 24 * time.Hour)
	} else {
		var err error
		if t, err = ParseTimeBound(s, true); err != nil {
			return time.Time{}, FieldError("expires_at", MsgExpiryShape)
		}
	}
	t = t.UTC()
	return t, CheckTokenExpiry(t, now)
}
