package formbuilder

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireFieldErrors asserts that err is EINVALID and names exactly the
// given fields.
func requireFieldErrors(t *testing.T, err error, fields ...string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, EINVALID, ErrorCode(err), "error: %v", err)
	got := make([]string, 0, len(ErrorFields(err)))
	for k := range ErrorFields(err) {
		got = append(got, k)
	}
	assert.ElementsMatch(t, fields, got, "error: %v", err)
}

func TestFormValidate(t *testing.T) {
	many := func(n int, f func(i int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	tests := []struct {
		name   string
		mutate func(f *Form)
		errs   []string // nil: valid
	}{
		{"fixture is valid", func(f *Form) {}, nil},
		{"no fields, no consents", func(f *Form) { f.Fields, f.Consents = nil, nil }, nil},
		{"empty key is set by storage", func(f *Form) { f.Key = "" }, nil},

		{"name missing", func(f *Form) { f.Name = "" }, []string{"name"}},
		{"name blank", func(f *Form) { f.Name = " \t " }, []string{"name"}},
		{"name 200 runes", func(f *Form) { f.Name = strings.Repeat("ä", 200) }, nil},
		{"name 201 runes", func(f *Form) { f.Name = strings.Repeat("ä", 201) }, []string{"name"}},
		{"title too long", func(f *Form) { f.Title = strings.Repeat("t", 201) }, []string{"title"}},
		{"language missing", func(f *Form) { f.Language = "" }, []string{"language"}},
		{"language unknown", func(f *Form) { f.Language = "fr" }, []string{"language"}},
		{"language de", func(f *Form) { f.Language = "de" }, nil},
		{"language upper case", func(f *Form) { f.Language = "EN" }, []string{"language"}},
		{"key with upper case", func(f *Form) { f.Key = "ABCDEFGHIJKLMNOP" }, []string{"key"}},
		{"key too short", func(f *Form) { f.Key = "abc" }, []string{"key"}},
		{"key with digits 0 and 1", func(f *Form) { f.Key = "abcdefgh01" }, []string{"key"}},

		{"too many fields", func(f *Form) {
			f.Fields = nil
			for i := 0; i <= MaxFields; i++ {
				f.Fields = append(f.Fields, Field{Key: "f" + itoa(i), Label: "L", Kind: KindText})
			}
		}, []string{"fields"}},
		{"50 fields", func(f *Form) {
			f.Fields = nil
			for i := 0; i < MaxFields; i++ {
				f.Fields = append(f.Fields, Field{Key: "f" + itoa(i), Label: "L", Kind: KindText})
			}
		}, nil},
		{"key empty", func(f *Form) { f.Fields[0].Key = "" }, []string{"fields.0.key"}},
		{"key starts with digit", func(f *Form) { f.Fields[1].Key = "1st" }, []string{"fields.1.key"}},
		{"key upper case", func(f *Form) { f.Fields[1].Key = "Company" }, []string{"fields.1.key"}},
		{"key with dash", func(f *Form) { f.Fields[1].Key = "company-name" }, []string{"fields.1.key"}},
		{"key with dot", func(f *Form) { f.Fields[1].Key = "a.b" }, []string{"fields.1.key"}},
		{"key 40 chars", func(f *Form) { f.Fields[1].Key = "k" + strings.Repeat("x", 39) }, nil},
		{"key 41 chars", func(f *Form) { f.Fields[1].Key = "k" + strings.Repeat("x", 40) }, []string{"fields.1.key"}},
		{"key used twice", func(f *Form) { f.Fields[2].Key = "name" }, []string{"fields.2.key"}},
		{"label missing", func(f *Form) { f.Fields[1].Label = " " }, []string{"fields.1.label"}},
		{"label may be empty on hidden", func(f *Form) { f.Fields[11].Label = "" }, nil},
		{"label 500 runes", func(f *Form) { f.Fields[1].Label = strings.Repeat("ü", 500) }, nil},
		{"label 501 runes", func(f *Form) { f.Fields[1].Label = strings.Repeat("ü", 501) }, []string{"fields.1.label"}},
		{"kind missing", func(f *Form) { f.Fields[1].Kind = "" }, []string{"fields.1.kind"}},
		{"kind unknown", func(f *Form) { f.Fields[1].Kind = "password" }, []string{"fields.1.kind"}},
		{"select without options", func(f *Form) { f.Fields[5].Options = nil }, []string{"fields.5.options"}},
		{"radio without options", func(f *Form) { f.Fields[6].Options = []string{} }, []string{"fields.6.options"}},
		{"checkbox without options is a single box", func(f *Form) { f.Fields[8].Options = nil }, nil},
		{"empty option", func(f *Form) { f.Fields[5].Options = []string{"a", " "} }, []string{"fields.5.options"}},
		{"option twice", func(f *Form) { f.Fields[5].Options = []string{"a", "a"} }, []string{"fields.5.options"}},
		{"100 options", func(f *Form) { f.Fields[5].Options = many(MaxOptions, func(i int) string { return "o" + itoa(i) }) }, nil},
		{"101 options", func(f *Form) { f.Fields[5].Options = many(MaxOptions+1, func(i int) string { return "o" + itoa(i) }) },
			[]string{"fields.5.options"}},
		{"default is an option", func(f *Form) { f.Fields[5].Default = "Support" }, nil},
		{"default not an option", func(f *Form) { f.Fields[5].Default = "Marketing" }, []string{"fields.5.default"}},
		{"group default not an option", func(f *Form) { f.Fields[8].Default = "z" }, []string{"fields.8.default"}},
		{"radio default not an option", func(f *Form) { f.Fields[6].Default = "fax" }, []string{"fields.6.default"}},
		{"e-mail default invalid", func(f *Form) { f.Fields[2].Default = "not-an-address" }, []string{"fields.2.default"}},
		{"e-mail default valid", func(f *Form) { f.Fields[2].Default = "info@example.com" }, nil},
		{"hidden default with newline", func(f *Form) { f.Fields[11].Default = "a\nb" }, []string{"fields.11.default"}},
		{"text default longer than max length", func(f *Form) { f.Fields[1].Default = strings.Repeat("x", 11) }, []string{"fields.1.default"}},
		{"date default invalid", func(f *Form) { f.Fields[9].Default = "2026-02-30" }, []string{"fields.9.default"}},
		{"number default invalid", func(f *Form) { f.Fields[10].Default = "NaN" }, []string{"fields.10.default"}},
		{"single checkbox default ticked", func(f *Form) { f.Fields[7].Default = "yes" }, nil},
		{"single checkbox default nonsense", func(f *Form) { f.Fields[7].Default = "maybe" }, []string{"fields.7.default"}},
		{"max length negative", func(f *Form) { f.Fields[1].MaxLength = -1 }, []string{"fields.1.max_length"}},
		{"max length too large", func(f *Form) { f.Fields[1].MaxLength = MaxValueLength + 1 }, []string{"fields.1.max_length"}},
		{"max length ceiling", func(f *Form) { f.Fields[1].MaxLength = MaxValueLength }, nil},

		{"too many consents", func(f *Form) {
			f.Consents = nil
			for i := 1; i <= MaxFormConsents+1; i++ {
				f.Consents = append(f.Consents, FormConsent{ConsentID: int64(i)})
			}
		}, []string{"consents"}},
		{"consent id missing", func(f *Form) { f.Consents[0].ConsentID = 0 }, []string{"consents.0.consent_id"}},
		{"consent id negative", func(f *Form) { f.Consents[1].ConsentID = -4 }, []string{"consents.1.consent_id"}},
		{"consent attached twice", func(f *Form) { f.Consents[1].ConsentID = 11 }, []string{"consents.1.consent_id"}},

		{"redirect https", func(f *Form) { f.RedirectURL = "https://example.com/thanks?x=1" }, nil},
		{"redirect http", func(f *Form) { f.RedirectURL = "http://example.com/thanks" }, nil},
		{"redirect javascript", func(f *Form) { f.RedirectURL = "javascript:alert(1)" }, []string{"redirect_url"}},
		{"redirect relative", func(f *Form) { f.RedirectURL = "/thanks" }, []string{"redirect_url"}},
		{"redirect protocol relative", func(f *Form) { f.RedirectURL = "//evil.example/" }, []string{"redirect_url"}},
		{"redirect with credentials", func(f *Form) { f.RedirectURL = "https://user:pw@example.com/" }, []string{"redirect_url"}},
		{"redirect ftp", func(f *Form) { f.RedirectURL = "ftp://example.com/" }, []string{"redirect_url"}},
		{"redirect data", func(f *Form) { f.RedirectURL = "data:text/html,x" }, []string{"redirect_url"}},

		{"success message 5000 runes", func(f *Form) { f.SuccessMessage = strings.Repeat("ä", MaxTextareaChars) }, nil},
		{"success message too long", func(f *Form) { f.SuccessMessage = strings.Repeat("a", MaxTextareaChars+1) }, []string{"success_message"}},

		{"origins", func(f *Form) { f.AllowedOrigins = []string{"https://example.com", "http://localhost:8080"} }, nil},
		{"too many origins", func(f *Form) {
			f.AllowedOrigins = many(MaxOrigins+1, func(i int) string { return "https://s" + itoa(i) + ".example.com" })
		}, []string{"allowed_origins"}},
		{"origin with path", func(f *Form) { f.AllowedOrigins = []string{"https://example.com", "https://example.com/page"} },
			[]string{"allowed_origins.1"}},
		{"origin without scheme", func(f *Form) { f.AllowedOrigins = []string{"example.com"} }, []string{"allowed_origins.0"}},
		{"origin with CSP injection", func(f *Form) { f.AllowedOrigins = []string{"https://a.example;script-src"} },
			[]string{"allowed_origins.0"}},

		{"retention 0 keeps", func(f *Form) { f.RetentionDays = 0 }, nil},
		{"retention 36500", func(f *Form) { f.RetentionDays = 36500 }, nil},
		{"retention negative", func(f *Form) { f.RetentionDays = -1 }, []string{"retention_days"}},
		{"retention too long", func(f *Form) { f.RetentionDays = 36501 }, []string{"retention_days"}},

		{"every error at once", func(f *Form) {
			f.Name, f.Language, f.RedirectURL, f.RetentionDays = "", "xx", "nope", -5
			f.Fields[0].Key, f.Fields[1].Label = "", ""
			f.Consents[0].ConsentID = 0
			f.AllowedOrigins = []string{"nope"}
		}, []string{"name", "language", "redirect_url", "retention_days", "fields.0.key",
			"fields.1.label", "consents.0.consent_id", "allowed_origins.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fixtureForm()
			tt.mutate(f)
			err := f.Validate()
			if tt.errs == nil {
				assert.NoError(t, err)
				return
			}
			requireFieldErrors(t, err, tt.errs...)
		})
	}
}

func TestFormValidateMessage(t *testing.T) {
	f := fixtureForm()
	f.Name, f.Language = "", ""
	err := f.Validate()
	assert.Equal(t, "invalid language, name", ErrorMessage(err))
	assert.Equal(t, "is required", ErrorFields(err)["name"])
	assert.Equal(t, "must be one of de, en", ErrorFields(err)["language"])
	assert.Equal(t, "is used twice", ErrorFields(func() error {
		f := fixtureForm()
		f.Fields[3].Key = "email"
		return f.Validate()
	}())["fields.3.key"])
}

func TestFieldKinds(t *testing.T) {
	assert.Len(t, FieldKinds, 11)
	for _, k := range FieldKinds {
		assert.True(t, k.Valid(), k)
	}
	for _, k := range []FieldKind{"", "Email", "password", "file", "text "} {
		assert.False(t, k.Valid(), k)
	}
	options := map[FieldKind]bool{KindSelect: true, KindRadio: true, KindCheckbox: true}
	for _, k := range FieldKinds {
		assert.Equal(t, options[k], k.HasOptions(), k)
	}
}

func TestFieldKindsValidateInAForm(t *testing.T) {
	// Every kind is accepted in a form, given options where it needs them.
	for _, k := range FieldKinds {
		f := fixtureForm()
		fld := Field{Key: "x", Label: "X", Kind: k}
		if k == KindSelect || k == KindRadio {
			fld.Options = []string{"one"}
		}
		f.Fields = []Field{fld}
		assert.NoError(t, f.Validate(), k)
	}
}

func TestEffectiveMaxLength(t *testing.T) {
	tests := []struct {
		kind FieldKind
		max  int
		want int
	}{
		{KindText, 0, DefaultMaxLength},
		{KindName, 0, DefaultMaxLength},
		{KindTextarea, 0, MaxTextareaChars},
		{KindText, 10, 10},
		{KindTextarea, 10, 10},
		{KindText, -3, DefaultMaxLength},
		{KindText, MaxValueLength, MaxValueLength},
		{KindText, MaxValueLength + 1, DefaultMaxLength},
		{KindTextarea, MaxValueLength + 1, MaxTextareaChars},
	}
	for _, tt := range tests {
		f := Field{Kind: tt.kind, MaxLength: tt.max}
		assert.Equal(t, tt.want, f.EffectiveMaxLength(), "%s max %d", tt.kind, tt.max)
	}
}

func TestFormField(t *testing.T) {
	f := fixtureForm()
	require.NotNil(t, f.Field("email"))
	assert.Equal(t, KindEmail, f.Field("email").Kind)
	assert.Nil(t, f.Field("nope"))
	f.Field("email").Label = "Mail"
	assert.Equal(t, "Mail", f.Fields[2].Label, "Field returns a pointer into the form")
}

func TestValidLanguage(t *testing.T) {
	assert.True(t, ValidLanguage("de"))
	assert.True(t, ValidLanguage("en"))
	for _, l := range []string{"", "fr", "DE", "en-US", "de "} {
		assert.False(t, ValidLanguage(l), l)
	}
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in, want string // want "": error
	}{
		{"https://example.com", "https://example.com"},
		{"https://example.com/", "https://example.com"},
		{"  https://example.com  ", "https://example.com"},
		{"HTTPS://Example.COM", "https://example.com"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"https://example.com:8443", "https://example.com:8443"},
		{"https://example.com:443", "https://example.com"},
		{"http://example.com:80", "http://example.com"},
		{"http://example.com:443", "http://example.com:443"},
		{"https://example.com:0443", "https://example.com"},
		{"https://sub-domain.example.co.uk", "https://sub-domain.example.co.uk"},
		{"https://xn--bcher-kva.example", "https://xn--bcher-kva.example"},
		{"http://127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"http://[::1]:3000", "http://[::1]:3000"},
		{"https://[2001:DB8::0001]", "https://[2001:db8::1]"},

		{"", ""},
		{"null", ""},
		{"example.com", ""},
		{"//example.com", ""},
		{"ftp://example.com", ""},
		{"javascript:alert(1)", ""},
		{"https:example.com", ""},
		{"https://", ""},
		{"https://example.com/path", ""},
		{"https://example.com?q=1", ""},
		{"https://example.com/?", ""},
		{"https://example.com#frag", ""},
		{"https://user@example.com", ""},
		{"https://user:pw@example.com", ""},
		{"https://example.com:", ""},
		{"https://example.com:0", ""},
		{"https://example.com:65536", ""},
		{"https://example.com:99999", ""},
		{"https://example.com:x", ""},
		{"https://exa mple.com", ""},
		{"https://*.example.com", ""},
		{"https://example..com", ""},
		{"https://.example.com", ""},
		{"https://bücher.example", ""},
		{"https://[fe80::1%25eth0]", ""},
		// Characters that would break out of a CSP or CORS header.
		{"https://a.example;script-src", ""},
		{"https://a.example,https://b.example", ""},
		{"https://a.example'", ""},
		{`https://a.example"`, ""},
		{"https://a$b.example", ""},
		{"https://a.example\r\nSet-Cookie:x", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeOrigin(tt.in)
		if tt.want == "" {
			assert.Error(t, err, "%q gave %q", tt.in, got)
			assert.Equal(t, EINVALID, ErrorCode(err), tt.in)
			assert.Empty(t, got, tt.in)
			continue
		}
		if assert.NoError(t, err, tt.in) {
			assert.Equal(t, tt.want, got, tt.in)
			again, err := NormalizeOrigin(got)
			assert.NoError(t, err)
			assert.Equal(t, got, again, "normalising is idempotent")
		}
	}
}

func TestOriginAllowed(t *testing.T) {
	f := &Form{AllowedOrigins: []string{"https://Example.com", "http://localhost:8080/", "https://shop.example.com:443"}}
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://example.com", true},
		{"HTTPS://EXAMPLE.COM", true},
		{"https://example.com:443", true},
		{"http://localhost:8080", true},
		{"https://shop.example.com", true},
		{"http://example.com", false},
		{"https://example.com:8443", false},
		{"https://evil.example.com", false},
		{"https://example.com.evil.example", false},
		{"http://localhost:8081", false},
		{"null", false},
		{"", false},
		{"https://example.com/page", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, f.OriginAllowed(tt.origin), tt.origin)
	}

	open := &Form{}
	assert.True(t, open.OriginAllowed("https://anything.example"), "no list allows every origin")
	assert.True(t, open.OriginAllowed("null"))

	broken := &Form{AllowedOrigins: []string{"not an origin"}}
	assert.False(t, broken.OriginAllowed("https://example.com"), "an invalid entry matches nothing")
	assert.False(t, broken.OriginAllowed("not an origin"))
}

func TestFormKeys(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k := NewFormKey()
		require.Len(t, k, 16, "80 bits in base32 are 16 characters")
		require.Regexp(t, `^[a-z2-7]{16}$`, k)
		require.True(t, ValidFormKey(k), k)
		require.False(t, seen[k], "duplicate key %q after %d keys", k, i)
		seen[k] = true
	}
	assert.Len(t, RandomKey(5), 8)
	assert.Len(t, RandomKey(32), 52)
	assert.NotEqual(t, RandomKey(32), RandomKey(32))
}

func TestValidFormKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"abcdefgh", true},
		{"abcdefghijklmnop", true},
		{strings.Repeat("a", 40), true},
		{"a2b3c4d5e6f7g7h7", true},
		{"", false},
		{"abcdefg", false},
		{strings.Repeat("a", 41), false},
		{"ABCDEFGHIJKLMNOP", false},
		{"abcdefgh0", false},
		{"abcdefgh1", false},
		{"abcdefgh8", false},
		{"abcd-efgh", false},
		{"abcdefgh/../x", false},
		{"abcdefgh\n", false},
		{"12345678", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ValidFormKey(tt.key), "%q", tt.key)
	}
}

