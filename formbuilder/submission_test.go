package formbuilder

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validInput returns a submission input that fixtureForm accepts: only the
// required name and the required consent 11.
func validInput() SubmissionInput {
	return SubmissionInput{
		Values:    map[string][]string{"name": {"Ada Lovelace"}},
		Consents:  map[int64]ConsentInput{11: {Checked: true}},
		PageURL:   "https://shop.example.com/contact?ref=nav",
		IP:        "203.0.113.7",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
	}
}

// requireRejected asserts that ValidateSubmission refused the input with an
// EINVALID error naming field (and the given message, when not empty) and
// returned nothing to store.
func requireRejected(t *testing.T, sub *Submission, recs []*ConsentRecord, err error, field, msg string) {
	t.Helper()
	require.Error(t, err)
	assert.Nil(t, sub, "no submission on error")
	assert.Nil(t, recs, "no records on error")
	require.Equal(t, EINVALID, ErrorCode(err), "%v", err)
	fields := ErrorFields(err)
	require.Contains(t, fields, field, "%v", err)
	if msg != "" {
		assert.Contains(t, fields[field], msg)
	}
}

func TestValidateSubmissionValues(t *testing.T) {
	long := func(n int) string { return strings.Repeat("ä", n) }
	tests := []struct {
		name  string
		key   string
		vals  []string
		want  []string // accepted and stored as this (nil: not stored)
		error string   // when not empty, the field is rejected with this message part
	}{
		// name: required, one line, 200 characters by default.
		{"name", "name", []string{"Ada"}, []string{"Ada"}, ""},
		{"name trimmed", "name", []string{"  Ada  "}, []string{"Ada"}, ""},
		{"name missing", "name", nil, nil, "is required"},
		{"name empty", "name", []string{""}, nil, "is required"},
		{"name blank", "name", []string{" \t "}, nil, "is required"},
		{"name two values", "name", []string{"Ada", "Bob"}, nil, "takes one value"},
		{"name empty second value ignored", "name", []string{"Ada", ""}, []string{"Ada"}, ""},
		{"name 200 runes", "name", []string{long(200)}, []string{long(200)}, ""},
		{"name 201 runes", "name", []string{long(201)}, nil, "is too long (at most 200 characters)"},
		{"name newline", "name", []string{"Ada\nBcc: x"}, nil, "must be one line"},
		{"name carriage return", "name", []string{"Ada\rX"}, nil, "must be one line"},
		{"name NUL", "name", []string{"Ada\x00"}, nil, "NUL"},
		{"name invalid UTF-8", "name", []string{"Ada \xff"}, nil, "not valid UTF-8"},
		{"name invalid UTF-8 in ignored empty-looking value", "name", []string{"Ada", "\xc3"}, nil, "not valid UTF-8"},

		// text with MaxLength 10.
		{"text 10 runes", "company", []string{long(10)}, []string{long(10)}, ""},
		{"text 11 runes", "company", []string{long(11)}, nil, "at most 10 characters"},
		{"text 20 bytes but 10 runes", "company", []string{"éééééééééé"}, []string{"éééééééééé"}, ""},
		{"text multiline", "company", []string{"a\nb"}, nil, "must be one line"},
		{"text optional empty", "company", []string{""}, nil, ""},

		// email.
		{"email", "email", []string{"ada@example.com"}, []string{"ada@example.com"}, ""},
		{"email trimmed", "email", []string{" ada@example.com\n"}, []string{"ada@example.com"}, ""},
		{"email no at", "email", []string{"ada.example.com"}, nil, "e-mail"},
		{"email no dot in domain", "email", []string{"ada@localhost"}, nil, "e-mail"},
		{"email display name", "email", []string{"Ada <ada@example.com>"}, nil, "e-mail"},
		{"email header injection", "email", []string{"ada@example.com\nBcc: x@example.com"}, nil, "e-mail"},
		{"email two", "email", []string{"a@example.com", "b@example.com"}, nil, "takes one value"},

		// phone.
		{"phone international", "phone", []string{"+49 30 1234567"}, []string{"+49 30 1234567"}, ""},
		{"phone local", "phone", []string{"(030) 123-456/7"}, []string{"(030) 123-456/7"}, ""},
		{"phone country code in parentheses", "phone", []string{"(+49) 30 1234567"}, []string{"(+49) 30 1234567"}, ""},
		{"phone starting with a dash", "phone", []string{"-030 1234567"}, nil, "phone"},
		{"phone with slash", "phone", []string{"030/1234567"}, []string{"030/1234567"}, ""},
		{"phone letters", "phone", []string{"call me"}, nil, "phone"},
		{"phone too short", "phone", []string{"1234"}, nil, "phone"},
		{"phone too many digits", "phone", []string{"123456789012345678"}, nil, "phone"},
		{"phone 17 digits", "phone", []string{"12345678901234567"}, []string{"12345678901234567"}, ""},
		{"phone multiline", "phone", []string{"+49 30 1234567\n+1 555"}, nil, "phone"},
		{"phone trailing plus", "phone", []string{"12345+"}, nil, "phone"},

		// textarea: multiline allowed, not trimmed, 20 runes here.
		{"textarea", "message", []string{"line 1\nline 2"}, []string{"line 1\nline 2"}, ""},
		{"textarea keeps spaces", "message", []string{"  indented\n"}, []string{"  indented\n"}, ""},
		{"textarea 20 runes", "message", []string{long(20)}, []string{long(20)}, ""},
		{"textarea 21 runes", "message", []string{long(21)}, nil, "at most 20 characters"},
		{"textarea blank is empty", "message", []string{"\n\n  "}, nil, ""},
		{"textarea NUL", "message", []string{"a\x00b"}, nil, "NUL"},
		{"textarea invalid UTF-8", "message", []string{"\xff\xfe"}, nil, "UTF-8"},

		// select and radio.
		{"select option", "topic", []string{"Support"}, []string{"Support"}, ""},
		{"select not an option", "topic", []string{"Marketing"}, nil, "not one of the options"},
		{"select case differs", "topic", []string{"support"}, nil, "not one of the options"},
		{"select two options", "topic", []string{"Sales", "Support"}, nil, "takes one value"},
		{"radio option", "channel", []string{"phone"}, []string{"phone"}, ""},
		{"radio not an option", "channel", []string{"fax"}, nil, "not one of the options"},

		// single checkbox.
		{"checkbox on", "newsletter", []string{"on"}, []string{"yes"}, ""},
		{"checkbox yes", "newsletter", []string{"yes"}, []string{"yes"}, ""},
		{"checkbox true", "newsletter", []string{"TRUE"}, []string{"yes"}, ""},
		{"checkbox 1", "newsletter", []string{"1"}, []string{"yes"}, ""},
		{"checkbox unticked", "newsletter", nil, nil, ""},
		{"checkbox no", "newsletter", []string{"no"}, nil, "must be ticked or not"},
		{"checkbox garbage", "newsletter", []string{"<script>"}, nil, "must be ticked or not"},
		{"checkbox twice", "newsletter", []string{"on", "on"}, nil, "takes one value"},

		// checkbox group.
		{"group one", "interests", []string{"b"}, []string{"b"}, ""},
		{"group several", "interests", []string{"a", "c"}, []string{"a", "c"}, ""},
		{"group with empty", "interests", []string{"a", "", "c"}, []string{"a", "c"}, ""},
		{"group not an option", "interests", []string{"a", "z"}, nil, "not one of the options"},
		{"group too many values", "interests", strings.Split(strings.Repeat("a,", MaxOptions+1)[:2*(MaxOptions+1)-1], ","), nil, "too many values"},

		// date.
		{"date", "birthday", []string{"1815-12-10"}, []string{"1815-12-10"}, ""},
		{"date leap day", "birthday", []string{"2024-02-29"}, []string{"2024-02-29"}, ""},
		{"date not leap year", "birthday", []string{"2025-02-29"}, nil, "not a valid date"},
		{"date day 32", "birthday", []string{"2026-01-32"}, nil, "not a valid date"},
		{"date german format", "birthday", []string{"10.12.1815"}, nil, "like 2026-01-31"},
		{"date short", "birthday", []string{"2026-1-5"}, nil, "like 2026-01-31"},
		{"date with time", "birthday", []string{"2026-01-05T10:00:00Z"}, nil, "like 2026-01-31"},
		{"date unicode digits", "birthday", []string{"２０２６-01-05"}, nil, "like 2026-01-31"},

		// number.
		{"number integer", "amount", []string{"42"}, []string{"42"}, ""},
		{"number negative decimal", "amount", []string{"-3.5"}, []string{"-3.5"}, ""},
		{"number exponent", "amount", []string{"1e3"}, []string{"1e3"}, ""},
		{"number NaN", "amount", []string{"NaN"}, nil, "must be a number"},
		{"number nan", "amount", []string{"nan"}, nil, "must be a number"},
		{"number Inf", "amount", []string{"Inf"}, nil, "must be a number"},
		{"number +Inf", "amount", []string{"+Inf"}, nil, "must be a number"},
		{"number -Infinity", "amount", []string{"-Infinity"}, nil, "must be a number"},
		{"number overflow", "amount", []string{"1e400"}, nil, "must be a number"},
		{"number comma", "amount", []string{"1,5"}, nil, "must be a number"},
		{"number words", "amount", []string{"ten"}, nil, "must be a number"},

		// hidden.
		{"hidden", "campaign", []string{"spring"}, []string{"spring"}, ""},
		{"hidden other value", "campaign", []string{"autumn"}, []string{"autumn"}, ""},
		{"hidden multiline", "campaign", []string{"a\r\nb"}, nil, "must be one line"},
		{"hidden too long", "campaign", []string{strings.Repeat("x", DefaultMaxLength+1)}, nil, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			if tt.vals == nil {
				delete(in.Values, tt.key)
			} else {
				in.Values[tt.key] = tt.vals
			}
			sub, recs, err := ValidateSubmission(fixtureForm(), in)
			if tt.error != "" {
				requireRejected(t, sub, recs, err, tt.key, tt.error)
				assert.Len(t, ErrorFields(err), 1, "only %s is wrong: %v", tt.key, err)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, sub)
			if tt.want == nil {
				assert.NotContains(t, sub.Values, tt.key)
			} else {
				assert.Equal(t, tt.want, sub.Values[tt.key])
			}
			assert.Len(t, recs, 1)
		})
	}
}

