package widget

import (
	"bytes"
	"compress/gzip"
	"flag"
	"html"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentforms/consentforms/formbuilder"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/widget")

func newRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := New(Options{BaseURL: testBase + "/"})
	require.NoError(t, err)
	return r
}

// golden compares got with testdata/widget/name.golden.html, or rewrites it
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", "widget", name+".golden.html")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test ./widget/ -update")
	assert.Equal(t, string(want), string(got), "output differs from %s; inspect, then run with -update", path)
}

func TestGoldenFormPages(t *testing.T) {
	r := newRenderer(t)
	for _, lang := range []string{"en", "de"} {
		for _, embed := range []bool{false, true} {
			for _, withErrors := range []bool{false, true} {
				name := "form_" + lang
				st := PageState{Token: "tok.abc", Nonce: "n0nce"}
				if embed {
					name += "_embed"
					st.Embed = true
					st.Origin = "https://shop.example.com"
					st.PageURL = "https://shop.example.com/contact"
				} else {
					name += "_standalone"
				}
				if withErrors {
					name += "_errors"
					es := errorState()
					es.Embed, es.Origin, es.Nonce = st.Embed, st.Origin, ""
					st = es
				}
				t.Run(name, func(t *testing.T) {
					out, err := r.FormPage(fixtureForm(lang), st)
					require.NoError(t, err)
					golden(t, name, out)
				})
			}
		}
	}
}

func TestGoldenOtherPages(t *testing.T) {
	r := newRenderer(t)
	links := []WithdrawLink{
		{Label: "I agree to the processing of my personal data.", URL: "https://forms.example.com/w/abc"},
		{Label: "Bad", URL: "javascript:alert(1)"},
	}
	rec := &formbuilder.ConsentRecord{
		ID: 9, ConsentName: "Privacy", Source: "Contact", Action: formbuilder.ActionGiven,
		Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
	}
	// A made-up token of a receipt's shape; one that is not a compact JWS
	// is never put into a link.
	receipts := []Receipt{{RecordID: 9, Label: "I agree to the processing of my personal data.", JWS: "eyJhbGciOiJFZERTQSJ9.eyJ2ZXJzaW9uIjoxfQ.c2ln"},
		{RecordID: 10, Label: "Bad", JWS: `x"><script>alert(1)</script>`}}
	for _, lang := range []string{"en", "de"} {
		f := fixtureForm(lang)
		// The second consent waits for confirmation by mail; its label
		// is escaped like any other text.
		out, err := r.SuccessPage(f, SuccessState{Withdraws: links, Receipts: receipts,
			ToConfirm: []string{"Send me the <b>newsletter</b>."}})
		require.NoError(t, err)
		golden(t, "success_"+lang, out)

		out, err = r.WithdrawPage(WithdrawState{Lang: lang, Record: rec, Version: f.Consents[0].Consent.Current,
			Page: "https://shop.example.com/contact", CSRF: "csrf-token-1", Action: testBase + "/w/abc", Receipt: &receipts[0]})
		require.NoError(t, err)
		golden(t, "withdraw_"+lang, out)
	}
	f := fixtureForm("en")
	f.SuccessMessage = "We will call you."
	out, err := r.SuccessPage(f, SuccessState{Embed: true})
	require.NoError(t, err)
	golden(t, "success_en_embed", out)

	out, err = r.WithdrawPage(WithdrawState{Lang: "en", Record: rec, Version: f.Consents[0].Consent.Current,
		FormTitle: "Contact us", Action: testBase + "/w/abc", Done: true})
	require.NoError(t, err)
	golden(t, "withdraw_en_done", out)

	out, err = r.MessagePage("de", T("de", "not_found_title"), T("de", "not_found"), false)
	require.NoError(t, err)
	golden(t, "message_de", out)

	// Double opt-in and the self-service pages (issue 16).
	de := fixtureForm("de")
	deVer := de.Consents[0].Consent.Current
	pending := *rec
	pending.ConfirmBy = rec.Time.Add(7 * 24 * time.Hour)
	pending.VersionNo = 2
	out, err = r.ConfirmPage(ConfirmState{Lang: "de", Record: &pending, Version: deVer,
		State: formbuilder.ConfirmPending, Action: testBase + "/confirm/9.sig"})
	require.NoError(t, err)
	golden(t, "confirm_de", out)
	out, err = r.ConfirmPage(ConfirmState{Lang: "en", Record: &pending, Version: f.Consents[0].Consent.Current,
		State: formbuilder.ConfirmDone, Receipt: &receipts[0]})
	require.NoError(t, err)
	golden(t, "confirm_en_done", out)
	out, err = r.MineAskPage(MineAskState{Lang: "en", Action: "/my-consents", Email: "ada@example.com", Sent: true})
	require.NoError(t, err)
	golden(t, "mine_ask_en_sent", out)
	withdrawn := *rec
	withdrawn.ID = 8
	out, err = r.MineListPage(MineListState{Lang: "de", Email: "ada@example.com", Action: "/my-consents/tok", Entries: []MineEntry{
		{Record: &pending, Version: deVer, Source: "https://shop.example.com/kontakt", State: formbuilder.ConfirmPending, Receipt: &receipts[0]},
		{Record: &withdrawn, Version: deVer, Source: "Kontakt", State: StateWithdrawn},
	}})
	require.NoError(t, err)
	golden(t, "mine_list_de", out)

	// An admin's preview: the banner on the form, the note on the success.
	pf := fixtureForm("de")
	pf.RedirectURL = "https://www.example.com/danke"
	out, err = r.FormPage(pf, PageState{Preview: true, Token: "tok.p.abc"})
	require.NoError(t, err)
	golden(t, "form_de_preview", out)
	out, err = r.SuccessPage(pf, SuccessState{Preview: true})
	require.NoError(t, err)
	golden(t, "success_de_preview", out)
}

