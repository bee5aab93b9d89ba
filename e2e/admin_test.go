package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// The admin of TestAdminBuildsFormAndEmbedsInline and what it types.
const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery staple 42"
	adminSuccess  = "Danke! Wir melden uns innerhalb von zwei Tagen."
	adminMarker   = "Marker sentence: Heron Ledger 5813 keeps your enquiry for ninety days."
	// adminNewsletterText is the text of the consent written through storage.
	adminNewsletterText = "Einmal im Monat ein Brief. Abbestellen jederzeit."
)

// adminApp is the consentforms server on a fresh database with one admin
// user and nothing else but one consent written through storage; the admin
// builds the rest in the browser. The host page server on another site
// serves whatever the test pastes into it.
type adminApp struct {
	db   *sqlite.DB
	base string // form server origin, http://127.0.0.1:PORT
	host string // host page origin, http://127.0.0.2:PORT

	newsletter *formbuilder.Consent // written through storage

	page atomic.Pointer[adminHostPage]
}

// adminHostPage is the host page: the body as pasted and its CSP header.
type adminHostPage struct {
	body, csp string
}

func newAdminApp(t *testing.T) *adminApp {
	t.Helper()
	return newAdminAppAt(t, "127.0.0.1")
}

// newAdminAppAt is newAdminApp serving on ip, a loopback address of the
// test's own (see newTeamApp), so that it can sign in while others do.
func newAdminAppAt(t *testing.T, ip string) *adminApp {
	t.Helper()
	ctx := context.Background()
	a := &adminApp{}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	require.NoError(t, err)
	a.db = db
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	hash, err := password.Hash(adminPassword)
	require.NoError(t, err)
	require.NoError(t, db.CreateUser(ctx, &formbuilder.User{Email: adminEmail, Name: "Ada Admin", PasswordHash: hash}))

	a.newsletter = &formbuilder.Consent{Name: "Newsletter (admin e2e)", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{
		Language: "de",
		Label:    "Schicken Sie mir den %monatlichen Newsletter%.",
		Text:     "<p>" + adminNewsletterText + "</p>",
	}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, a.newsletter, content, "e2e"))

	a.base = serveApp(t, ip, web.Config{}, web.Services{
		Forms: db, Consents: db, Documents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db, Audit: db, Changes: db,
	})

	hl, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	a.host = "http://" + hl.Addr().String()
	hs := &http.Server{Handler: http.HandlerFunc(a.serveHost), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { _ = hs.Close() })
	return a
}

func (a *adminApp) serveHost(w http.ResponseWriter, r *http.Request) {
	p := a.page.Load()
	if p == nil || r.URL.Path != "/kontakt.html" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", p.csp)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, p.body)
}

// adminLocation is the path and query of the page v shows.
func adminLocation(v *view) string {
	v.t.Helper()
	return evalJS[string](v, `location.pathname + location.search`)
}

// adminSubmit clicks sel, which loads a page, and requires that page to
// answer 200 (after the redirect a successful post answers with).
func adminSubmit(v *view, sel string) {
	v.t.Helper()
	resp, err := chromedp.RunResponse(v.ctx, chromedp.Click(chromedp.CSS(sel)))
	require.NoError(v.t, err, "click %s", sel)
	require.EqualValues(v.t, 200, resp.Status, "after clicking %s: %s shows %s", sel, resp.URL,
		shortText(evalJS[string](v, `(document.querySelector('main') || document.body).innerText`)))
}

// adminSelect chooses value in the select sel as a user would, with the
// input and change events, and requires the option to exist.
func adminSelect(v *view, sel, value string) {
	v.t.Helper()
	got := evalJS[string](v, fmt.Sprintf(`(function () {
  var e = document.querySelector(%s);
  e.value = %s;
  e.dispatchEvent(new Event('input', {bubbles: true}));
  e.dispatchEvent(new Event('change', {bubbles: true}));
  return e.value;
})()`, js(sel), js(value)))
	require.Equal(v.t, value, got, "option %q of %s", value, sel)
}