func TestValidateSubmissionOptionsWithSpaces(t *testing.T) {
	f := fixtureForm()
	f.Fields[5].Options = []string{"Sales ", " Support"}
	require.NoError(t, f.Validate())
	for _, v := range []string{"Sales ", " Support"} {
		in := validInput()
		in.Values["topic"] = []string{v}
		sub, _, err := ValidateSubmission(f, in)
		require.NoError(t, err, "option %q must be selectable", v)
		assert.Equal(t, []string{v}, sub.Values["topic"])
	}
	// Other values are trimmed before the comparison, as before.
	f.Fields[5].Options = []string{"Sales", "Support"}
	in := validInput()
	in.Values["topic"] = []string{" Support\n"}
	sub, _, err := ValidateSubmission(f, in)
	require.NoError(t, err)
	assert.Equal(t, []string{"Support"}, sub.Values["topic"])
}

func TestValidateSubmissionEveryFieldAtOnce(t *testing.T) {
	in := validInput()
	in.Values = map[string][]string{
		"name": {"Ada"}, "company": {"Analytical"}, "email": {"ada@example.com"},
		"phone": {"+44 20 7946 0000"}, "message": {"Hello\nthere"}, "topic": {"Sales"},
		"channel": {"mail"}, "newsletter": {"on"}, "interests": {"a", "b"}, "birthday": {"1815-12-10"},
		"amount": {"3.14"}, "campaign": {"spring"},
	}
	sub, recs, err := ValidateSubmission(fixtureForm(), in)
	require.NoError(t, err)
	assert.Len(t, sub.Values, 12)
	assert.Equal(t, []string{"yes"}, sub.Values["newsletter"])
	assert.Len(t, recs, 1)
}