// consentLabel renders a form with one consent labelled label and returns
// the inner HTML of that consent's <label>.
func consentLabel(t testing.TB, r *Renderer, label, linkURL, text string) string {
	t.Helper()
	f := &formbuilder.Form{Key: "abcdefghjkmnpqrs", Name: "L", Language: "en", Consents: []formbuilder.FormConsent{{
		ConsentID: 5, Required: true, CheckedByDefault: true,
		Consent: &formbuilder.Consent{ID: 5, Current: &formbuilder.ConsentVersion{ID: 50, Label: label, LinkURL: linkURL, Text: text}},
	}}}
	out, err := r.FormPage(f, PageState{})
	require.NoError(t, err)
	s := string(out)
	start := strings.Index(s, `<label class="cf-choice__label cf-consent__label" for="cf-consent-5">`)
	require.GreaterOrEqual(t, start, 0, "consent label not found")
	s = s[start:]
	s = s[strings.IndexByte(s, '>')+1:]
	return s[:strings.Index(s, "</label>")]
}

func TestConsentLabel(t *testing.T) {
	r := newRenderer(t)
	req := ` <span class="cf-required">(required)</span>`
	tests := []struct {
		name, label, link, text, want string
	}{
		{"link to text", "I agree to the %terms%.", "", "<p>t</p>",
			`I agree to the <a class="cf-consent__link" href="#cf-consent-text-5" data-cf-toggle="cf-consent-text-5">terms</a>.` + req},
		{"link to URL", "Read %this%", "https://example.com/p?a=1&b=2", "<p>t</p>",
			`Read <a class="cf-consent__link" href="https://example.com/p?a=1&amp;b=2" target="_blank" rel="noopener nofollow">this<span class="cf-visually-hidden"> (opens in a new tab)</span></a>` + req},
		{"no percent", "I agree.", "", "<p>t</p>", `I agree.` + req},
		{"literal percent", "100%% sure", "", "<p>t</p>", `100% sure` + req},
		{"single percent", "50% off", "", "<p>t</p>", `50% off` + req},
		{"link at start", "%Terms% apply", "", "<p>t</p>",
			`<a class="cf-consent__link" href="#cf-consent-text-5" data-cf-toggle="cf-consent-text-5">Terms</a> apply` + req},
		{"html in label is text", "I <b>agree</b> to %<i>x</i>%", "", "<p>t</p>",
			`I &lt;b&gt;agree&lt;/b&gt; to <a class="cf-consent__link" href="#cf-consent-text-5" data-cf-toggle="cf-consent-text-5">&lt;i&gt;x&lt;/i&gt;</a>` + req},
		{"javascript link URL falls back to text", "See %this%", "javascript:alert(1)", "<p>t</p>",
			`See <a class="cf-consent__link" href="#cf-consent-text-5" data-cf-toggle="cf-consent-text-5">this</a>` + req},
		{"no text and no URL: plain words", "See %this%", "", "", `See this` + req},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, consentLabel(t, r, tc.label, tc.link, tc.text))
		})
	}
}

// xssPayloads are put into every admin- and visitor-controlled string.
var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`javascript:alert(1)`,
	`</textarea><script>alert(1)</script>`,
	`</title><script>alert(1)</script>`,
	`%<script>alert(1)</script>%`,
	`{{.}}<iframe src="javascript:alert(1)">`,
	"\"onmouseover=alert(1) x=\"",
}