// adminIDFrom reads the id after prefix in the page's path, e.g. the new
// form's id from /admin/forms/7?msg=created.
func adminIDFrom(v *view, prefix string) int64 {
	v.t.Helper()
	loc := adminLocation(v)
	rest, ok := strings.CutPrefix(loc, prefix)
	require.True(v.t, ok, "location %s, want %s…", loc, prefix)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	require.NoError(v.t, err, "id in %s", loc)
	return id
}

// adminField is one field added through the field editor.
type adminField struct {
	label    string
	kind     formbuilder.FieldKind
	required bool
	options  string // typed into the options box, one per line
	key      string // the key the editor derives from the label
}

// TestAdminBuildsFormAndEmbedsInline is issue 4's browser test: an admin
// signs in, writes a consent, builds a form with three fields and two
// consents, copies the inline snippet from the Embed page, and the snippet,
// pasted into a page on another site, shows the form, which sends.
func TestAdminBuildsFormAndEmbedsInline(t *testing.T) {
	t.Parallel()
	a := newAdminApp(t)
	ctx := context.Background()
	v := newTab(t)
	// Reading the clipboard needs the permission and a focused page; other
	// tabs of the shared browser may hold the real focus.
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(v.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted,
			Origin:     a.base,
		})
		require.NoError(t, err, "grant %s", name)
	}
	_, err := chromedp.Call(v.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
	require.NoError(t, err)

	// Signed out, the admin is sent to the sign-in page, and back after it.
	v.navigate(a.base+"/admin/forms", 200)
	require.Equal(t, "/admin/login?next=%2Fadmin%2Fforms", adminLocation(v))
	v.do(
		chromedp.SendKeys(chromedp.ID("email"), adminEmail),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
	)
	adminSubmit(v, "#sign-in")
	require.Equal(t, "/admin/forms", adminLocation(v))
	require.Contains(t, evalJS[string](v, `document.querySelector('.who').innerText`), "Ada Admin")

	// A consent written in the UI: ticked by default and required later.
	adminSubmit(v, "#nav-consents")
	adminSubmit(v, "#new-consent")
	v.do(
		chromedp.SendKeys(chromedp.ID("name"), "Datenschutz (admin e2e)"),
		chromedp.SendKeys(chromedp.ID("text"), "<p>Wir verarbeiten Ihre Angaben, um Ihre Anfrage zu beantworten.</p><p>"+adminMarker+"</p>"),
		chromedp.SendKeys(chromedp.ID("label"), "Ich stimme der %Verarbeitung meiner Daten% zu."),
	)
	adminSelect(v, "#language", "de")
	adminSubmit(v, "#save-consent")
	privacyID := adminIDFrom(v, "/admin/consents/")
	require.Contains(t, adminLocation(v), "msg=consent-created")
	privacy, err := a.db.FindConsentByID(ctx, privacyID)
	require.NoError(t, err)
	require.Equal(t, "Datenschutz (admin e2e)", privacy.Name)
	require.Equal(t, "de", privacy.Current.Language)
	require.Contains(t, privacy.Current.Text, adminMarker)

	// A new form: name, title, language and success message.
	adminSubmit(v, "#nav-forms")
	adminSubmit(v, "#new-form")
	v.do(
		chromedp.SendKeys(chromedp.ID("name"), "Kontakt (admin e2e)"),
		chromedp.SendKeys(chromedp.ID("title"), "Schreiben Sie uns"),
		chromedp.SendKeys(chromedp.ID("success_message"), adminSuccess),
	)
	adminSelect(v, "#language", "de")
	adminSubmit(v, "#create-form")
	formID := adminIDFrom(v, "/admin/forms/")
	require.Contains(t, adminLocation(v), "msg=created")

	// Three fields through the field editor; keys are derived from labels.
	fields := []adminField{
		{label: "Ihr Name", kind: formbuilder.KindName, required: true, key: "ihr_name"},
		{label: "E-Mail-Adresse", kind: formbuilder.KindEmail, required: true, key: "e_mail_adresse"},
		{label: "Thema", kind: formbuilder.KindSelect, options: "Beratung\nSupport\nPresse", key: "thema"},
	}
	for i, fl := range fields {
		v.do(chromedp.SendKeys(chromedp.ID("field-label"), fl.label))
		adminSelect(v, "#field-kind", string(fl.kind))
		if fl.required {
			v.do(chromedp.Click(chromedp.ID("field-required")))
		}
		if fl.options != "" {
			v.do(chromedp.SendKeys(chromedp.ID("field-options"), fl.options))
		}
		adminSubmit(v, "#add-field-submit")
		require.Contains(t, adminLocation(v), "msg=field-added", "field %d", i+1)
		require.Equal(t, i+1, evalJS[int](v, `document.querySelectorAll('#field-list > li').length`))
		require.Contains(t, evalJS[string](v, fmt.Sprintf(`document.querySelector('#field-%d .item-meta').innerText`, i+1)), fl.key)
	}

	// Two consents: both attached with the switches as offered (ticked,
	// required, with the GDPR warning next to "checked by default"), then
	// the newsletter switched to unticked and optional.
	for _, id := range []int64{privacyID, a.newsletter.ID} {
		adminSelect(v, "#consent_id", strconv.FormatInt(id, 10))
		require.True(t, evalJS[bool](v, `document.getElementById('attach-checked').checked && document.getElementById('attach-required').checked`))
		require.Contains(t, evalJS[string](v, `document.querySelector('#attach-consent .gdpr-warning').innerText`), "Planet49")
		adminSubmit(v, "#attach-submit")
		require.Contains(t, adminLocation(v), "msg=consent-attached")
	}
	require.Equal(t, 2, evalJS[int](v, `document.querySelectorAll('#consent-list > li').length`))
	nl := strconv.FormatInt(a.newsletter.ID, 10)
	v.do(
		chromedp.Click(chromedp.ID("checked-"+nl)),
		chromedp.Click(chromedp.ID("required-"+nl)),
	)
	adminSubmit(v, "#save-consent-"+nl)
	require.Contains(t, adminLocation(v), "msg=consent-saved")
	require.True(t, evalJS[bool](v, fmt.Sprintf(`!!document.querySelector('#attached-%d .gdpr-warning')`, privacyID)),
		"the pre-ticked consent carries the GDPR warning")
	require.False(t, evalJS[bool](v, `!!document.querySelector('#attached-`+nl+` .gdpr-warning')`),
		"the unticked consent has no GDPR warning")

	// What the UI stored.
	form, err := a.db.FindFormByID(ctx, formID)
	require.NoError(t, err)
	require.Equal(t, "de", form.Language)
	require.Equal(t, adminSuccess, form.SuccessMessage)
	require.Len(t, form.Fields, 3)
	for i, fl := range fields {
		got := form.Fields[i]
		require.Equal(t, fl.key, got.Key)
		require.Equal(t, fl.label, got.Label)
		require.Equal(t, fl.kind, got.Kind)
		require.Equal(t, fl.required, got.Required, "field %s required", fl.key)
	}
	require.Equal(t, []string{"Beratung", "Support", "Presse"}, form.Fields[2].Options)
	require.Len(t, form.Consents, 2)
	require.Equal(t, privacyID, form.Consents[0].ConsentID)
	require.True(t, form.Consents[0].CheckedByDefault)
	require.True(t, form.Consents[0].Required)
	require.Equal(t, a.newsletter.ID, form.Consents[1].ConsentID)
	require.False(t, form.Consents[1].CheckedByDefault)
	require.False(t, form.Consents[1].Required)

	// The Embed page: copy the inline snippet to the clipboard.
	adminSubmit(v, "#embed-link")
	require.Equal(t, fmt.Sprintf("/admin/forms/%d/embed", formID), adminLocation(v))
	v.waitJS("admin.js shows the copy button", `!document.getElementById('copy-inline').hidden`)
	v.do(chromedp.Click(chromedp.ID("copy-inline")))
	v.waitJS("the copy is confirmed", `document.querySelector('#inline .copy-status').textContent === 'Copied.'`)
	snippet, err := chromedp.Run(v.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "read the clipboard")
	require.Equal(t, evalJS[string](v, `document.getElementById('snippet-inline').value`), snippet, "the clipboard holds the snippet")
	require.Equal(t, `<script src="`+a.base+`/embed.js" data-consentforms="inline/`+form.Key+`" async></script>`, snippet)
	// The page's CSP advice, which the host page follows on top of a policy
	// that allows nothing else.
	cspAdvice := evalJS[string](v, `document.getElementById('snippet-csp').value`)
	v.requireClean()

	// The host page on another site: a heading and the pasted snippet.
	a.page.Store(&adminHostPage{
		body: "<h1>Kontakt</h1>\n" + snippet,
		csp:  "default-src 'none'; " + cspAdvice,
	})
	pageURL := a.host + "/kontakt.html?from=admin-e2e"
	v.navigate(pageURL, 200)
	f := formFrame(v, "iframe")
	require.Equal(t, a.base, evalJS[string](f, `location.origin`))

	// Three fields and two boxes: the privacy one ticked, the newsletter not.
	require.Equal(t, []string{"ihr_name", "e_mail_adresse", "thema"},
		evalJS[[]string](f, `Array.from(document.querySelectorAll('#cf-form [data-cf-field]'), function (e) { return e.getAttribute('data-cf-field'); })`))
	require.Equal(t, []string{"", "Beratung", "Support", "Presse"},
		evalJS[[]string](f, `Array.from(document.querySelectorAll('#cf-field-thema option'), function (o) { return o.value; })`))
	require.Equal(t, 2, evalJS[int](f, `document.querySelectorAll('#cf-form .cf-consent__box').length`))
	box := func(id int64) string { return fmt.Sprintf("#cf-consent-%d", id) }
	st := readConsent(f, privacy, adminMarker)
	require.True(t, st.Checked, "the privacy consent is ticked")
	require.False(t, st.TextVisible, "the ticked consent's text is folded")
	require.True(t, evalJS[bool](f, `document.querySelector(`+js(box(privacyID))+`).required`), "the privacy consent is required")
	st = readConsent(f, a.newsletter, adminNewsletterText)
	require.False(t, st.Checked, "the newsletter is unticked")
	require.True(t, st.TextVisible, "the unticked consent's text is open")
	require.False(t, evalJS[bool](f, `document.querySelector(`+js(box(a.newsletter.ID))+`).required`), "the newsletter is optional")
	require.Equal(t, "de", evalJS[string](f, `document.documentElement.lang`), "the form speaks German")
	require.Equal(t, "Absenden", evalJS[string](f, `document.querySelector('#cf-form button[type=submit]').innerText.trim()`))

	f.do(
		chromedp.SendKeys(chromedp.ID("cf-field-ihr_name"), "Grace Hopper"),
		chromedp.SendKeys(chromedp.ID("cf-field-e_mail_adresse"), "grace@example.com"),
	)
	adminSelect(f, "#cf-field-thema", "Support")
	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f.waitJS("the success message is shown", `document.getElementById('cf-success') && document.getElementById('cf-success').checkVisibility()`)
	require.Contains(t, evalJS[string](f, `document.getElementById('cf-success').innerText`), adminSuccess)

	// Stored: one submission, one consent record (the ticked box only),
	// both with the host page's address.
	subs, err := a.db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: formID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, subs, 1)
	require.Equal(t, map[string][]string{
		"ihr_name": {"Grace Hopper"}, "e_mail_adresse": {"grace@example.com"}, "thema": {"Support"},
	}, subs[0].Values)
	require.Equal(t, pageURL, subs[0].PageURL)
	recs, err := a.db.ListRecords(ctx, formbuilder.RecordFilter{FormID: formID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, recs, 1, "one record: the newsletter was left unticked")
	rec := requireRecord(t, recs, privacy, pageURL, true, false)
	require.Equal(t, "grace@example.com", rec.Subject)
	require.Equal(t, "Ada Admin", rec.User, "the admin who made the form is responsible for it")

	requireNoHostStyles(v)
	v.requireClean()
	f.requireClean()
}