func TestValidateSubmissionUnknownKey(t *testing.T) {
	in := validInput()
	in.Values["is_admin"] = []string{"1"}
	sub, recs, err := ValidateSubmission(fixtureForm(), in)
	requireRejected(t, sub, recs, err, "is_admin", "not a field of this form")
	assert.Contains(t, ErrorMessage(err), "is_admin")

	// Even an empty value under an unknown key is refused.
	in = validInput()
	in.Values["x"] = []string{""}
	sub, recs, err = ValidateSubmission(fixtureForm(), in)
	requireRejected(t, sub, recs, err, "x", "")
}

func TestValidateSubmissionCollectsEveryError(t *testing.T) {
	in := validInput()
	in.Values = map[string][]string{"email": {"nope"}, "topic": {"x"}, "evil": {"1"}}
	in.Consents = nil
	in.PageURL = "javascript:alert(1)"
	sub, recs, err := ValidateSubmission(fixtureForm(), in)
	require.Error(t, err)
	assert.Nil(t, sub)
	assert.Nil(t, recs)
	keys := []string{}
	for k := range ErrorFields(err) {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"name", "email", "topic", "evil", "consent.11", "page_url"}, keys)
}

func TestValidateSubmissionPageURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"", true},
		{"https://shop.example.com/contact?x=1#form", true},
		{"http://localhost:8080/", true},
		{"https://example.com/" + strings.Repeat("a", MaxPageURL-len("https://example.com/")), true},
		{"https://example.com/" + strings.Repeat("a", MaxPageURL-len("https://example.com/")+1), false},
		{"javascript:alert(1)", false},
		{"data:text/html,x", false},
		{"ftp://example.com/", false},
		{"/contact", false},
		{"//example.com/contact", false},
		{"https://user:pw@example.com/", false},
		{"https://example.com/\r\nX: y", false},
		{"not a url", false},
	}
	for _, tt := range tests {
		in := validInput()
		in.PageURL = tt.url
		sub, recs, err := ValidateSubmission(fixtureForm(), in)
		if !tt.ok {
			requireRejected(t, sub, recs, err, "page_url", "")
			continue
		}
		require.NoError(t, err, "%q", tt.url)
		assert.Equal(t, tt.url, sub.PageURL)
		require.Len(t, recs, 1)
		assert.Equal(t, tt.url, recs[0].PageURL)
	}
}

