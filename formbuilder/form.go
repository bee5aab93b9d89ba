package formbuilder

import (
	"crypto/rand"
	"encoding/base32"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// FieldKind is the kind of an input field; it decides the widget and the validation.
type FieldKind string

// The field kinds a form can have.
const (
	KindName     FieldKind = "name"
	KindText     FieldKind = "text"
	KindEmail    FieldKind = "email"
	KindPhone    FieldKind = "phone"
	KindTextarea FieldKind = "textarea"
	KindSelect   FieldKind = "select"
	KindRadio    FieldKind = "radio"
	KindCheckbox FieldKind = "checkbox"
	KindDate     FieldKind = "date"
	KindNumber   FieldKind = "number"
	KindHidden   FieldKind = "hidden"
)

// FieldKinds lists every kind in the order the admin UI offers them.
var FieldKinds = []FieldKind{KindName, KindText, KindEmail, KindPhone, KindTextarea,
	KindSelect, KindRadio, KindCheckbox, KindDate, KindNumber, KindHidden}

// Valid reports whether k is one of the known kinds.
func (k FieldKind) Valid() bool {
	for _, x := range FieldKinds {
		if x == k {
			return true
		}
	}
	return false
}

// HasOptions reports whether the kind takes a list of options. A checkbox with
// options is a group of boxes; without options it is a single yes/no box.
func (k FieldKind) HasOptions() bool {
	return k == KindSelect || k == KindRadio || k == KindCheckbox
}

// Limits that keep a single form and a single submission bounded in size.
const (
	MaxFields        = 50
	MaxOptions       = 100
	MaxFormConsents  = 10
	MaxLabelLength   = 500
	MaxNameLength    = 200
	DefaultMaxLength = 200  // one-line fields
	MaxTextareaChars = 5000 // textarea default and ceiling
	MaxValueLength   = 10000
	MaxOrigins       = 50
)

// Languages the widget chrome is translated into.
var Languages = []string{"de", "en"}

// ValidLanguage reports whether lang is one the widget speaks.
func ValidLanguage(lang string) bool {
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// Field is one input of a form.
type Field struct {
	Key         string    `json:"key"`
	Label       string    `json:"label"`
	Kind        FieldKind `json:"kind"`
	Required    bool      `json:"required"`
	Placeholder string    `json:"placeholder,omitempty"`
	Help        string    `json:"help,omitempty"`
	Options     []string  `json:"options,omitempty"`
	Default     string    `json:"default,omitempty"`
	// MaxLength is in characters; 0 means the kind's default.
	MaxLength int `json:"max_length,omitempty"`
}

// validFieldKey is the regexp ^[a-z][a-z0-9_]{0,39}$ as a loop
// (FuzzValidFieldKey).
func validFieldKey(k string) bool {
	if len(k) < 1 || len(k) > 40 || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 1; i < len(k); i++ {
		if c := k[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// EffectiveMaxLength returns the length limit that applies to the field's values.
func (f *Field) EffectiveMaxLength() int {
	def := DefaultMaxLength
	if f.Kind == KindTextarea {
		def = MaxTextareaChars
	}
	if f.MaxLength <= 0 || f.MaxLength > MaxValueLength {
		return def
	}
	return f.MaxLength
}

// Validate checks one field on its own; prefix names it in field errors
// (for example "fields.2").
func (f *Field) validate(prefix string, errs map[string]Msg) {
	if !validFieldKey(f.Key) {
		errs[prefix+".key"] = M(MsgFieldKey)
	}
	// The widget posts its own inputs beside the fields: the honeypot
	// "website" and the consent boxes "consent_<id>…".
	if f.Key == "website" || strings.HasPrefix(f.Key, "consent_") {
		errs[prefix+".key"] = M(MsgReservedKey)
	}
	if strings.TrimSpace(f.Label) == "" && f.Kind != KindHidden {
		errs[prefix+".label"] = M(MsgRequired)
	}
	if utf8.RuneCountInString(f.Label) > MaxLabelLength {
		errs[prefix+".label"] = M(MsgTooLong)
	}
	if !f.Kind.Valid() {
		errs[prefix+".kind"] = M(MsgUnknownKind)
		return
	}
	if f.Kind == KindSelect || f.Kind == KindRadio {
		if len(f.Options) == 0 {
			errs[prefix+".options"] = M(MsgNeedsOption)
		}
	}
	if len(f.Options) > MaxOptions {
		errs[prefix+".options"] = M(MsgTooManyOptions)
	}
	seen := map[string]bool{}
	for _, o := range f.Options {
		if strings.TrimSpace(o) == "" {
			errs[prefix+".options"] = M(MsgEmptyOption)
		}
		if seen[o] {
			errs[prefix+".options"] = M(MsgOptionTwice)
		}
		seen[o] = true
	}
	if f.MaxLength < 0 || f.MaxLength > MaxValueLength {
		errs[prefix+".max_length"] = M(MsgBetween, "min", "0", "max", "10000")
	}
	if f.Default != "" && f.Kind.HasOptions() && len(f.Options) > 0 && !seen[f.Default] {
		errs[prefix+".default"] = M(MsgOneOfOptions)
	} else if strings.TrimSpace(f.Default) != "" && errs[prefix+".options"].IsZero() {
		// The default is rendered as the field's value (and is the only value
		// of a hidden field), so it must pass the same checks as a submission,
		// or the form could never be sent unchanged.
		if _, msg := validateValue(f, []string{f.Default}, nil); !msg.IsZero() {
			errs[prefix+".default"] = msg
		}
	}
}

// FormConsent is a consent attached to a form, with the two per-form switches.
// Both switches default to on (as in Bitrix24); the admin UI warns that a
// pre-ticked box is not valid consent under GDPR.
type FormConsent struct {
	ConsentID        int64 `json:"consent_id"`
	CheckedByDefault bool  `json:"checked_by_default"`
	Required         bool  `json:"required"`
	// Consent is the consent with its current version, loaded by storage.
	Consent *Consent `json:"consent,omitempty"`
}

// Form is what an admin defines and a visitor fills.
type Form struct {
	ID int64 `json:"id"`
	// Key is the public, unguessable identifier used in URLs and embed codes.
	Key      string `json:"key"`
	Name     string `json:"name"`
	Title    string `json:"title,omitempty"`
	Language string `json:"language"`
	// Description is admin HTML shown above the fields, sanitised on write.
	Description string        `json:"description,omitempty"`
	Fields      []Field       `json:"fields"`
	Consents    []FormConsent `json:"consents"`
	SubmitLabel string        `json:"submit_label,omitempty"`
	// SuccessMessage is shown after a submission unless RedirectURL is set.
	SuccessMessage string `json:"success_message,omitempty"`
	RedirectURL    string `json:"redirect_url,omitempty"`
	// ResponsibleUserID is the employee the form is assigned to; consent
	// records name them as "responsible user".
	ResponsibleUserID int64  `json:"responsible_user_id,omitempty"`
	ResponsibleUser   string `json:"responsible_user,omitempty"`
	// AllowedOrigins may embed the form (frame-ancestors) and post to it;
	// empty means any origin.
	AllowedOrigins []string `json:"allowed_origins"`
	// Notifications are the webhooks and e-mail addresses each submission
	// is delivered to.
	Notifications Notifications `json:"notifications"`
	// RetentionDays deletes submissions older than this many days; 0 keeps them.
	RetentionDays int  `json:"retention_days,omitempty"`
	Archived      bool `json:"archived"`
	// Version increases with every change; caches of the rendered page key on it.
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewFormKey returns a random, unguessable form key (80 bits, lower-case base32).
func NewFormKey() string {
	return RandomKey(10)
}

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// RandomKey returns n random bytes encoded in lower-case base32.
func RandomKey(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return keyEncoding.EncodeToString(b)
}

// ValidFormKey reports whether key has the shape of a form key, so that
// handlers can refuse garbage before touching storage. It is the regexp
// ^[a-z2-7]{8,40}$ as a loop (FuzzValidFormKey): it runs on every request.
func ValidFormKey(key string) bool {
	if len(key) < 8 || len(key) > 40 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// Validate checks the form definition and returns an EINVALID error naming
// every wrong field.
func (f *Form) Validate() error {
	errs := map[string]Msg{}
	if strings.TrimSpace(f.Name) == "" {
		errs["name"] = M(MsgRequired)
	} else if utf8.RuneCountInString(f.Name) > MaxNameLength {
		errs["name"] = M(MsgTooLong)
	}
	if utf8.RuneCountInString(f.Title) > MaxNameLength {
		errs["title"] = M(MsgTooLong)
	}
	if !ValidLanguage(f.Language) {
		errs["language"] = M(MsgOneOf, "values", "de, en")
	}
	if f.Key != "" && !ValidFormKey(f.Key) {
		errs["key"] = M(MsgInvalidFormKey)
	}
	if len(f.Fields) > MaxFields {
		errs["fields"] = M(MsgTooManyFields)
	}
	keys := map[string]bool{}
	for i := range f.Fields {
		p := "fields." + itoa(i)
		f.Fields[i].validate(p, errs)
		if keys[f.Fields[i].Key] {
			errs[p+".key"] = M(MsgUsedTwice)
		}
		keys[f.Fields[i].Key] = true
	}
	if len(f.Consents) > MaxFormConsents {
		errs["consents"] = M(MsgTooManyConsents)
	}
	cids := map[int64]bool{}
	for i, c := range f.Consents {
		p := "consents." + itoa(i)
		if c.ConsentID <= 0 {
			errs[p+".consent_id"] = M(MsgRequired)
		}
		if cids[c.ConsentID] {
			errs[p+".consent_id"] = M(MsgAttachedTwice)
		}
		cids[c.ConsentID] = true
	}
	if f.RedirectURL != "" && !validHTTPURL(f.RedirectURL) {
		errs["redirect_url"] = M(MsgHTTPURL)
	}
	if utf8.RuneCountInString(f.SuccessMessage) > MaxTextareaChars {
		errs["success_message"] = M(MsgTooLong)
	}
	if len(f.AllowedOrigins) > MaxOrigins {
		errs["allowed_origins"] = M(MsgTooManyOrigins)
	}
	for i, o := range f.AllowedOrigins {
		if _, err := NormalizeOrigin(o); err != nil {
			errs["allowed_origins."+itoa(i)] = M(MsgOrigin)
		}
	}
	f.Notifications.validate(errs)
	if f.RetentionDays < 0 || f.RetentionDays > 36500 {
		errs["retention_days"] = M(MsgBetween, "min", "0", "max", "36500")
	}
	return FieldErrors(errs)
}

// Field returns the field with the given key, or nil.
func (f *Form) Field(key string) *Field {
	for i := range f.Fields {
		if f.Fields[i].Key == key {
			return &f.Fields[i]
		}
	}
	return nil
}

// OriginAllowed reports whether origin (scheme://host[:port]) may embed and
// post to the form. An empty list allows every origin.
func (f *Form) OriginAllowed(origin string) bool {
	if len(f.AllowedOrigins) == 0 {
		return true
	}
	o, err := NormalizeOrigin(origin)
	if err != nil {
		return false
	}
	for _, a := range f.AllowedOrigins {
		if n, err := NormalizeOrigin(a); err == nil && n == o {
			return true
		}
	}
	return false
}

// NormalizeOrigin returns origin as scheme://host[:port] in lower case, or an
// error when it is not an http(s) origin without path, query or credentials.
// The host must be a DNS name (ASCII letters, digits, '-', '_' and dots; use
// the punycode form of international names) or an IP address; a port must be
// 1-65535 and is dropped when it is the scheme's default, as browsers do in
// the Origin header. The result is safe to place in CSP and CORS headers.
func NormalizeOrigin(origin string) (string, error) {
	bad := NewError(EINVALID, MsgInvalidOrigin)
	u, err := url.Parse(strings.TrimSpace(origin))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || strings.HasSuffix(u.Host, ":") {
		return "", bad
	}
	host := strings.ToLower(u.Hostname())
	if strings.HasPrefix(u.Host, "[") {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", bad
		}
		host = "[" + a.String() + "]"
	} else if !validHostname(host) {
		return "", bad
	}
	out := u.Scheme + "://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", bad
		}
		if !(u.Scheme == "http" && n == 80) && !(u.Scheme == "https" && n == 443) {
			out += ":" + strconv.Itoa(n)
		}
	}
	return out, nil
}

// validHostname reports whether h (lower case, no port) is a DNS name or an
// IPv4 address: dot-separated labels of a-z, 0-9, '-' and '_', none empty.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func validHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// ValidLinkURL reports whether s is an acceptable consent link: https, or a
// mailto address.
func ValidLinkURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != "" && u.User == nil
	case "mailto":
		return u.Opaque != ""
	}
	return false
}

func itoa(i int) string { return strconv.Itoa(i) }
