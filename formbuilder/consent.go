package formbuilder

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ConsentType says where a consent's text comes from.
type ConsentType string

// The consent types.
const (
	// ConsentCustom is free text written by the admin.
	ConsentCustom ConsentType = "custom"
	// ConsentStandard is the built-in template filled from the company data.
	ConsentStandard ConsentType = "standard"
)

// Limits on consent content.
const (
	MaxConsentTextBytes = 100_000
	MaxConsentLabel     = 1000
)

// Consent is an agreement authored by an admin ("Einwilligung"). Its content
// lives in immutable versions; Current is the newest.
type Consent struct {
	ID   int64       `json:"id"`
	Name string      `json:"name"`
	Type ConsentType `json:"type"`
	// ConfirmByEmail asks for double opt-in: a visitor who gives the
	// consent gets a mail with a link, and the consent counts only once
	// confirmed (see ConsentRecord.ConfirmBy).
	ConfirmByEmail bool            `json:"confirm_by_email"`
	Current        *ConsentVersion `json:"current,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// ConsentVersion is one immutable state of a consent's content. Every consent
// record points at the version that was shown, and Hash proves its content.
type ConsentVersion struct {
	ID        int64  `json:"id"`
	ConsentID int64  `json:"consent_id"`
	Number    int    `json:"number"`
	Text      string `json:"text"`  // sanitised HTML
	Label     string `json:"label"` // plain text, %link part% marked
	LinkURL   string `json:"link_url,omitempty"`
	Language  string `json:"language"`
	// Document is the uploaded file the label links to, if any (without
	// its bytes); its SHA-256 is part of the content the hash covers.
	Document *Document `json:"document,omitempty"`
	// Hash is the hex SHA-256 of CanonicalContent.
	Hash      string    `json:"hash"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
}

// ConsentContent is what an admin edits; a change of it makes a new version.
type ConsentContent struct {
	Text     string `json:"text"`
	Label    string `json:"label"`
	LinkURL  string `json:"link_url,omitempty"`
	Language string `json:"language"`
	// Document is the uploaded file the label links to instead of a URL:
	// with Data, a new upload that storage stores with the version; with
	// only SHA256, a document stored before.
	Document *Document `json:"document,omitempty"`
}

// Validate checks a consent's name and type.
func (c *Consent) Validate() error {
	errs := map[string]Msg{}
	if strings.TrimSpace(c.Name) == "" {
		errs["name"] = M(MsgRequired)
	} else if utf8.RuneCountInString(c.Name) > MaxNameLength {
		errs["name"] = M(MsgTooLong)
	}
	if c.Type != ConsentCustom && c.Type != ConsentStandard {
		errs["type"] = M(MsgEither, "a", "custom", "b", "standard")
	}
	return FieldErrors(errs)
}

// Validate checks the content; call it after Sanitize.
func (c *ConsentContent) Validate() error {
	errs := map[string]Msg{}
	if strings.TrimSpace(StripTags(c.Text)) == "" && c.LinkURL == "" && c.Document == nil {
		errs["text"] = M(MsgTextRequired)
	}
	if len(c.Text) > MaxConsentTextBytes {
		errs["text"] = M(MsgTooLong)
	}
	if strings.TrimSpace(c.Label) == "" {
		errs["label"] = M(MsgRequired)
	} else if utf8.RuneCountInString(c.Label) > MaxConsentLabel {
		errs["label"] = M(MsgTooLong)
	} else if !utf8.ValidString(c.Label) {
		errs["label"] = M(MsgNotUTF8)
	} else if labelMarkup(c.Label) {
		errs["label"] = labelMarkupProblem(c.Label)
	}
	if c.LinkURL != "" && !ValidLinkURL(c.LinkURL) {
		errs["link_url"] = M(MsgLinkURL)
	}
	if c.Document != nil {
		if c.LinkURL != "" {
			errs["document"] = M(MsgDocumentWithLink)
		} else if err := c.Document.Check(); err != nil {
			errs["document"] = ErrorFieldMsgs(err)["document"]
		}
	}
	if !ValidLanguage(c.Language) {
		errs["language"] = M(MsgOneOf, "values", "de, en")
	}
	return FieldErrors(errs)
}

// Sanitize cleans the admin-authored parts in place: the text through the one
// HTML policy, the label and URL trimmed. It returns what the policy removed.
func (c *ConsentContent) Sanitize() []string {
	clean, removed := SanitizeReport(c.Text)
	c.Text = clean
	c.Label = strings.TrimSpace(c.Label)
	c.LinkURL = strings.TrimSpace(c.LinkURL)
	return removed
}