var (
	scriptTagRE = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	styleTagRE  = regexp.MustCompile(`(?i)<style\b`)
	badTagRE    = regexp.MustCompile(`(?i)<(img|svg|iframe|object|embed|math|base|meta http-equiv)\b`)
	tagRE       = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*/?>`)
	attrRE      = regexp.MustCompile(`([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?`)
	scriptURLRE = regexp.MustCompile(`(?i)^\s*(javascript|data|vbscript):`)
)

// attrs lists every attribute of every tag in s as name=value (value
// unquoted, still HTML-escaped), so checks look at real attributes and not
// at escaped text that merely looks like one.
func attrs(s string) [][2]string {
	var out [][2]string
	for _, m := range tagRE.FindAllStringSubmatch(s, -1) {
		for _, a := range attrRE.FindAllStringSubmatch(m[2], -1) {
			v := strings.Trim(a[2], `"'`)
			out = append(out, [2]string{strings.ToLower(a[1]), v})
		}
	}
	return out
}

// assertSafePage checks what must hold for every page: no inline script,
// style or event handler, no script URL, no foreign element.
func assertSafePage(t *testing.T, out []byte) {
	t.Helper()
	checkSafe(t, out)
}

func checkSafe(t interface {
	assert.TestingT
	Helper()
}, out []byte) {
	t.Helper()
	s := string(out)
	tags := scriptTagRE.FindAllString(s, -1)
	assert.LessOrEqual(t, len(tags), 1)
	for _, tag := range tags {
		assert.Regexp(t, `^<script src="http://127\.0\.0\.1:8080/static/form\.[0-9a-f]{10}\.js" defer( nonce="[^"<>]*")?>$`, tag, "only the form.js tag may appear")
	}
	assert.NotRegexp(t, styleTagRE, s)
	assert.NotRegexp(t, badTagRE, s)
	for _, a := range attrs(s) {
		assert.False(t, strings.HasPrefix(a[0], "on"), "event handler attribute %s=%q", a[0], a[1])
		assert.NotEqual(t, "style", a[0], "style attribute")
		switch a[0] {
		case "href", "src", "action", "formaction":
			assert.NotRegexp(t, scriptURLRE, html.UnescapeString(a[1]), "script URL in %s", a[0])
		}
	}
}

// recorder collects assertion failures so a test can check that a checker
// does fail.
type recorder struct{ failed int }

func (r *recorder) Errorf(string, ...any) { r.failed++ }
func (r *recorder) Helper()               {}

func TestAssertSafePageCatches(t *testing.T) {
	ok := `<p title="onclick=x() style=y">&lt;script&gt; onload=1</p><a href="https://x">y</a>`
	rec := &recorder{}
	checkSafe(rec, []byte(ok))
	assert.Zero(t, rec.failed, "false alarm on escaped text")
	for _, bad := range []string{
		`<script>alert(1)</script>`,
		`<p onclick="x()">`,
		`<p  ONMOUSEOVER=x>`,
		`<div style="color:red">`,
		`<style>p{}</style>`,
		`<a href=" javascript:alert(1)">`,
		`<a href="&#106;avascript:alert(1)">`,
		`<img src=x>`,
		`<script src="https://evil.example/x.js"></script>`,
	} {
		rec := &recorder{}
		checkSafe(rec, []byte(bad))
		assert.NotZero(t, rec.failed, "not caught: %s", bad)
	}
}

func TestXSSEscaped(t *testing.T) {
	r := newRenderer(t)
	for _, p := range xssPayloads {
		t.Run(p, func(t *testing.T) {
			f := fixtureForm("en")
			f.Title, f.Name, f.SubmitLabel, f.SuccessMessage = p, p, p, p
			f.Description = "<p>ok</p>" + p
			f.Key = p
			for i := range f.Fields {
				fd := &f.Fields[i]
				fd.Label, fd.Placeholder, fd.Help, fd.Default = p, p, p, p
				if fd.Kind.HasOptions() {
					fd.Options = []string{p, "b" + p}
				}
			}
			for _, fc := range f.Consents {
				fc.Consent.Current.Label = "a " + p + " %" + p + "% " + p
				fc.Consent.Current.LinkURL = p
				fc.Consent.Current.Text = "<p>t</p>" + p
			}
			st := errorState()
			// Messages carry what visitors and admins typed in their
			// parameters.
			for k := range st.Errors {
				st.Errors[k] = formbuilder.M(formbuilder.MsgLabelMarkupHere, "label", p, "url", p)
			}
			st.Errors[p] = formbuilder.M(formbuilder.MsgOriginRefused, "origin", p)
			st.Values = map[string][]string{"name": {p}, "message": {p}, "topic": {p}, "interests": {p}}
			st.PageURL, st.Token, st.Origin, st.Nonce = p, p, p, p
			for _, embed := range []bool{false, true} {
				st.Embed = embed
				out, err := r.FormPage(f, st)
				require.NoError(t, err)
				assertSafePage(t, out)
				assert.NotContains(t, string(out), "<script>alert")
			}

			out, err := r.SuccessPage(f, SuccessState{Embed: true, Withdraws: []WithdrawLink{{Label: p, URL: p}, {Label: p, URL: "https://x.example/" + p}}})
			require.NoError(t, err)
			assertSafePage(t, out)

			out, err = r.MessagePage(p, p, p, true)
			require.NoError(t, err)
			assertSafePage(t, out)

			rec := &formbuilder.ConsentRecord{ConsentName: p, Source: p, Time: time.Unix(0, 0)}
			ver := *f.Consents[0].Consent.Current
			ver.Label = p
			for _, page := range []string{p, "https://x.example/" + p} {
				out, err = r.WithdrawPage(WithdrawState{Lang: p, Record: rec, Version: &ver, Page: page, FormTitle: p,
					CSRF: p, Action: p})
				require.NoError(t, err)
				assertSafePage(t, out)
			}
		})
	}
}

