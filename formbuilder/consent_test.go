package formbuilder

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConsentValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Consent
		errs []string
	}{
		{"custom", Consent{Name: "Privacy", Type: ConsentCustom}, nil},
		{"standard", Consent{Name: "Privacy", Type: ConsentStandard}, nil},
		{"name missing", Consent{Type: ConsentCustom}, []string{"name"}},
		{"name blank", Consent{Name: "  ", Type: ConsentCustom}, []string{"name"}},
		{"name 200 runes", Consent{Name: strings.Repeat("ß", 200), Type: ConsentCustom}, nil},
		{"name too long", Consent{Name: strings.Repeat("ß", 201), Type: ConsentCustom}, []string{"name"}},
		{"type missing", Consent{Name: "x"}, []string{"type"}},
		{"type unknown", Consent{Name: "x", Type: "Custom"}, []string{"type"}},
		{"both", Consent{}, []string{"name", "type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.errs == nil {
				assert.NoError(t, err)
				return
			}
			requireFieldErrors(t, err, tt.errs...)
		})
	}
}

func validContent() ConsentContent {
	return ConsentContent{
		Text:     "<p>We process your data.</p>",
		Label:    "I accept the %privacy notice%.",
		LinkURL:  "https://example.com/privacy",
		Language: "en",
	}
}

func TestConsentContentValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *ConsentContent)
		errs   []string
	}{
		{"valid", func(c *ConsentContent) {}, nil},
		{"no link URL", func(c *ConsentContent) { c.LinkURL = "" }, nil},
		{"mailto link", func(c *ConsentContent) { c.LinkURL = "mailto:dpo@example.com" }, nil},
		{"german", func(c *ConsentContent) { c.Language = "de" }, nil},
		{"no text but a link", func(c *ConsentContent) { c.Text = "" }, nil},
		{"no text and no link", func(c *ConsentContent) { c.Text, c.LinkURL = "", "" }, []string{"text"}},
		{"only markup", func(c *ConsentContent) { c.Text, c.LinkURL = "<p> </p><br>", "" }, []string{"text"}},
		{"only a script", func(c *ConsentContent) { c.Text, c.LinkURL = "<script>hello</script>", "" }, []string{"text"}},
		{"text at the byte limit", func(c *ConsentContent) { c.Text = strings.Repeat("a", MaxConsentTextBytes) }, nil},
		{"text too long", func(c *ConsentContent) { c.Text = strings.Repeat("a", MaxConsentTextBytes+1) }, []string{"text"}},
		{"label missing", func(c *ConsentContent) { c.Label = "" }, []string{"label"}},
		{"label blank", func(c *ConsentContent) { c.Label = " \n " }, []string{"label"}},
		{"label 1000 runes", func(c *ConsentContent) { c.Label = strings.Repeat("ö", MaxConsentLabel) }, nil},
		{"label too long", func(c *ConsentContent) { c.Label = strings.Repeat("ö", MaxConsentLabel+1) }, []string{"label"}},
		{"label invalid UTF-8", func(c *ConsentContent) { c.Label = "I agree \xff" }, []string{"label"}},
		{"label with a link tag", func(c *ConsentContent) {
			c.Label = `I agree to the <a href="https://example.com/privacy">privacy policy</a>.`
		}, []string{"label"}},
		{"label with bold", func(c *ConsentContent) { c.Label = "I <b>agree</b>." }, []string{"label"}},
		{"label with a closing tag only", func(c *ConsentContent) { c.Label = "I agree.</p>" }, []string{"label"}},
		{"label with a comment", func(c *ConsentContent) { c.Label = "I agree <!-- x -->." }, []string{"label"}},
		{"label with an entity", func(c *ConsentContent) { c.Label = "Terms&nbsp;and conditions" }, []string{"label"}},
		{"label with a numeric entity", func(c *ConsentContent) { c.Label = "Terms &#38; conditions" }, []string{"label"}},
		{"label with a hex entity", func(c *ConsentContent) { c.Label = "Terms &#x26; conditions" }, []string{"label"}},
		{"label with < and & as text", func(c *ConsentContent) { c.Label = "I am < 18 & a <3 fan; R&D ok, 5<6." }, nil},
		{"label with a bare ampersand word", func(c *ConsentContent) { c.Label = "Terms & Conditions; AT&T" }, nil},
		{"http link", func(c *ConsentContent) { c.LinkURL = "http://example.com/privacy" }, []string{"link_url"}},
		{"javascript link", func(c *ConsentContent) { c.LinkURL = "javascript:alert(1)" }, []string{"link_url"}},
		{"relative link", func(c *ConsentContent) { c.LinkURL = "/privacy" }, []string{"link_url"}},
		{"language missing", func(c *ConsentContent) { c.Language = "" }, []string{"language"}},
		{"language unknown", func(c *ConsentContent) { c.Language = "es" }, []string{"language"}},
		{"everything wrong", func(c *ConsentContent) { *c = ConsentContent{LinkURL: "ftp://x"} },
			[]string{"label", "link_url", "language"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validContent()
			tt.mutate(&c)
			err := c.Validate()
			if tt.errs == nil {
				assert.NoError(t, err)
				return
			}
			requireFieldErrors(t, err, tt.errs...)
		})
	}
}