func TestValidLinkURL(t *testing.T) {
	tests := []struct {
		url  string
		want bool
	}{
		{"https://example.com/privacy", true},
		{"https://example.com/files/privacy.pdf#page=2", true},
		{"HTTPS://example.com", true},
		{"mailto:dpo@example.com", true},
		{"mailto:dpo@example.com?subject=Consent", true},
		{"", false},
		{"http://example.com/privacy", false},
		{"https://", false},
		{"https:///path", false},
		{"https://user:pw@example.com/", false},
		{"//example.com/privacy", false},
		{"/privacy", false},
		{"privacy.html", false},
		{"mailto:", false},
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{"data:text/html,x", false},
		{"vbscript:msgbox(1)", false},
		{"ftp://example.com/x", false},
		{"https://exa mple.com", false},
		{"https://example.com/%zz", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ValidLinkURL(tt.url), "%q", tt.url)
	}
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		email string
		want  bool
	}{
		{"ada@example.com", true},
		{"ada.lovelace+forms@mail.example.co.uk", true},
		{"o'brien@example.ie", true},
		{"jürgen@beispiel.de", true},
		{"", false},
		{"ada", false},
		{"ada@", false},
		{"@example.com", false},
		{"ada@example", false},
		{"ada@@example.com", false},
		{"ada example@example.com", false},
		{"Ada <ada@example.com>", false},
		{"<ada@example.com>", false},
		{`"ada"@example.com`, false},
		{"ada@example.com\n", false},
		{"ada@example.com\r\nBcc: x@example.com", false},
		{"ada@example.com\tx", false},
		{"ada@exa mple.com", false},
		{"ada@example.com (comment)", false},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", true},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ValidEmail(tt.email), "%q", tt.email)
	}
}