func TestConsentTextSanitisedAtRender(t *testing.T) {
	r := newRenderer(t)
	f := fixtureForm("en")
	f.Consents[0].Consent.Current.Text = `<p>ok <a href="javascript:alert(1)">x</a></p><script>alert(1)</script><img src=x onerror=alert(1)><style>p{}</style><a href="https://e.example/" style="color:red" onclick="x()">y</a>`
	f.Description = `<p>desc</p><script>alert(2)</script>`
	out, err := r.FormPage(f, PageState{})
	require.NoError(t, err)
	assertSafePage(t, out)
	s := string(out)
	assert.Contains(t, s, `<p>ok x</p>`)
	assert.Contains(t, s, `<a href="https://e.example/" rel="nofollow noopener" target="_blank">y</a>`)
	assert.Contains(t, s, `<p>desc</p>`)
	assert.NotContains(t, s, "alert(")

	out, err = r.WithdrawPage(WithdrawState{Lang: "en", Record: &formbuilder.ConsentRecord{ConsentName: "P"},
		Version: f.Consents[0].Consent.Current, CSRF: "c", Action: "/w/1"})
	require.NoError(t, err)
	assertSafePage(t, out)
	assert.NotContains(t, string(out), "alert(")
}

func TestNoInlineScriptOrStyleAnywhere(t *testing.T) {
	r := newRenderer(t)
	var pages [][]byte
	for _, lang := range []string{"en", "de", "fr"} {
		for _, st := range []PageState{{}, {Embed: true, Origin: "https://a.example"}, errorState()} {
			out, err := r.FormPage(fixtureForm(lang), st)
			require.NoError(t, err)
			pages = append(pages, out)
		}
		out, err := r.SuccessPage(fixtureForm(lang), SuccessState{Withdraws: []WithdrawLink{{Label: "n", URL: "https://a.example/w"}}})
		require.NoError(t, err)
		pages = append(pages, out)
		out, err = r.MessagePage(lang, "t", "m", true)
		require.NoError(t, err)
		pages = append(pages, out)
		out, err = r.WithdrawPage(WithdrawState{Lang: lang, Record: &formbuilder.ConsentRecord{}, CSRF: "c", Action: "/w"})
		require.NoError(t, err)
		pages = append(pages, out)
	}
	for _, p := range pages {
		assertSafePage(t, p)
		assert.True(t, bytes.HasPrefix(p, []byte("<!doctype html>\n<html lang=\"")), "doctype and lang first")
		assert.Contains(t, string(p), `<meta name="viewport" content="width=device-width, initial-scale=1">`)
		assert.Regexp(t, `<link rel="stylesheet" href="http://127\.0\.0\.1:8080/static/form\.[0-9a-f]{10}\.css"`, string(p))
	}
}