func TestValidateSubmissionConsents(t *testing.T) {
	form := fixtureForm()
	privacy, news := form.Consents[0].Consent.Current, form.Consents[1].Consent.Current

	t.Run("required consent unticked", func(t *testing.T) {
		for _, c := range []map[int64]ConsentInput{
			nil,
			{11: {Checked: false, Touched: TouchChanged}},
			{11: {Checked: false}, 12: {Checked: true}},
		} {
			in := validInput()
			in.Consents = c
			sub, recs, err := ValidateSubmission(fixtureForm(), in)
			requireRejected(t, sub, recs, err, "consent.11", "must be accepted")
			assert.NotContains(t, ErrorFields(err), "consent.12")
		}
	})

	t.Run("optional consent unticked gives no record", func(t *testing.T) {
		in := validInput()
		in.Consents[12] = ConsentInput{Checked: false, Touched: TouchChanged}
		_, recs, err := ValidateSubmission(fixtureForm(), in)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		assert.Equal(t, int64(11), recs[0].ConsentID)
	})

	t.Run("both ticked give one record each", func(t *testing.T) {
		in := validInput()
		in.Values["email"] = []string{"ada@example.com"}
		in.Consents = map[int64]ConsentInput{
			11: {Checked: true, Touched: TouchNone, VersionID: 101},
			12: {Checked: true, Touched: TouchChanged},
		}
		sub, recs, err := ValidateSubmission(form, in)
		require.NoError(t, err)
		require.Len(t, recs, 2)

		want := []struct {
			id, version         int64
			number              int
			name, hash          string
			initial, interacted bool
		}{
			{11, 101, 3, "Privacy", privacy.Hash, true, false},
			{12, 202, 1, "Newsletter", news.Hash, false, true},
		}
		for i, w := range want {
			r := recs[i]
			assert.Equal(t, ActionGiven, r.Action)
			assert.Equal(t, w.id, r.ConsentID)
			assert.Equal(t, w.name, r.ConsentName)
			assert.Equal(t, w.version, r.VersionID)
			assert.Equal(t, w.number, r.VersionNo)
			assert.Equal(t, w.hash, r.TextHash)
			assert.Len(t, r.TextHash, 64)
			assert.Equal(t, int64(7), r.FormID)
			assert.Equal(t, "abcdefghijklmnop", r.FormKey)
			assert.Equal(t, "Contact", r.Source)
			assert.Equal(t, in.PageURL, r.PageURL)
			assert.Equal(t, int64(3), r.UserID)
			assert.Equal(t, "Ada Admin", r.User)
			assert.Equal(t, "203.0.113.7", r.IP)
			assert.Equal(t, in.UserAgent, r.UserAgent)
			assert.Equal(t, "ada@example.com", r.Subject)
			assert.Equal(t, w.initial, r.InitialState)
			assert.Equal(t, w.interacted, r.Interacted)
			// Storage sets these.
			assert.Zero(t, r.ID)
			assert.True(t, r.Time.IsZero())
			assert.Empty(t, r.PrevHash)
			assert.Empty(t, r.Hash)
			assert.Zero(t, r.SubmissionID)
		}
		assert.Equal(t, int64(7), sub.FormID)
		assert.Equal(t, "abcdefghijklmnop", sub.FormKey)
		assert.Equal(t, "203.0.113.7", sub.IP)
		assert.Zero(t, sub.ID)
		assert.True(t, sub.CreatedAt.IsZero())
	})

	t.Run("stale version", func(t *testing.T) {
		in := validInput()
		in.Consents[11] = ConsentInput{Checked: true, VersionID: 100}
		sub, recs, err := ValidateSubmission(fixtureForm(), in)
		requireRejected(t, sub, recs, err, "consent.11", "changed")
	})

	t.Run("stale version of an optional consent", func(t *testing.T) {
		in := validInput()
		in.Consents[12] = ConsentInput{Checked: true, VersionID: 201}
		sub, recs, err := ValidateSubmission(fixtureForm(), in)
		requireRejected(t, sub, recs, err, "consent.12", "changed")
	})

	t.Run("unknown consent", func(t *testing.T) {
		in := validInput()
		in.Consents[99] = ConsentInput{Checked: true}
		sub, recs, err := ValidateSubmission(fixtureForm(), in)
		requireRejected(t, sub, recs, err, "consent.99", "not a consent of this form")
	})

	t.Run("consent without loaded version is an internal error", func(t *testing.T) {
		f := fixtureForm()
		f.Consents[0].Consent.Current = nil
		sub, recs, err := ValidateSubmission(f, validInput())
		require.Error(t, err)
		assert.Nil(t, sub)
		assert.Nil(t, recs)
		assert.Equal(t, EINTERNAL, ErrorCode(err))
		assert.Equal(t, "internal error", ErrorMessage(err))

		f.Consents[0].Consent = nil
		sub, recs, err = ValidateSubmission(f, validInput())
		assert.Equal(t, EINTERNAL, ErrorCode(err))
		assert.Nil(t, sub)
		assert.Nil(t, recs)
	})

	t.Run("form without consents", func(t *testing.T) {
		f := fixtureForm()
		f.Consents = nil
		in := validInput()
		in.Consents = nil
		sub, recs, err := ValidateSubmission(f, in)
		require.NoError(t, err)
		assert.NotNil(t, sub)
		assert.Empty(t, recs)
	})
}

