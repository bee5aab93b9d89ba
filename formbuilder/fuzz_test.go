package formbuilder

import (
	"html"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	xhtml "golang.org/x/net/html"
)

// Seed corpora live in testdata/fuzz/FuzzName/ (go test runs them as plain
// tests); the f.Add seeds below add the shared XSS corpus and the table
// cases. Run a fuzzer with, for example:
//
//	go test -run='^$' -fuzz=FuzzSanitize -fuzztime=60s ./formbuilder/

func FuzzSanitize(f *testing.F) {
	for _, p := range loadXSSPayloads(f) {
		f.Add(p)
	}
	for _, s := range []string{
		"", "plain", "<p>x</p>", `<a href="https://x.example">x</a>`, `<a href="mailto:a@b.c">m</a>`,
		"&<b>amp;</b>lt;script&<i>gt;</i>", "<<b>script>alert(1)<</b>/script>", "\x00<p>\xff</p>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		if again := Sanitize(out); again != out {
			t.Fatalf("not idempotent:\n in: %q\nout: %q\n 2x: %q", in, out, again)
		}
		if err := checkSafeHTML(out); err != nil {
			t.Fatalf("unsafe output: %v\n in: %q\nout: %q", err, in, out)
		}
		clean, _ := SanitizeReport(in)
		if clean != out {
			t.Fatalf("SanitizeReport cleans differently: %q vs %q", clean, out)
		}
	})
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{
		"I agree to the %privacy policy%.", "%x%", "%", "%%", "%%%", "%%%%", "a % % b", "100%% %sure%",
		"no markers", "", "%ä%ö%", "x %\x00pct\x00% y", "\xff%\xfe%\xfd",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := ParseLabel(s)
		text := l.String()
		if l.Link != "" && strings.TrimSpace(l.Link) == "" {
			t.Fatalf("blank link %q from %q", l.Link, s)
		}
		if l.Link == "" && (l.After != "") {
			t.Fatalf("After %q without a link from %q", l.After, s)
		}
		if utf8.ValidString(s) && !utf8.ValidString(text) {
			t.Fatalf("valid input %q gave invalid UTF-8 %q", s, text)
		}
		if strings.Contains(s, "%%") {
			return
		}
		// Without literal percent signs: the caption is the input without
		// the first pair of markers, and the link holds no '%'.
		want := s
		if strings.Count(s, "%") >= 2 {
			want = strings.Replace(strings.Replace(s, "%", "", 1), "%", "", 1)
		}
		if text != want {
			t.Fatalf("ParseLabel(%q) = %#v: text %q, want %q", s, l, text, want)
		}
		if strings.Contains(l.Link, "%") {
			t.Fatalf("link %q of %q contains '%%'", l.Link, s)
		}
	})
}

// fuzzForm is fixtureForm with every field kind required or optional as the
// fuzzer's inputs need: name and the group are required, the rest optional.
func fuzzForm() *Form {
	f := fixtureForm()
	f.Fields[8].Required = true // the checkbox group
	return f
}

func FuzzValidateSubmission(f *testing.F) {
	form := fuzzForm()
	if err := form.Validate(); err != nil {
		f.Fatal(err)
	}
	// Arguments: name, company, email, phone, message, topic, channel,
	// newsletter, interests (comma-separated), birthday, amount, campaign,
	// an extra key and its value, both consents' boxes, consent 11's
	// version, page URL, user agent.
	f.Add("Ada", "ACME", "ada@example.com", "+49 30 1234567", "Hi\nthere", "Sales", "mail", "on", "a,b",
		"2026-01-31", "42", "spring", "", "", true, true, int64(101), "https://example.com/x", "Mozilla/5.0")
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", "", "", false, false, int64(0), "", "")
	f.Add("Ada\n", "ÄÖÜäöüßÄÖÜ", "bad", "abc", "\x00", "x", "fax", "no", "z", "2026-02-30", "NaN",
		"a\r\nb", "evil", "1", true, false, int64(7), "javascript:alert(1)", "\xff")
	f.Add(" Ada ", strings.Repeat("x", 11), "a@b.c", "12345", strings.Repeat("é", 21), "Support", "phone",
		"TRUE", "c,,a", "1815-12-10", "-1e308", "", "name", "Bob", true, false, int64(0), "http://localhost/", "")
	f.Fuzz(func(t *testing.T, name, company, email, phone, message, topic, channel, newsletter, interests,
		birthday, amount, campaign, extraKey, extraVal string, c11, c12 bool, v11 int64, pageURL, ua string) {
		in := SubmissionInput{
			Values: map[string][]string{
				"name": {name}, "company": {company}, "email": {email}, "phone": {phone},
				"message": {message}, "topic": {topic}, "channel": {channel}, "newsletter": {newsletter},
				"interests": strings.Split(interests, ","), "birthday": {birthday}, "amount": {amount},
				"campaign": {campaign},
			},
			Consents: map[int64]ConsentInput{
				11: {Checked: c11, VersionID: v11},
				12: {Checked: c12},
			},
			PageURL:   pageURL,
			IP:        "203.0.113.7",
			UserAgent: ua,
		}
		if extraKey != "" {
			in.Values[extraKey] = append(in.Values[extraKey], extraVal)
		}
		sub, recs, err := ValidateSubmission(form, in)
		if err != nil {
			if sub != nil || recs != nil {
				t.Fatalf("error %v with a submission or records", err)
			}
			if ErrorCode(err) != EINVALID || len(ErrorFields(err)) == 0 {
				t.Fatalf("error %v is not a field error", err)
			}
			return
		}
		if sub == nil {
			t.Fatal("no error and no submission")
		}
		if !c11 {
			t.Fatal("accepted without the required consent 11")
		}
		if v11 != 0 && v11 != 101 {
			t.Fatalf("accepted consent 11 with the stale version %d", v11)
		}
		wantRecs := 1
		if c12 {
			wantRecs++
		}
		if len(recs) != wantRecs {
			t.Fatalf("%d records for consents %v/%v", len(recs), c11, c12)
		}
		for _, r := range recs {
			fc := form.Consents[0]
			if r.ConsentID == 12 {
				fc = form.Consents[1]
			}
			if r.VersionID != fc.Consent.Current.ID || r.TextHash != fc.Consent.Current.Hash {
				t.Fatalf("record %+v does not prove the current version", r)
			}
			if r.Subject != sub.Subject || r.UserAgent != sub.UserAgent || r.PageURL != sub.PageURL {
				t.Fatalf("record %+v differs from submission %+v", r, sub)
			}
		}
		if !utf8.ValidString(sub.UserAgent) || len(sub.UserAgent) > MaxUserAgent {
			t.Fatalf("user agent %q", sub.UserAgent)
		}
		if len(sub.PageURL) > MaxPageURL {
			t.Fatalf("page URL of %d bytes", len(sub.PageURL))
		}
		for _, fld := range form.Fields {
			vals := sub.Values[fld.Key]
			if fld.Required && len(vals) == 0 {
				t.Fatalf("required %s missing", fld.Key)
			}
			if len(vals) > 1 && !(fld.Kind == KindCheckbox && len(fld.Options) > 0) {
				t.Fatalf("%s has %d values", fld.Key, len(vals))
			}
			for _, v := range vals {
				checkAcceptedValue(t, &fld, v)
			}
		}
		for k := range sub.Values {
			if form.Field(k) == nil {
				t.Fatalf("unknown key %q accepted", k)
			}
		}
	})
}