func TestConsentContentSanitize(t *testing.T) {
	c := ConsentContent{
		Text:     `<p onclick="x()">Hi</p><script>alert(1)</script><a href="https://example.com/">more</a>`,
		Label:    "  I agree  ",
		LinkURL:  " https://example.com/privacy\n",
		Language: "en",
	}
	removed := c.Sanitize()
	assert.Equal(t, `<p>Hi</p><a href="https://example.com/"`+httpsRel+`>more</a>`, c.Text)
	assert.Equal(t, "I agree", c.Label)
	assert.Equal(t, "https://example.com/privacy", c.LinkURL)
	assert.Equal(t, []string{"<script>", "event handler attributes"}, removed)
	require.NoError(t, c.Validate())

	// A second pass changes nothing, so the version hash is stable.
	h := c.Hash()
	assert.Nil(t, c.Sanitize())
	assert.Equal(t, h, c.Hash())
}

// goldenContent is a fixed consent content and goldenContentHash the SHA-256
// of its canonical form; a change to either means every stored version hash
// no longer verifies.
var goldenContent = ConsentContent{
	Text:     "<p>We process your data.</p>",
	Label:    "I accept the %privacy notice%.",
	LinkURL:  "https://example.com/privacy",
	Language: "en",
}

const (
	goldenContentCanonical = "consentforms/consent-version/v1\n" +
		"28:<p>We process your data.</p>\n" +
		"30:I accept the %privacy notice%.\n" +
		"27:https://example.com/privacy\n" +
		"2:en\n"
	goldenContentHash = "3ebea9a5627f3d1866f4d5e6086096b5f4d9e7177d68a212927f455c6b405bf4"
)

func TestConsentContentHash(t *testing.T) {
	assert.Equal(t, goldenContentCanonical, string(goldenContent.CanonicalContent()))
	assert.Equal(t, goldenContentHash, goldenContent.Hash())

	// Every field is covered: changing any one changes the hash.
	v := reflect.ValueOf(&goldenContent).Elem()
	for i := 0; i < v.NumField(); i++ {
		c := goldenContent
		f := reflect.ValueOf(&c).Elem().Field(i)
		if f.Kind() == reflect.Pointer {
			// The document: a version with one hashes its SHA-256 too.
			f.Set(reflect.ValueOf(&Document{SHA256: goldenContentHash}))
		} else {
			f.SetString(f.String() + "x")
		}
		assert.NotEqual(t, goldenContentHash, c.Hash(), "field %s is not hashed", v.Type().Field(i).Name)
	}

	// Parts are length-prefixed: moving text from one part to the next is a
	// different content.
	a := ConsentContent{Text: "ab", Label: "c"}
	b := ConsentContent{Text: "a", Label: "bc"}
	assert.NotEqual(t, a.Hash(), b.Hash())
	c := ConsentContent{Text: "a\n1:b"}
	d := ConsentContent{Text: "a", Label: "b"}
	assert.NotEqual(t, c.Hash(), d.Hash())
}

func TestConsentVersionContentAndVerifyHash(t *testing.T) {
	v := versionOf(5, 2, 1, goldenContent)
	assert.Equal(t, goldenContent, v.Content())
	assert.Equal(t, goldenContentHash, v.Hash)
	assert.True(t, v.VerifyHash())

	v.Text += " "
	assert.False(t, v.VerifyHash(), "a changed text no longer matches its hash")
	v = versionOf(5, 2, 1, goldenContent)
	v.Hash = strings.ToUpper(v.Hash)
	assert.False(t, v.VerifyHash())
	// ID, number, author and time are not content.
	v = versionOf(5, 2, 1, goldenContent)
	v.ID, v.Number, v.Author = 9, 9, "someone else"
	assert.True(t, v.VerifyHash())
}