// CanonicalContent is the byte string a version's hash is computed over:
// a fixed tag, then each part length-prefixed so no two contents collide.
// A version with a document has its own tag and the document's SHA-256 as
// a fifth part, so versions without one keep the hashes they always had.
func (c ConsentContent) CanonicalContent() []byte {
	var b strings.Builder
	parts := []string{c.Text, c.Label, c.LinkURL, c.Language}
	if c.Document != nil {
		b.WriteString("consentforms/consent-version/v2\n")
		parts = append(parts, c.Document.SHA256)
	} else {
		b.WriteString("consentforms/consent-version/v1\n")
	}
	for _, s := range parts {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// Hash returns the hex SHA-256 of the canonical content.
func (c ConsentContent) Hash() string {
	sum := sha256.Sum256(c.CanonicalContent())
	return hex.EncodeToString(sum[:])
}

// Content returns the editable content of the version (its document
// without bytes).
func (v *ConsentVersion) Content() ConsentContent {
	return ConsentContent{Text: v.Text, Label: v.Label, LinkURL: v.LinkURL, Language: v.Language, Document: v.Document}
}

// VerifyHash reports whether the stored hash matches the content.
func (v *ConsentVersion) VerifyHash() bool { return v.Content().Hash() == v.Hash }

// LinkTarget is where the label's link part leads: the version's document
// (its path, below the server's base URL base) or its link URL; "" when
// the link opens the text.
func (v *ConsentVersion) LinkTarget(base string) string {
	if v.Document != nil {
		return base + v.Document.Path()
	}
	if v.LinkURL != "" && ValidLinkURL(v.LinkURL) {
		return v.LinkURL
	}
	return ""
}

// Label is a consent's checkbox caption split around its link part: the part
// written %like this% becomes a link to the text (or to the link URL).
type Label struct {
	Before string
	Link   string
	After  string
}

// ParseLabel splits s at the first pair of '%' signs. Without a pair, the whole
// caption is Before and Link is empty; "%%" stands for a literal percent sign.
// A pair around nothing but spaces is no link: its text stays in Before.
func ParseLabel(s string) Label {
	// Find the first two single '%' signs; "%%" pairs are literals and are
	// skipped whole, left to right, so "%%%" is a literal and a marker.
	first, second := -1, -1
	for i := 0; i < len(s) && second < 0; i++ {
		if s[i] != '%' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			i++
			continue
		}
		if first < 0 {
			first = i
		} else {
			second = i
		}
	}
	// Each part starts at a pair boundary, so replacing "%%" part by part
	// pairs the signs exactly as the scan above did.
	lit := func(x string) string { return strings.ReplaceAll(x, "%%", "%") }
	if second < 0 {
		return Label{Before: lit(s)}
	}
	before, link, after := lit(s[:first]), lit(s[first+1:second]), lit(s[second+1:])
	if strings.TrimSpace(link) == "" {
		return Label{Before: before + link + after}
	}
	return Label{Before: before, Link: link, After: after}
}

// String returns the caption as plain text, without the % markers.
func (l Label) String() string { return l.Before + l.Link + l.After }

// CompanyData fills the standard consent template; the admin enters it once.
type CompanyData struct {
	Name         string `json:"name"`
	Address      string `json:"address"`
	Purposes     string `json:"purposes"`
	ThirdParties string `json:"third_parties"`
	Email        string `json:"email"`
}

// Validate checks that the template can be filled.
func (d *CompanyData) Validate() error {
	errs := map[string]Msg{}
	if strings.TrimSpace(d.Name) == "" {
		errs["company.name"] = M(MsgRequired)
	}
	if strings.TrimSpace(d.Purposes) == "" {
		errs["company.purposes"] = M(MsgRequired)
	}
	if d.Email != "" && !validEmail(d.Email) {
		errs["company.email"] = M(MsgInvalidEmail)
	}
	return FieldErrors(errs)
}

// StandardContent returns the text and label of the built-in consent template
// in lang, filled from d. Company data is escaped: it is plain text.
func StandardContent(lang string, d CompanyData) ConsentContent {
	e := html.EscapeString
	third := strings.TrimSpace(d.ThirdParties)
	mail := ""
	if d.Email != "" {
		mail = `<a href="mailto:` + e(d.Email) + `">` + e(d.Email) + `</a>`
	}
	if lang == "de" {
		if third == "" {
			third = "keine"
		}
		return standardContent(ConsentContent{
			Language: "de",
			Label:    "Ich stimme der %Verarbeitung meiner personenbezogenen Daten% zu.",
			Text: "<p>Ich willige ein, dass " + e(d.Name) + ", " + e(d.Address) +
				", die in diesem Formular angegebenen personenbezogenen Daten zu folgenden Zwecken verarbeitet: " +
				e(d.Purposes) + ".</p><p>Empfänger außer dem Verantwortlichen: " + e(third) +
				".</p><p>Ich kann diese Einwilligung jederzeit mit Wirkung für die Zukunft widerrufen" +
				ifs(mail != "", ", z. B. per E-Mail an "+mail, "") +
				". Die Rechtmäßigkeit der bis zum Widerruf erfolgten Verarbeitung bleibt unberührt.</p>",
		})
	}
	if third == "" {
		third = "none"
	}
	return standardContent(ConsentContent{
		Language: "en",
		Label:    "I agree to the %processing of my personal data%.",
		Text: "<p>I agree that " + e(d.Name) + ", " + e(d.Address) +
			", processes the personal data entered in this form for these purposes: " + e(d.Purposes) +
			".</p><p>Recipients other than the controller: " + e(third) +
			".</p><p>I can withdraw this consent at any time with effect for the future" +
			ifs(mail != "", ", for example by e-mail to "+mail, "") +
			". Withdrawal does not affect the lawfulness of processing before it.</p>",
	})
}

// StandardOutdated reports whether c is a standard consent whose current
// version no longer says what the template says when filled with company:
// the company data changed after the version was made. It is false while
// the company data is incomplete (no new version could be made).
func (c *Consent) StandardOutdated(company CompanyData) bool {
	if c.Type != ConsentStandard || c.Current == nil || company.Validate() != nil {
		return false
	}
	want := StandardContent(c.Current.Language, company)
	return want.Text != c.Current.Text || want.Label != c.Current.Label
}

// standardContent passes the template's text through the one policy, so that
// it is stored exactly as Sanitize leaves it (the mailto link gains its rel
// attribute) and sanitising the content again changes neither text nor hash.
func standardContent(c ConsentContent) ConsentContent {
	c.Text = Sanitize(c.Text)
	return c
}

func ifs(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}