func TestFormPageStructure(t *testing.T) {
	r := newRenderer(t)
	out, err := r.FormPage(fixtureForm("en"), PageState{PageURL: "https://shop.example.com/p", Token: "T1"})
	require.NoError(t, err)
	s := string(out)
	for _, want := range []string{
		`<html lang="en" class="cf-standalone">`,
		`<form class="cf-form" id="cf-form" method="post" action="http://127.0.0.1:8080/f/abcdefghjkmnpqrs"`,
		`<input type="hidden" name="_page_url" value="https://shop.example.com/p">`,
		`<input type="hidden" name="_token" value="T1">`,
		`<input type="hidden" name="_embed" value="0">`,
		`<input type="text" id="cf-website" name="website" value="" tabindex="-1" autocomplete="off" aria-hidden="true">`,
		`autocomplete="name"`, `type="email"`, `autocomplete="email"`, `type="tel" id="cf-field-phone" name="phone" value="" autocomplete="tel"`,
		`type="date"`, `type="number"`, `<textarea`, `<select`, `<fieldset class="cf-fieldset">`, `<legend class="cf-legend">How should we reply?`,
		`type="radio" id="cf-field-contact_pref-0" name="contact_pref" value="E-mail" required`,
		`type="checkbox" id="cf-field-interests-1" name="interests" value="Chat"`,
		`<input type="hidden" name="campaign" value="spring">`,
		`<option value="Support" selected>`,
		`value="ACME" maxlength="80"`,
		`aria-describedby="cf-hint-email"`,
		`<div class="cf-status cf-visually-hidden" id="cf-status" role="status" aria-live="polite"></div>`,
		`<button type="submit" class="cf-button">Send</button>`,
		// Pre-ticked consent: text folded, box says so.
		`id="cf-consent-3" name="consent_3" value="1" checked required aria-controls="cf-consent-text-3" aria-expanded="false">`,
		`<details class="cf-consent__text" id="cf-consent-text-3">`,
		`<input type="hidden" name="consent_3_initial" value="1">`,
		`<input type="hidden" name="consent_3_interacted" value="0">`,
		`<input type="hidden" name="consent_3_version" value="31">`,
		// Unticked consent: text open.
		`id="cf-consent-7" name="consent_7" value="1" aria-controls="cf-consent-text-7" aria-expanded="true">`,
		`<details class="cf-consent__text" id="cf-consent-text-7" open>`,
		`<input type="hidden" name="consent_7_initial" value="0">`,
		`<p class="cf-error" id="cf-consent-error-3" hidden>`,
	} {
		assert.Contains(t, s, want)
	}
	assert.Contains(t, s, `cf-error-summary" role="alert" tabindex="-1" aria-labelledby="cf-error-summary-title" hidden>`)
	assert.NotContains(t, s, "novalidate", "native validation stays on for the no-JS path")
	assert.NotContains(t, s, "aria-invalid")
}

func TestFormPageErrorsAndKeptState(t *testing.T) {
	r := newRenderer(t)
	st := errorState()
	out, err := r.FormPage(fixtureForm("en"), st)
	require.NoError(t, err)
	s := string(out)
	assert.Contains(t, s, `<title>Error: Contact us</title>`)
	summary := s[strings.Index(s, `id="cf-error-summary"`):]
	summary = summary[:strings.Index(summary, "</div>")]
	assert.NotContains(t, summary, " hidden")
	// Summary in field order, then consents, then keys of no field.
	assert.Equal(t, []string{
		`<li><a href="#cf-field-email">E-mail is not a valid e-mail address</a></li>`,
		`<li><a href="#cf-field-contact_pref-0">“How should we reply?” is required</a></li>`,
		`<li><a href="#cf-field-interests-0">Interests is required</a></li>`,
		`<li><a href="#cf-consent-3">Please agree to “processing of my personal data” to send the form.</a></li>`,
		`<li>The address of the page must be an http(s) URL of at most 2048 bytes</li>`,
	}, regexp.MustCompile(`<li>.*</li>`).FindAllString(summary, -1))
	for _, want := range []string{
		`<p class="cf-error" id="cf-error-email"><span class="cf-visually-hidden">Error: </span><span class="cf-error__text">E-mail is not a valid e-mail address</span></p>`,
		`value="ada@" autocomplete="email" maxlength="200" required aria-describedby="cf-hint-email cf-error-email" aria-invalid="true">`,
		`<fieldset class="cf-fieldset" aria-describedby="cf-error-contact_pref">`,
		`value="Phone" required aria-invalid="true">`,
		// Kept values; the visitor's markup is text.
		`value="Ada &lt;b&gt;Lovelace&lt;/b&gt;"`,
		">Hello\nworld</textarea>",
		`<option value="Sales" selected>`,
		// Re-render: unticked default box stays unticked, no default company.
		`id="cf-field-callback" name="callback" value="yes">`,
		`id="cf-field-company" name="company" value=""`,
		// Consent 3 unticked by the visitor: text open, error tied to the box.
		`id="cf-consent-3" name="consent_3" value="1" required aria-controls="cf-consent-text-3" aria-expanded="true" aria-describedby="cf-consent-error-3" aria-invalid="true">`,
		`<details class="cf-consent__text" id="cf-consent-text-3" open>`,
		`<input type="hidden" name="consent_3_initial" value="1">`,
		`<input type="hidden" name="consent_3_interacted" value="1">`,
		// Consent 7 ticked by the visitor.
		`id="cf-consent-7" name="consent_7" value="1" checked aria-controls="cf-consent-text-7" aria-expanded="false">`,
		`<input type="hidden" name="_token" value="tok.123">`,
	} {
		assert.Contains(t, s, want)
	}
	assert.NotContains(t, s, `<option value="Support" selected>`)
}

