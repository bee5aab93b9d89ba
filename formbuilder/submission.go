package formbuilder

import (
	"errors"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Submission is what a visitor sent through a form.
type Submission struct {
	ID      int64  `json:"id"`
	FormID  int64  `json:"form_id"`
	FormKey string `json:"form_key"`
	// Values holds the accepted values per field key; a checkbox group may
	// have several.
	Values map[string][]string `json:"values"`
	// Subject is the e-mail (or else phone) the submission identifies the
	// visitor by; consent records repeat it.
	Subject   string    `json:"subject,omitempty"`
	PageURL   string    `json:"page_url,omitempty"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Touch is what a client says about whether the visitor changed a consent
// box. It is a claim, stored as one: the server cannot see the visitor's
// hand, only check that the claim fits what it knows (see Interaction).
type Touch int8

// The claims a client can make about a box.
const (
	// TouchUnknown: the client said nothing. A page without JavaScript
	// cannot say anything, so a box sent in another state than it was
	// shown in counts as changed.
	TouchUnknown Touch = 0
	// TouchNone: the client says the visitor did not change the box.
	TouchNone Touch = -1
	// TouchChanged: the client says the visitor changed the box.
	TouchChanged Touch = 1
)

// TouchOf is the claim of a client that answers yes (changed) or no (not
// changed).
func TouchOf(changed bool) Touch {
	if changed {
		return TouchChanged
	}
	return TouchNone
}

// ConsentInput is what the visitor's browser reports about one consent box.
// It does not say how the box was shown: the server knows that itself
// (SubmissionInput.Shown, else the form's configuration), and a client's
// word on it is never read.
type ConsentInput struct {
	// Checked is the state of the box when the form was sent.
	Checked bool
	// Touched is the client's claim whether the visitor changed the box.
	Touched Touch
	// VersionID is the version the page showed; 0 means the current one.
	VersionID int64
}

// SubmissionInput is a parsed, not yet validated submission.
type SubmissionInput struct {
	Values   map[string][]string
	Consents map[int64]ConsentInput
	// Shown is, per consent, whether the server rendered its box ticked,
	// from the server's own signed record of the page it served (the
	// render token). A consent missing from it (or a nil map) was shown as
	// the form is configured now (FormConsent.CheckedByDefault).
	Shown     map[int64]bool
	PageURL   string
	IP        string
	UserAgent string
	// ConfirmBy is the deadline given to consents that need confirmation
	// by e-mail (Consent.ConfirmByEmail); the transport sets it to now
	// plus the installation's time to confirm.
	ConfirmBy time.Time
}

// Interaction decides whether the visitor changed a box that the server
// showed in state initial and that came back in state checked, given the
// client's claim. A box in another state than it was shown in was changed,
// whatever a client without JavaScript (TouchUnknown) could tell; a client
// that claims it was not (TouchNone) claims what cannot happen, and ok is
// false. A box back in its first state may have been changed twice: only
// the claim can say so.
func Interaction(initial, checked bool, claim Touch) (interacted, ok bool) {
	changed := initial != checked
	switch claim {
	case TouchChanged:
		return true, true
	case TouchNone:
		return false, !changed
	}
	return changed, true
}

// Limits on the metadata that travels with a submission.
const (
	MaxPageURL   = 2048
	MaxUserAgent = 512
)

// validPhone accepts international and local notations: "+49 30 1234567",
// "(030) 1234567", "(+49) 30/123-45". It is the regexp
// ^(\+|\(\+?)?[0-9][0-9 ()./-]{3,28}[0-9]$ as a loop (FuzzValidPhone): the
// regexp took 355 ns a number, the loop 12 ns (BenchmarkShapes).
func validPhone(s string) bool {
	// The prefix is all that may come before the first digit, so it is
	// found without backtracking.
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	} else if len(s) > 0 && s[0] == '(' {
		s = s[1:]
		if len(s) > 0 && s[0] == '+' {
			s = s[1:]
		}
	}
	if len(s) < 5 || len(s) > 30 || !isDigit(s[0]) || !isDigit(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		switch c := s[i]; {
		case isDigit(c), c == ' ', c == '(', c == ')', c == '.', c == '/', c == '-':
		default:
			return false
		}
	}
	return true
}

// validDateShape is the regexp ^\d{4}-\d{2}-\d{2}$ (ASCII digits) as a
// loop (FuzzValidDateShape).
func validDateShape(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 4 || i == 7 {
			if s[i] != '-' {
				return false
			}
		} else if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func validEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	if plainEmail(s) {
		return true
	}
	if strings.ContainsAny(s, " \t\r\n<>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

// plainEmail reports whether s is an ASCII dot-atom "@" dot-atom whose
// domain has a dot: net/mail parses such an address back to s with no name
// (its consumeAddrSpec takes both atoms whole), so validEmail may accept it
// without the parser and its allocations (FuzzValidEmail). It says nothing
// about any other string.
func plainEmail(s string) bool {
	at := -1
	dot := false      // the domain has a dot
	prev := byte('@') // a dot may not follow the start, '@' or a dot
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '@':
			if at >= 0 || prev == '.' || prev == '@' {
				return false
			}
			at = i
		case '.':
			if prev == '.' || prev == '@' {
				return false
			}
			dot = dot || at >= 0
		case '(', ')', '<', '>', '[', ']', ':', ';', '\\', ',', '"':
			return false
		default:
			if c < '!' || c > '~' {
				return false
			}
		}
		prev = c
	}
	return at > 0 && dot && prev != '.' && prev != '@'
}

// ValidEmail reports whether s is a plain e-mail address (no display name).
func ValidEmail(s string) bool { return validEmail(s) }

// ValidateSubmission checks in against form. On success it returns the
// submission and one consent record per ticked consent, both without ids,
// times or hashes (storage sets those). Otherwise it returns an EINVALID error
// whose Fields name every wrong field; a required consent that is not ticked
// is named "consent.ID". Nothing is returned for storage then.
func ValidateSubmission(form *Form, in SubmissionInput) (*Submission, []*ConsentRecord, error) {
	// errs stays nil, and costs nothing, while all is well.
	var errs map[string]Msg
	sub := &Submission{
		FormID:    form.ID,
		FormKey:   form.Key,
		Values:    make(map[string][]string, len(form.Fields)),
		IP:        in.IP,
		UserAgent: truncateRunes(in.UserAgent, MaxUserAgent),
	}
	if form.Archived {
		return nil, nil, NewError(EGONE, MsgFormGone)
	}
	if in.PageURL != "" {
		if len(in.PageURL) > MaxPageURL || !validHTTPURL(in.PageURL) {
			errs = addErr(errs, "page_url", M(MsgPageURL))
		} else {
			sub.PageURL = in.PageURL
		}
	}
	nvals := 0
	for key, vals := range in.Values {
		if form.Field(key) == nil {
			errs = addErr(errs, key, M(MsgNotAField))
		} else {
			nvals += len(vals)
		}
	}
	// The accepted values of all fields share one array (each field's
	// slice capped at its end); cleaning never adds values.
	clean := make([]string, 0, nvals)
	for i := range form.Fields {
		f := &form.Fields[i]
		n := len(clean)
		var msg Msg
		clean, msg = validateValue(f, in.Values[f.Key], clean)
		if !msg.IsZero() {
			errs = addErr(errs, f.Key, msg)
			clean = clean[:n]
			continue
		}
		if len(clean) > n {
			sub.Values[f.Key] = clean[n:len(clean):len(clean)]
		}
	}
	for id := range in.Consents {
		found := false
		for _, fc := range form.Consents {
			if fc.ConsentID == id {
				found = true
			}
		}
		if !found {
			errs = addErr(errs, "consent."+strconv.FormatInt(id, 10), M(MsgNotAFormConsent))
		}
	}
	var records []*ConsentRecord
	if len(form.Consents) > 0 {
		records = make([]*ConsentRecord, 0, len(form.Consents))
	}
	for _, fc := range form.Consents {
		ci := in.Consents[fc.ConsentID]
		if !ci.Checked {
			if fc.Required {
				errs = addErr(errs, "consent."+strconv.FormatInt(fc.ConsentID, 10), M(MsgMustAccept))
			}
			continue
		}
		initial, shown := in.Shown[fc.ConsentID]
		if !shown {
			initial = fc.CheckedByDefault
		}
		interacted, ok := Interaction(initial, ci.Checked, ci.Touched)
		if !ok {
			errs = addErr(errs, "consent."+strconv.FormatInt(fc.ConsentID, 10), M(MsgTouchImpossible))
			continue
		}
		if fc.Consent == nil || fc.Consent.Current == nil {
			return nil, nil, Internal(errors.New("form consent without loaded version"))
		}
		if ci.VersionID != 0 && ci.VersionID != fc.Consent.Current.ID {
			// The record must prove the text that was shown; a page rendered
			// before an edit showed another text, so the visitor sees the new
			// one and sends again.
			errs = addErr(errs, "consent."+strconv.FormatInt(fc.ConsentID, 10), M(MsgConsentChanged))
			continue
		}
		var confirmBy time.Time
		if fc.Consent.ConfirmByEmail {
			if in.ConfirmBy.IsZero() {
				return nil, nil, Internal(errors.New("a consent needs confirmation, and no deadline was given"))
			}
			confirmBy = in.ConfirmBy.UTC()
		}
		records = append(records, &ConsentRecord{
			Action:       ActionGiven,
			ConsentID:    fc.ConsentID,
			ConsentName:  fc.Consent.Name,
			VersionID:    fc.Consent.Current.ID,
			VersionNo:    fc.Consent.Current.Number,
			TextHash:     fc.Consent.Current.Hash,
			FormID:       form.ID,
			FormKey:      form.Key,
			Source:       form.Name,
			PageURL:      sub.PageURL,
			UserID:       form.ResponsibleUserID,
			User:         form.ResponsibleUser,
			IP:           sub.IP,
			UserAgent:    sub.UserAgent,
			InitialState: initial,
			Interacted:   interacted,
			ConfirmBy:    confirmBy,
		})
	}
	sub.Subject = subjectOf(form, sub.Values)
	for _, r := range records {
		r.Subject = sub.Subject
		// The confirmation goes to the subject: without an address it
		// could never come.
		if r.NeedsConfirmation() && !validEmail(sub.Subject) {
			errs = addErr(errs, "consent."+strconv.FormatInt(r.ConsentID, 10), M(MsgNeedsEmail))
		}
	}
	if err := FieldErrors(errs); err != nil {
		return nil, nil, err
	}
	return sub, records, nil
}

func addErr(errs map[string]Msg, key string, msg Msg) map[string]Msg {
	if errs == nil {
		errs = map[string]Msg{}
	}
	errs[key] = msg
	return errs
}

// subjectOf picks the first e-mail value, else the first phone value.
func subjectOf(form *Form, vals map[string][]string) string {
	for _, kind := range []FieldKind{KindEmail, KindPhone} {
		for _, f := range form.Fields {
			if f.Kind == kind && len(vals[f.Key]) > 0 {
				return vals[f.Key][0]
			}
		}
	}
	return ""
}

func truncateRunes(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// validateValue appends the cleaned values of one field to dst, or returns
// a message (and dst with anything appended).
func validateValue(f *Field, vals []string, dst []string) ([]string, Msg) {
	// Empty strings are "no answer"; browsers send them for empty inputs.
	start := len(dst)
	for _, v := range vals {
		if !utf8.ValidString(v) {
			return dst, M(MsgNotUTF8)
		}
		// An option is kept as written even when it has outer spaces, so
		// that every option can be chosen; other values are trimmed.
		if f.Kind != KindTextarea && !(f.Kind.HasOptions() && contains(f.Options, v)) {
			v = strings.TrimSpace(v)
		}
		if strings.TrimSpace(v) != "" {
			dst = append(dst, v)
		}
	}
	nonEmpty := dst[start:]
	if len(nonEmpty) == 0 {
		if f.Required {
			return dst, M(MsgRequired)
		}
		return dst, Msg{}
	}
	multi := f.Kind == KindCheckbox && len(f.Options) > 0
	if len(nonEmpty) > 1 && !multi {
		return dst, M(MsgOneValue)
	}
	if len(nonEmpty) > MaxOptions {
		return dst, M(MsgTooManyValues)
	}
	max := f.EffectiveMaxLength()
	for _, v := range nonEmpty {
		if utf8.RuneCountInString(v) > max {
			return dst, M(MsgTooLongMax, "max", strconv.Itoa(max))
		}
		if strings.ContainsRune(v, 0) {
			return dst, M(MsgContainsNUL)
		}
		switch f.Kind {
		case KindEmail:
			if !validEmail(v) {
				return dst, M(MsgInvalidEmail)
			}
		case KindPhone:
			digits := 0
			for _, r := range v {
				if r >= '0' && r <= '9' {
					digits++
				}
			}
			if !validPhone(v) || digits < 5 || digits > 17 {
				return dst, M(MsgInvalidPhone)
			}
		case KindSelect, KindRadio:
			if !contains(f.Options, v) {
				return dst, M(MsgNotAnOption)
			}
		case KindCheckbox:
			if multi {
				if !contains(f.Options, v) {
					return dst, M(MsgNotAnOption)
				}
			} else {
				switch strings.ToLower(v) {
				case "on", "yes", "true", "1":
					nonEmpty[0] = "yes" // the only value: !multi
				default:
					return dst, M(MsgTickOrNot)
				}
			}
		case KindDate:
			if !validDateShape(v) {
				return dst, M(MsgDateShape)
			}
			if _, err := time.Parse("2006-01-02", v); err != nil {
				return dst, M(MsgInvalidDate)
			}
		case KindNumber:
			n, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsInf(n, 0) || math.IsNaN(n) {
				return dst, M(MsgNotANumber)
			}
		case KindName, KindText, KindHidden:
			if strings.ContainsAny(v, "\r\n") {
				return dst, M(MsgOneLine)
			}
		}
	}
	return dst, Msg{}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