func TestValidateSubmissionArchived(t *testing.T) {
	f := fixtureForm()
	f.Archived = true
	sub, recs, err := ValidateSubmission(f, validInput())
	require.Error(t, err)
	assert.Equal(t, EGONE, ErrorCode(err))
	assert.Nil(t, sub)
	assert.Nil(t, recs)

	// Gone wins over invalid input.
	in := validInput()
	in.Values = map[string][]string{"evil": {"x"}}
	_, _, err = ValidateSubmission(f, in)
	assert.Equal(t, EGONE, ErrorCode(err))
}

func TestValidateSubmissionSubject(t *testing.T) {
	f := fixtureForm()
	f.Fields = append(f.Fields, Field{Key: "email2", Label: "Other e-mail", Kind: KindEmail})
	tests := []struct {
		name   string
		values map[string][]string
		want   string
	}{
		{"email", map[string][]string{"email": {"ada@example.com"}, "phone": {"+49 30 1234567"}}, "ada@example.com"},
		{"phone when no email", map[string][]string{"phone": {"+49 30 1234567"}}, "+49 30 1234567"},
		{"first email field in form order", map[string][]string{"email2": {"b@example.com"}, "email": {"a@example.com"}}, "a@example.com"},
		{"second email field when first empty", map[string][]string{"email2": {"b@example.com"}, "email": {""}}, "b@example.com"},
		{"neither", map[string][]string{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			for k, v := range tt.values {
				in.Values[k] = v
			}
			sub, recs, err := ValidateSubmission(f, in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, sub.Subject)
			for _, r := range recs {
				assert.Equal(t, tt.want, r.Subject)
			}
		})
	}
}