func TestEmbedVariant(t *testing.T) {
	r := newRenderer(t)
	tests := []struct {
		name, origin, page, want string
	}{
		{"origin given", "https://Shop.Example.com", "", ` data-origin="https://shop.example.com"`},
		{"origin from page", "", "https://a.example:8443/x?y#z", ` data-origin="https://a.example:8443"`},
		{"bad origin ignored", "https://a.example/path", "javascript:alert(1)", ""},
		{"null origin ignored", "null", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := r.FormPage(fixtureForm("en"), PageState{Embed: true, Origin: tc.origin, PageURL: tc.page})
			require.NoError(t, err)
			s := string(out)
			assert.Contains(t, s, `<html lang="en" class="cf-embed" data-embed="1"`+tc.want+`>`)
			assert.Contains(t, s, `<input type="hidden" name="_embed" value="1">`)
		})
	}
	// The internal name is not a heading inside a host page.
	f := fixtureForm("en")
	f.Title = ""
	out, err := r.FormPage(f, PageState{Embed: true})
	require.NoError(t, err)
	assert.NotContains(t, string(out), `<h1`)
	assert.Contains(t, string(out), `<title>Contact</title>`)
	out, err = r.FormPage(f, PageState{})
	require.NoError(t, err)
	assert.Contains(t, string(out), `<h1 class="cf-title">Contact</h1>`)
}

func TestFormPageFailures(t *testing.T) {
	r := newRenderer(t)
	_, err := r.FormPage(nil, PageState{})
	assert.Error(t, err)
	f := fixtureForm("en")
	f.Consents[1].Consent.Current = nil
	_, err = r.FormPage(f, PageState{})
	assert.ErrorContains(t, err, "consent 7")
	_, err = r.SuccessPage(nil, SuccessState{})
	assert.Error(t, err)
	_, err = r.WithdrawPage(WithdrawState{Lang: "en"})
	assert.Error(t, err)
}

func TestNewBaseURL(t *testing.T) {
	for _, ok := range []string{"", "http://127.0.0.1:8080", "https://forms.example.com/", "https://example.com/forms"} {
		r, err := New(Options{BaseURL: ok})
		require.NoError(t, err, ok)
		out, err := r.FormPage(fixtureForm("en"), PageState{})
		require.NoError(t, err)
		base := strings.TrimRight(ok, "/")
		assert.Contains(t, string(out), `action="`+base+`/f/abcdefghjkmnpqrs"`)
		assert.Contains(t, string(out), `href="`+base+`/static/form.`)
	}
	for _, bad := range []string{"ftp://x", "javascript:alert(1)", "//x.example", "https://x.example/?q=1", "https://u:p@x.example"} {
		_, err := New(Options{BaseURL: bad})
		assert.Error(t, err, bad)
	}
}

func TestNonceOnTags(t *testing.T) {
	r := newRenderer(t)
	out, err := r.FormPage(fixtureForm("en"), PageState{Nonce: "abc123"})
	require.NoError(t, err)
	assert.Regexp(t, `<link rel="stylesheet" href="[^"]+" nonce="abc123">`, string(out))
	assert.Regexp(t, `<script src="[^"]+" defer nonce="abc123"></script>`, string(out))
	out, err = r.FormPage(fixtureForm("en"), PageState{})
	require.NoError(t, err)
	assert.NotContains(t, string(out), "nonce")
}

func TestTexts(t *testing.T) {
	for key := range texts["en"] {
		assert.NotEmpty(t, texts["de"][key], "de lacks %s", key)
	}
	for key := range texts["de"] {
		assert.NotEmpty(t, texts["en"][key], "en lacks %s", key)
	}
	assert.Equal(t, "Absenden", T("de", "submit"))
	assert.Equal(t, "Absenden", T("de-AT", "submit"))
	assert.Equal(t, "Send", T("fr", "submit"))
	assert.Equal(t, "Send", T("", "submit"))
	assert.Equal(t, "There is a problem", T("en", "error_summary_title"))
	assert.Equal(t, "Bitte prüfen Sie Ihre Angaben", T("de", "error_summary_title"))
	assert.Equal(t, "no_such_key", T("de", "no_such_key"))
}