func TestParseLabel(t *testing.T) {
	tests := []struct {
		in   string
		want Label
	}{
		{"I agree to the %privacy policy%.", Label{"I agree to the ", "privacy policy", "."}},
		{"%Privacy policy% accepted", Label{"", "Privacy policy", " accepted"}},
		{"I accept the %terms%", Label{"I accept the ", "terms", ""}},
		{"No link here", Label{Before: "No link here"}},
		{"", Label{}},
		{"100%% sure, I agree to the %terms%", Label{"100% sure, I agree to the ", "terms", ""}},
		{"I agree to %50%% off%", Label{"I agree to ", "50% off", ""}},
		{"%%", Label{Before: "%"}},
		{"%%%a%", Label{"%", "a", ""}},
		{"50% off", Label{Before: "50% off"}},
		{"a %b% c %d% e", Label{"a ", "b", " c %d% e"}},
		{"a %b% c % e", Label{"a ", "b", " c % e"}},
		{"a % % b", Label{Before: "a   b"}},
		{"a %\t% b", Label{Before: "a \t b"}},
		{"a %% b", Label{Before: "a % b"}},
		{"%ä%", Label{"", "ä", ""}},
		{"x %\x00pct\x00% y", Label{"x ", "\x00pct\x00", " y"}},
		{"x \x00pct\x00 y", Label{Before: "x \x00pct\x00 y"}},
	}
	for _, tt := range tests {
		got := ParseLabel(tt.in)
		assert.Equal(t, tt.want, got, "%q", tt.in)
		if !strings.Contains(tt.in, "%%") {
			assert.NotContains(t, got.Link, "%", "%q", tt.in)
		}
	}
	assert.Equal(t, "I agree to the privacy policy.", ParseLabel("I agree to the %privacy policy%.").String())
}

func TestCompanyDataValidate(t *testing.T) {
	ok := CompanyData{Name: "Muster GmbH", Purposes: "answering enquiries"}
	tests := []struct {
		name   string
		mutate func(d *CompanyData)
		errs   []string
	}{
		{"minimal", func(d *CompanyData) {}, nil},
		{"full", func(d *CompanyData) {
			d.Address, d.ThirdParties, d.Email = "Hauptstr. 1, Berlin", "Mailer Ltd", "dpo@muster.example"
		}, nil},
		{"name missing", func(d *CompanyData) { d.Name = " " }, []string{"company.name"}},
		{"purposes missing", func(d *CompanyData) { d.Purposes = "" }, []string{"company.purposes"}},
		{"email invalid", func(d *CompanyData) { d.Email = "dpo" }, []string{"company.email"}},
		{"email with name", func(d *CompanyData) { d.Email = "DPO <dpo@muster.example>" }, []string{"company.email"}},
		{"all", func(d *CompanyData) { *d = CompanyData{Email: "x"} },
			[]string{"company.name", "company.purposes", "company.email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ok
			tt.mutate(&d)
			err := d.Validate()
			if tt.errs == nil {
				assert.NoError(t, err)
				return
			}
			requireFieldErrors(t, err, tt.errs...)
		})
	}
}

func TestStandardContent(t *testing.T) {
	d := CompanyData{
		Name:         "Muster GmbH",
		Address:      "Hauptstr. 1, 10115 Berlin",
		Purposes:     "answering enquiries",
		ThirdParties: "Mailer Ltd",
		Email:        "dpo@muster.example",
	}
	for _, lang := range []string{"en", "de"} {
		t.Run(lang, func(t *testing.T) {
			c := StandardContent(lang, d)
			assert.Equal(t, lang, c.Language)
			require.NoError(t, c.Validate())
			for _, s := range []string{d.Name, d.Address, d.Purposes, d.ThirdParties} {
				assert.Contains(t, c.Text, s)
			}
			assert.Contains(t, c.Text, `<a href="mailto:dpo@muster.example" rel="nofollow">dpo@muster.example</a>`)
			assert.NotEmpty(t, ParseLabel(c.Label).Link, "the label links to the text")
			assert.Equal(t, c.Text, Sanitize(c.Text), "the template is a fixed point of the policy")
			assert.NoError(t, checkSafeHTML(c.Text))

			// Sanitising as the admin flow does leaves the content and so
			// the version hash alone.
			h := c.Hash()
			assert.Nil(t, c.Sanitize())
			assert.Equal(t, h, c.Hash())
		})
	}

	en := StandardContent("en", CompanyData{Name: "N", Purposes: "P"})
	assert.Contains(t, en.Text, "Recipients other than the controller: none.")
	assert.NotContains(t, en.Text, "<a ", "no e-mail, no link")
	de := StandardContent("de", CompanyData{Name: "N", Purposes: "P"})
	assert.Contains(t, de.Text, "Empfänger außer dem Verantwortlichen: keine.")
	assert.Equal(t, "en", StandardContent("fr", d).Language, "other languages fall back to English")
}