func TestValidateSubmissionUserAgent(t *testing.T) {
	tests := []struct {
		name, ua, want string
	}{
		{"short", "curl/8.0", "curl/8.0"},
		{"exactly 512", strings.Repeat("a", MaxUserAgent), strings.Repeat("a", MaxUserAgent)},
		{"cut at 512 bytes", strings.Repeat("a", MaxUserAgent+10), strings.Repeat("a", MaxUserAgent)},
		{"cut on a rune boundary", "a" + strings.Repeat("€", 200), "a" + strings.Repeat("€", 170)},
		{"invalid UTF-8 replaced", "bot\xff", "bot\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			in.UserAgent = tt.ua
			sub, recs, err := ValidateSubmission(fixtureForm(), in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, sub.UserAgent)
			assert.Equal(t, tt.want, recs[0].UserAgent)
			assert.LessOrEqual(t, len(sub.UserAgent), MaxUserAgent)
		})
	}
}

func TestValidateSubmissionDoesNotKeepInputSlices(t *testing.T) {
	in := validInput()
	in.Values["interests"] = []string{"a", "", "b"}
	sub, _, err := ValidateSubmission(fixtureForm(), in)
	require.NoError(t, err)
	in.Values["interests"][0] = "changed"
	assert.Equal(t, []string{"a", "b"}, sub.Values["interests"])
}

// benchForm is a 6-field form with 2 consents, the size of a typical
// contact form.
func benchForm() *Form {
	f := fixtureForm()
	f.Fields = []Field{
		{Key: "name", Label: "Name", Kind: KindName, Required: true},
		{Key: "email", Label: "E-mail", Kind: KindEmail, Required: true},
		{Key: "phone", Label: "Phone", Kind: KindPhone},
		{Key: "topic", Label: "Topic", Kind: KindSelect, Options: []string{"Sales", "Support", "Press"}},
		{Key: "message", Label: "Message", Kind: KindTextarea},
		{Key: "campaign", Kind: KindHidden, Default: "spring"},
	}
	return f
}

func BenchmarkValidateSubmission(b *testing.B) {
	f := benchForm()
	if err := f.Validate(); err != nil {
		b.Fatal(err)
	}
	in := SubmissionInput{
		Values: map[string][]string{
			"name": {"Ada Lovelace"}, "email": {"ada@example.com"}, "phone": {"+44 20 7946 0000"},
			"topic": {"Support"}, "message": {strings.Repeat("Hello, I have a question. ", 20)},
			"campaign": {"spring"},
		},
		Consents: map[int64]ConsentInput{
			11: {Checked: true, VersionID: 101},
			12: {Checked: true, Touched: TouchChanged},
		},
		PageURL:   "https://shop.example.com/contact",
		IP:        "203.0.113.7",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
	}
	b.ReportAllocs()
	for b.Loop() {
		sub, recs, err := ValidateSubmission(f, in)
		if err != nil || sub == nil || len(recs) != 2 {
			b.Fatal(err, strconv.Itoa(len(recs)))
		}
	}
}