// TestLocalizeErrors translates by message code: every message a
// submission can be refused with reads German on a German form. Looking
// messages up by their English wording let "is not a consent of this form"
// through in English.
func TestLocalizeErrors(t *testing.T) {
	f := fixtureForm("de")
	got := LocalizeErrors(f, map[string]formbuilder.Msg{
		"email":      formbuilder.M(formbuilder.MsgInvalidEmail),
		"name":       formbuilder.M(formbuilder.MsgTooLongMax, "max", "200"),
		"consent.3":  formbuilder.M(formbuilder.MsgMustAccept),
		"consent.7":  formbuilder.M(formbuilder.MsgConsentChanged),
		"consent.99": formbuilder.M(formbuilder.MsgNotAFormConsent),
		"_token":     formbuilder.M(formbuilder.MsgFormExpired),
	})
	assert.Equal(t, map[string]string{
		"email":      "E-Mail ist keine gültige E-Mail-Adresse",
		"name":       "Name ist zu lang (höchstens 200 Zeichen)",
		"consent.3":  "Bitte stimmen Sie „Verarbeitung meiner personenbezogenen Daten“ zu, um das Formular zu senden.",
		"consent.7":  "Der Text von „Newsletter“ wurde geändert, seit die Seite geladen wurde. Bitte lesen Sie ihn erneut und senden Sie das Formular noch einmal.",
		"consent.99": "consent.99 ist keine Einwilligung dieses Formulars",
		"_token":     "Das Formular ist abgelaufen. Bitte senden Sie es erneut.",
	}, got)
	en := LocalizeErrors(fixtureForm("en"), map[string]formbuilder.Msg{"phone": formbuilder.M(formbuilder.MsgInvalidPhone)})
	assert.Equal(t, "Phone is not a valid phone number", en["phone"])
	assert.Nil(t, LocalizeErrors(f, nil))
}

// TestEverySubmissionRefusalReadsGerman walks every field message a
// submission can get (formbuilder.ValidateSubmission and the parse errors
// of the public routes) and holds their German text to carrying no
// English: a message missing from the German catalog would show the
// English one.
func TestEverySubmissionRefusalReadsGerman(t *testing.T) {
	f := fixtureForm("de")
	for _, code := range []formbuilder.MsgCode{formbuilder.MsgRequired, formbuilder.MsgTooLongMax,
		formbuilder.MsgNotUTF8, formbuilder.MsgContainsNUL, formbuilder.MsgInvalidEmail, formbuilder.MsgInvalidPhone,
		formbuilder.MsgNotAnOption, formbuilder.MsgTickOrNot, formbuilder.MsgDateShape, formbuilder.MsgInvalidDate,
		formbuilder.MsgNotANumber, formbuilder.MsgOneLine, formbuilder.MsgOneValue, formbuilder.MsgTooManyValues,
		formbuilder.MsgNotAField, formbuilder.MsgPageURL, formbuilder.MsgNotAFormConsent, formbuilder.MsgVersionID,
		formbuilder.MsgFormExpired, formbuilder.MsgTooFast} {
		de := LocalizeErrors(f, map[string]formbuilder.Msg{"message": formbuilder.M(code, "max", "10")})["message"]
		en := formbuilder.M(code, "max", "10").String()
		assert.NotContains(t, de, en, code)
		assert.True(t, formbuilder.HasText(formbuilder.LangDE, string(code)), code)
	}
}

func TestAssets(t *testing.T) {
	r := newRenderer(t)
	require.Len(t, r.Assets(), len(assetNames))
	for _, a := range r.Assets() {
		t.Run(a.Name, func(t *testing.T) {
			byName, ok := r.Asset(a.Name)
			require.True(t, ok)
			byHash, ok := r.Asset(a.HashedName)
			require.True(t, ok)
			assert.Same(t, a, byName)
			assert.Same(t, a, byHash)
			assert.Regexp(t, `^(form|embed|chat)\.[0-9a-f]{10}\.(js|css)$`, a.HashedName)
			assert.Regexp(t, `^"[0-9a-f]{32}"$`, a.ETag)
			assert.Contains(t, a.ContentType, "charset=utf-8")
			zr, err := gzip.NewReader(bytes.NewReader(a.Gzip))
			require.NoError(t, err)
			plain, err := io.ReadAll(zr)
			require.NoError(t, err)
			assert.Equal(t, a.Body, plain)
			assert.NotContains(t, string(a.Body), "/*")
			src, err := files.ReadFile("assets/" + a.Name)
			require.NoError(t, err)
			t.Logf("%s: raw %d B, minified %d B, gzipped %d B", a.Name, len(src), len(a.Body), len(a.Gzip))
		})
	}
	_, ok := r.Asset("nope.js")
	assert.False(t, ok)

	embed, _ := r.Asset("embed.js")
	// 3 KiB until the loader learnt data-frequency, one console warning per
	// broken tag and an SVG launcher icon (issue 15); with tdewolff/minify,
	// which shortens local names, it is back under 3 KiB.
	assert.Less(t, len(embed.Gzip), 3072, "embed.js must stay under 3 KiB gzipped")

	// Same input, same names: hashed URLs are stable across restarts.
	r2 := newRenderer(t)
	for i, a := range r.Assets() {
		assert.Equal(t, a.HashedName, r2.Assets()[i].HashedName)
	}
}