func TestStandardContentEscapesCompanyData(t *testing.T) {
	evil := CompanyData{
		Name:         `<script>alert("name")</script>`,
		Address:      `<img src=x onerror=alert(1)>`,
		Purposes:     `<a href="javascript:alert(1)">click</a>`,
		ThirdParties: `</p><iframe src="https://evil.example"></iframe>`,
		Email:        `x"><script>alert(1)</script>@evil.example`,
	}
	for _, lang := range []string{"en", "de"} {
		c := StandardContent(lang, evil)
		assert.NoError(t, checkSafeHTML(c.Text), lang)
		assert.Contains(t, c.Text, "&lt;script&gt;alert(&#34;name&#34;)&lt;/script&gt;", "company data is shown as text")
		assert.Contains(t, c.Text, "&lt;img src=x onerror=alert(1)&gt;")
		assert.NotContains(t, strings.ToLower(c.Text), "<script")
		assert.NotContains(t, strings.ToLower(c.Text), "<iframe")
		assert.NotContains(t, strings.ToLower(c.Text), "<img")
		assert.Equal(t, c.Text, Sanitize(c.Text), lang)
	}
}

// A label is plain text: HTML typed into it was shown literally to
// visitors. The message says how to make a link instead and, for a single
// link, writes the label and link URL out (issue 15: 6).
func TestLabelMarkupSaysHowToLink(t *testing.T) {
	tests := []struct{ label, want string }{
		{`Ich stimme der <a href="https://example.com/datenschutz">Datenschutzerklärung</a> zu.`,
			`label "Ich stimme der %Datenschutzerklärung% zu." and Link URL https://example.com/datenschutz`},
		{`I agree to the <A HREF='https://example.com/p' target=_blank><b>privacy</b> policy</A>.`,
			`label "I agree to the %privacy policy%." and Link URL https://example.com/p`},
		{`I <b>agree</b>.`, "between percent signs"},
		{`<a href="https://a.example">one</a> and <a href="https://b.example">two</a>`, "between percent signs"},
	}
	for _, tt := range tests {
		c := validContent()
		c.Label = tt.label
		err := c.Validate()
		requireFieldErrors(t, err, "label")
		msg := ErrorFields(err)["label"]
		assert.Contains(t, msg, "plain text", tt.label)
		assert.Contains(t, msg, "Link URL", tt.label)
		assert.Contains(t, msg, tt.want, tt.label)
	}
}

func TestStandardOutdated(t *testing.T) {
	company := CompanyData{Name: "ACME", Address: "Main St 1", Purposes: "answering you", Email: "dpo@acme.example"}
	std := func(lang string, d CompanyData) *Consent {
		c := StandardContent(lang, d)
		c.LinkURL = "https://acme.example/privacy"
		return &Consent{Type: ConsentStandard, Current: &ConsentVersion{Text: c.Text, Label: c.Label, LinkURL: c.LinkURL, Language: lang}}
	}
	changed := company
	changed.ThirdParties = "a mail provider"
	tests := []struct {
		name    string
		c       *Consent
		company CompanyData
		want    bool
	}{
		{"made with this data", std("de", company), company, false},
		{"made with this data, English", std("en", company), company, false},
		{"data changed since", std("de", company), changed, true},
		{"made by hand as standard", &Consent{Type: ConsentStandard, Current: &ConsentVersion{Text: "<p>x</p>", Label: "x", Language: "en"}}, company, true},
		{"custom text with old data", &Consent{Type: ConsentCustom, Current: std("de", company).Current}, changed, false},
		{"company data incomplete", std("de", company), CompanyData{Name: "ACME"}, false},
		{"no version", &Consent{Type: ConsentStandard}, company, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.c.StandardOutdated(tt.company), tt.name)
	}
}