// TestInteraction: every combination of shown state, sent state and claim.
// A box that changed state was touched whatever the client says; a client
// that says otherwise is refused.
func TestInteraction(t *testing.T) {
	tests := []struct {
		initial, checked bool
		claim            Touch
		interacted, ok   bool
	}{
		{true, true, TouchUnknown, false, true},
		{true, true, TouchNone, false, true},
		{true, true, TouchChanged, true, true}, // ticked off and on again
		{false, true, TouchUnknown, true, true},
		{false, true, TouchChanged, true, true},
		{false, true, TouchNone, false, false}, // ticked by nobody
		{true, false, TouchUnknown, true, true},
		{true, false, TouchNone, false, false},
		{false, false, TouchNone, false, true},
		{false, false, TouchChanged, true, true},
	}
	for _, tt := range tests {
		interacted, ok := Interaction(tt.initial, tt.checked, tt.claim)
		assert.Equal(t, tt.ok, ok, "%+v", tt)
		if ok {
			assert.Equal(t, tt.interacted, interacted, "%+v", tt)
		}
	}
}

// TestInitialStateIsTheServers: the entry's initial state is what the
// server showed (the render token's record, else the form's configuration)
// and never what the client claims; a claim that cannot be true is refused.
func TestInitialStateIsTheServers(t *testing.T) {
	type want struct{ initial, interacted bool }
	tests := []struct {
		name  string
		shown map[int64]bool
		c     map[int64]ConsentInput
		want  map[int64]want
		// refused names the consent field of an impossible claim.
		refused string
	}{
		{name: "no claims: the form's configuration",
			c:    map[int64]ConsentInput{11: {Checked: true}, 12: {Checked: true}},
			want: map[int64]want{11: {true, false}, 12: {false, true}}},
		{name: "the page showed box 11 unticked (the form changed since)",
			shown: map[int64]bool{11: false, 12: false},
			c:     map[int64]ConsentInput{11: {Checked: true}},
			want:  map[int64]want{11: {false, true}}},
		{name: "the page showed box 12 ticked",
			shown: map[int64]bool{11: true, 12: true},
			c:     map[int64]ConsentInput{11: {Checked: true}, 12: {Checked: true}},
			want:  map[int64]want{11: {true, false}, 12: {true, false}}},
		{name: "a consent the token does not name: the configuration",
			shown: map[int64]bool{11: true},
			c:     map[int64]ConsentInput{11: {Checked: true}, 12: {Checked: true}},
			want:  map[int64]want{11: {true, false}, 12: {false, true}}},
		{name: "pre-ticked box claimed touched",
			c:    map[int64]ConsentInput{11: {Checked: true, Touched: TouchChanged}},
			want: map[int64]want{11: {true, true}}},
		{name: "pre-ticked box claimed untouched",
			c:    map[int64]ConsentInput{11: {Checked: true, Touched: TouchNone}},
			want: map[int64]want{11: {true, false}}},
		{name: "unticked box ticked, claimed untouched: impossible",
			c:       map[int64]ConsentInput{11: {Checked: true}, 12: {Checked: true, Touched: TouchNone}},
			refused: "consent.12"},
		{name: "shown unticked, ticked, claimed untouched: impossible",
			shown:   map[int64]bool{11: false},
			c:       map[int64]ConsentInput{11: {Checked: true, Touched: TouchNone}},
			refused: "consent.11"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			in.Consents, in.Shown = tt.c, tt.shown
			sub, recs, err := ValidateSubmission(fixtureForm(), in)
			if tt.refused != "" {
				requireRejected(t, sub, recs, err, tt.refused, M(MsgTouchImpossible).String())
				return
			}
			require.NoError(t, err)
			require.Len(t, recs, len(tt.want))
			for _, r := range recs {
				w := tt.want[r.ConsentID]
				assert.Equal(t, w.initial, r.InitialState, "consent %d initial", r.ConsentID)
				assert.Equal(t, w.interacted, r.Interacted, "consent %d interacted", r.ConsentID)
			}
		})
	}
}