// TestAssetsParse checks with node that minifying kept the scripts valid.
func TestAssetsParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	r := newRenderer(t)
	for _, name := range []string{"form.js", "embed.js"} {
		a, _ := r.Asset(name)
		path := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(path, a.Body, 0o644))
		out, err := exec.Command(node, "--check", path).CombinedOutput()
		assert.NoError(t, err, "%s: %s", name, out)
	}
}

var tagInLabelRE = regexp.MustCompile(`<a class="cf-consent__link" href="[^"<>]*"( target="_blank" rel="noopener nofollow"| data-cf-toggle="cf-consent-text-5")>|</a>|<span class="cf-visually-hidden">|<span class="cf-required">|</span>`)

// FuzzRenderLabel holds that no '<' of a consent label reaches the page
// unescaped: the only tags in the rendered label are the widget's own.
func FuzzRenderLabel(f *testing.F) {
	for _, s := range []string{
		"I agree to the %terms%.", "%<script>alert(1)</script>%", "<img src=x onerror=alert(1)>",
		"100%% <b>", "%%%", "a%b%c%d%e", "%\x00%", "\"'><", "%</label><script>%", "&lt;&#60;",
	} {
		f.Add(s, "")
		f.Add(s, "https://example.com/x")
	}
	r := newRenderer(f)
	f.Fuzz(func(t *testing.T, label, link string) {
		got := consentLabel(t, r, label, link, "<p>t</p>")
		rest := tagInLabelRE.ReplaceAllString(got, "")
		if strings.ContainsAny(rest, "<>") {
			t.Fatalf("unescaped markup from label %q: %s", label, got)
		}
		if strings.Contains(label, "<") && !strings.Contains(got, "&lt;") {
			t.Fatalf("'<' in %q was dropped instead of escaped: %s", label, got)
		}
	})
}

func BenchmarkFormPage(b *testing.B) {
	r := newRenderer(b)
	f := fixtureForm("en")
	st := errorState()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.FormPage(f, st); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentRender shares one Renderer between goroutines, as the web
// package does; with -race it also guards the buffer pool.
func TestConcurrentRender(t *testing.T) {
	r := newRenderer(t)
	f := fixtureForm("de")
	want, err := r.FormPage(f, errorState())
	require.NoError(t, err)
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			for j := 0; j < 20; j++ {
				got, err := r.FormPage(f, errorState())
				if err == nil && !bytes.Equal(got, want) {
					err = io.ErrUnexpectedEOF
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		assert.NoError(t, <-errs)
	}
}

// ConsentBox renders one box exactly as the form page does; a renewed
// consent (its text changed since the visitor's page) shows unticked, with
// initial state 0 and its message.
func TestConsentBox(t *testing.T) {
	r := newRenderer(t)
	f := fixtureForm("en")
	st := PageState{Errors: map[string]formbuilder.Msg{"consent.3": formbuilder.M(formbuilder.MsgConsentChanged)},
		Consents: map[int64]bool{3: true, 7: true}, Interacted: map[int64]bool{3: true}}
	page, err := r.FormPage(f, st)
	require.NoError(t, err)
	box, err := r.ConsentBox(f, 7, st)
	require.NoError(t, err)
	assert.Contains(t, string(page), string(box), "the same markup as on the page")

	st.Renewed = map[int64]bool{3: true}
	box, err = r.ConsentBox(f, 3, st)
	require.NoError(t, err)
	s := string(box)
	assert.True(t, strings.HasPrefix(s, `<div class="cf-consent cf-consent--error" data-cf-consent="3"`), s)
	assert.NotContains(t, s, " checked")
	assert.Contains(t, s, `name="consent_3_initial" value="0"`)
	assert.Contains(t, s, `name="consent_3_interacted" value="0"`)
	assert.Contains(t, s, `name="consent_3_version" value="31"`)
	assert.Contains(t, s, `<details class="cf-consent__text" id="cf-consent-text-3" open>`, "the new text is open to read")
	assert.Contains(t, s, "has changed since the page was loaded")
	assertSafePage(t, box)

	_, err = r.ConsentBox(f, 99, st)
	assert.Error(t, err)
}