// checkAcceptedValue fails t unless v is a value the field may store.
func checkAcceptedValue(t *testing.T, fld *Field, v string) {
	t.Helper()
	switch {
	case !utf8.ValidString(v):
		t.Fatalf("%s: invalid UTF-8 %q", fld.Key, v)
	case utf8.RuneCountInString(v) > fld.EffectiveMaxLength():
		t.Fatalf("%s: %d runes, max %d", fld.Key, utf8.RuneCountInString(v), fld.EffectiveMaxLength())
	case strings.TrimSpace(v) == "":
		t.Fatalf("%s: blank value stored", fld.Key)
	case strings.ContainsRune(v, 0):
		t.Fatalf("%s: NUL in %q", fld.Key, v)
	case fld.Kind != KindTextarea && strings.ContainsAny(v, "\r\n"):
		t.Fatalf("%s: line break in one-line value %q", fld.Key, v)
	case fld.Kind == KindEmail && !ValidEmail(v):
		t.Fatalf("%s: invalid e-mail %q", fld.Key, v)
	case (fld.Kind == KindSelect || fld.Kind == KindRadio || fld.Kind == KindCheckbox && len(fld.Options) > 0) &&
		!contains(fld.Options, v):
		t.Fatalf("%s: %q is not an option", fld.Key, v)
	case fld.Kind == KindCheckbox && len(fld.Options) == 0 && v != "yes":
		t.Fatalf("%s: single checkbox stored %q", fld.Key, v)
	case fld.Kind == KindDate && !dateRE.MatchString(v):
		t.Fatalf("%s: date %q", fld.Key, v)
	case fld.Kind == KindNumber:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			t.Fatalf("%s: number %q: %v", fld.Key, v, err)
		}
	}
}

// FuzzLabelMarkup holds labelMarkup to what a browser parses: a label it
// lets through is read by the HTML tokenizer as text alone (no tag,
// comment or doctype), and its character references decode to themselves
// (so escaping it shows exactly what was typed).
func FuzzLabelMarkup(f *testing.F) {
	for _, p := range loadXSSPayloads(f) {
		f.Add(p)
	}
	for _, s := range []string{
		"I agree to the %privacy policy%.", "a < b", "5<6", "<3", "R&D", "AT&T;", "&amp;", "&#38;", "&#x26;",
		"&not it", "&notit;", "</", "<!", "<?x", "a<b", "&;", "&#;", "& nbsp;", "<a href=x>y</a>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if labelMarkup(s) {
			if msg := labelMarkupProblem(s).String(); !strings.Contains(msg, "Link URL") {
				t.Fatalf("message without the way to a link: %q", msg)
			}
			return
		}
		z := xhtml.NewTokenizer(strings.NewReader(s))
		for {
			tt := z.Next()
			if tt == xhtml.ErrorToken {
				break
			}
			if tt != xhtml.TextToken {
				t.Fatalf("%q passed but holds a %v token: %q", s, tt, z.Raw())
			}
		}
		for i, c := range []byte(s) {
			if c != '&' {
				continue
			}
			rest := s[i:]
			if len(rest) > 2 && rest[1] == '#' && html.UnescapeString(rest[:3]) != rest[:3] {
				t.Fatalf("%q passed but holds the numeric reference %q", s, rest)
			}
			if end := strings.IndexByte(rest, ';'); end > 0 && html.UnescapeString(rest[:end+1]) != rest[:end+1] &&
				!strings.ContainsAny(rest[1:end], " &<>\"'") {
				t.Fatalf("%q passed but %q decodes", s, rest[:end+1])
			}
		}
	})
}
