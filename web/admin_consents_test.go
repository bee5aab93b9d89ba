package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
	xhtml "golang.org/x/net/html"
)

// consentIDFrom returns the id in a /admin/consents/ID… redirect.
func consentIDFrom(t *testing.T, loc string) int64 {
	t.Helper()
	rest := strings.TrimPrefix(loc, "/admin/consents/")
	rest, _, _ = strings.Cut(rest, "?")
	n, err := strconv.ParseInt(rest, 10, 64)
	require.NoError(t, err, loc)
	return n
}

func TestConsentListAndNewPage(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, body := e.Get("/admin/consents")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `id="new-consent"`)
	require.Contains(t, body, "No consents yet")

	e.SeedConsent("Privacy <i>policy</i>", "<p>Text</p>", "I agree to the %terms%.")
	_, body = e.Get("/admin/consents")
	require.Contains(t, body, `id="consents-list"`)
	require.Contains(t, body, "Privacy &lt;i&gt;policy&lt;/i&gt;")
	require.Contains(t, body, "I agree to the terms.")

	resp, body = e.Get("/admin/consents/new")
	require.Equal(t, 200, resp.StatusCode)
	for _, id := range []string{"consent-form", "name", "type-custom", "type-standard", "language", "text", "label",
		"link_url", "text-preview", "label-preview", "fill-template"} {
		require.Contains(t, body, `id="`+id+`"`, id)
	}
	require.Contains(t, body, "%")
	require.Contains(t, body, "Your company data is not complete yet")
}

func TestConsentCreateValidationEditAndVersions(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, body := e.Post("/admin/consents", url.Values{"name": {""}, "type": {"custom"}, "text": {"<script>x</script>"},
		"label": {""}, "link_url": {"http://plain.example"}, "language": {"fr"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is required", testenv.FieldError(body, "name"))
	require.Equal(t, "is required", testenv.FieldError(body, "label"))
	require.Contains(t, testenv.FieldError(body, "link_url"), "https or mailto")
	require.Contains(t, testenv.FieldError(body, "language"), "de, en")
	list, _ := e.DB.ListConsents(t.Context())
	require.Empty(t, list)

	resp, _ = e.Post("/admin/consents", url.Values{"name": {"Privacy"}, "type": {"custom"},
		"text":  {`<p>Version one. <a href="https://example.com/privacy">Policy</a></p>`},
		"label": {"I agree to the %privacy policy%."}, "language": {"en"}})
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	require.Contains(t, loc, "msg=consent-created")
	id := consentIDFrom(t, loc)
	_, body = e.Get(loc)
	require.Contains(t, body, "Consent created as version 1.")
	require.Contains(t, body, `id="version-history"`)
	require.Contains(t, body, "Version 1")
	require.Contains(t, body, "by "+testenv.AdminEmail)
	require.Contains(t, body, `<u>privacy policy</u>`)

	edit := "/admin/consents/" + strconv.FormatInt(id, 10)
	vals := url.Values{"name": {"Privacy (renamed)"}, "type": {"custom"},
		"text":  {`<p>Version one. <a href="https://example.com/privacy">Policy</a></p>`},
		"label": {"I agree to the %privacy policy%."}, "language": {"en"}}
	co, _ := e.DB.FindConsentByID(t.Context(), id)
	vals.Set("text", co.Current.Text) // exactly as stored: no content change
	resp, _ = e.Post(edit, vals)
	loc = testenv.Location(t, resp, http.StatusSeeOther)
	require.Contains(t, loc, "msg=consent-unchanged")
	co, _ = e.DB.FindConsentByID(t.Context(), id)
	require.Equal(t, "Privacy (renamed)", co.Name)
	require.Equal(t, 1, co.Current.Number)

	vals.Set("text", "<p>Version two.</p>")
	resp, _ = e.Post(edit, vals)
	loc = testenv.Location(t, resp, http.StatusSeeOther)
	require.Contains(t, loc, "msg=consent-version")
	_, body = e.Get(loc)
	require.Contains(t, body, "Saved as a new version.")
	co, _ = e.DB.FindConsentByID(t.Context(), id)
	require.Equal(t, 2, co.Current.Number)

	vals.Set("label", "")
	resp, body = e.Post(edit, vals)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is required", testenv.FieldError(body, "label"))

	resp, body = e.Get(edit + "/versions")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `id="version-1"`)
	require.Contains(t, body, `id="version-2"`)
	require.Contains(t, body, "Version one.")
	require.Contains(t, body, "Version two.")
	require.Contains(t, body, "&lt;p&gt;Version one.", "the exact HTML source is shown too")
	vs, err := e.DB.ListConsentVersions(t.Context(), id)
	require.NoError(t, err)
	for _, v := range vs {
		require.Contains(t, body, v.Hash)
	}
	require.Equal(t, 1, strings.Count(body, `class="badge">current`))
}

// TestConsentRecordKeepsItsVersion: editing a consent creates version n+1,
// while a record given under version n keeps pointing at version n, whose
// text the history still shows unchanged.
func TestConsentRecordKeepsItsVersion(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	ctx := context.Background()
	co := e.SeedConsent("Privacy", "<p>Original wording v1.</p>", "I %agree%.")
	f := e.SeedForm(&formbuilder.Form{Name: "Contact",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: co.ID, CheckedByDefault: false, Required: true}}})
	f = e.Form(f.ID)
	v1 := f.Consents[0].Consent.Current
	require.Equal(t, 1, v1.Number)

	sub, recs, err := formbuilder.ValidateSubmission(f, formbuilder.SubmissionInput{
		Values:   map[string][]string{"email": {"erika@example.com"}},
		Consents: map[int64]formbuilder.ConsentInput{co.ID: {Checked: true, Touched: formbuilder.TouchChanged, VersionID: v1.ID}},
		IP:       "192.0.2.1",
	})
	require.NoError(t, err)
	require.NoError(t, e.DB.CreateSubmission(ctx, sub, recs))
	require.Len(t, recs, 1)
	recID := recs[0].ID

	// Public page shows v1 before the edit.
	_, pub := e.Get("/f/" + f.Key)
	require.Contains(t, pub, "Original wording v1.")

	resp, _ := e.Post("/admin/consents/"+strconv.FormatInt(co.ID, 10), url.Values{"name": {"Privacy"}, "type": {"custom"},
		"text": {"<p>New wording v2.</p>"}, "label": {"I %agree%."}, "language": {"en"}})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-version")

	rec, err := e.DB.FindRecord(ctx, recID)
	require.NoError(t, err)
	require.Equal(t, v1.ID, rec.VersionID)
	require.Equal(t, 1, rec.VersionNo)
	require.Equal(t, v1.Hash, rec.TextHash)
	old, err := e.DB.FindConsentVersion(ctx, rec.VersionID)
	require.NoError(t, err)
	require.Equal(t, "<p>Original wording v1.</p>", old.Text)
	require.True(t, old.VerifyHash())

	cur, err := e.DB.FindConsentByID(ctx, co.ID)
	require.NoError(t, err)
	require.Equal(t, 2, cur.Current.Number)
	require.NotEqual(t, v1.ID, cur.Current.ID)

	_, hist := e.Get("/admin/consents/" + strconv.FormatInt(co.ID, 10) + "/versions")
	require.Contains(t, hist, "Original wording v1.")
	require.Contains(t, hist, "New wording v2.")

	// The public form shows v2 at once: the edit invalidated its cache.
	_, pub = e.Get("/f/" + f.Key)
	require.Contains(t, pub, "New wording v2.")
	require.NotContains(t, pub, "Original wording v1.")
}

// xssPayloads reads the shared corpus, or falls back to a few of OWASP's.
func xssPayloads(t *testing.T) []string {
	data, err := os.ReadFile(filepath.Join("..", "testdata", "xss", "payloads.txt"))
	if err != nil {
		return []string{
			`<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<a href="javascript:alert(1)">x</a>`,
			`<svg/onload=alert(1)>`, `<iframe src="javascript:alert(1)"></iframe>`, `<select><style></select><img src=x onerror=alert(1)>`,
			`<a href="jav&#x09;ascript:alert(1)">x</a>`, `<body onload=alert(1)>`, `<style>*{x:expression(alert(1))}</style>`,
		}
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// requireInert parses page and fails on anything that could run script:
// script elements other than the app's own files, event handler
// attributes, script URLs, and embedding elements other than allowed.
func requireInert(t *testing.T, page string, allowedScripts ...string) {
	t.Helper()
	doc, err := xhtml.Parse(strings.NewReader(page))
	require.NoError(t, err)
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode {
			switch n.Data {
			case "script":
				src := ""
				for _, a := range n.Attr {
					if a.Key == "src" {
						src = a.Val
					}
				}
				ok := false
				for _, p := range allowedScripts {
					if src != "" && strings.HasPrefix(src, p) {
						ok = true
					}
				}
				require.True(t, ok, "unexpected script element src=%q", src)
				require.Nil(t, n.FirstChild, "no inline script")
			case "iframe", "object", "embed", "frame", "frameset", "base", "style", "applet", "meta", "link":
				if n.Data == "meta" || n.Data == "link" {
					for _, a := range n.Attr {
						require.NotEqual(t, "http-equiv", a.Key, "meta http-equiv")
						if n.Data == "link" && a.Key == "rel" {
							require.Equal(t, "stylesheet", a.Val)
						}
					}
					break
				}
				if n.Data == "iframe" {
					for _, a := range n.Attr {
						if a.Key == "src" {
							require.True(t, strings.HasPrefix(a.Val, "/f/"), "iframe src %q", a.Val)
						}
					}
					break
				}
				t.Fatalf("dangerous element <%s> in page", n.Data)
			}
			for _, a := range n.Attr {
				require.False(t, strings.HasPrefix(strings.ToLower(a.Key), "on"), "event handler %s on <%s>", a.Key, n.Data)
				require.NotEqual(t, "style", strings.ToLower(a.Key), "style attribute on <%s>", n.Data)
				switch strings.ToLower(a.Key) {
				case "href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "background", "poster":
					v := strings.ToLower(strings.Map(func(r rune) rune {
						if r <= ' ' {
							return -1
						}
						return r
					}, a.Val))
					for _, bad := range []string{"javascript:", "vbscript:", "data:"} {
						require.False(t, strings.HasPrefix(v, bad), "%s=%q on <%s>", a.Key, a.Val, n.Data)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
}

func TestConsentXSSIsStoredSanitisedAndRendersInert(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	payloads := xssPayloads(t)
	text := "<p>Legit start.</p>\n" + strings.Join(payloads, "\n") + "\n<p>Legit end.</p>"
	if len(text) > formbuilder.MaxConsentTextBytes {
		text = text[:formbuilder.MaxConsentTextBytes]
	}
	// A label is plain text and HTML in it is refused (below); what may be
	// stored is text that only breaks out where it is not escaped.
	label := `I agree " onmouseover="alert(1)" x=" to the %terms' onclick='alert(2)%.`
	markupLabel := `I agree <script>alert(1)</script> to the %terms<img src=x onerror=alert(2)>%.`
	resp, _ := e.Post("/admin/consents", url.Values{"name": {`<img src=x onerror=alert(3)>`}, "type": {"custom"},
		"text": {text}, "label": {label}, "language": {"en"},
		"link_url": {""}})
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	id := consentIDFrom(t, loc)
	u, _ := url.Parse(loc)
	removed := u.Query()["removed"]
	require.Contains(t, removed, "<script>")
	require.Contains(t, removed, "event handler attributes")

	co, err := e.DB.FindConsentByID(t.Context(), id)
	require.NoError(t, err)
	stored := co.Current.Text
	require.Equal(t, formbuilder.Sanitize(stored), stored, "stored text is a sanitiser fixed point")
	// Payload fragments may survive as escaped text; no markup survives.
	low := strings.ToLower(stored)
	for _, bad := range []string{"<script", "<iframe", "<style", "<svg", "<img", "<object", "<embed", "<form", "<meta", "<base"} {
		require.NotContains(t, low, bad)
	}
	requireInert(t, stored)
	require.Contains(t, stored, "Legit start.")
	require.Contains(t, stored, "Legit end.")

	adminScripts := []string{"/admin/static/admin."}
	_, page := e.Get(loc)
	require.Contains(t, page, `id="sanitizer-notice"`)
	require.Contains(t, page, "&lt;script&gt;")
	requireInert(t, page, adminScripts...)
	_, page = e.Get("/admin/consents")
	requireInert(t, page, adminScripts...)
	_, page = e.Get("/admin/consents/" + strconv.FormatInt(id, 10) + "/versions")
	require.Contains(t, page, "Legit end.")
	requireInert(t, page, adminScripts...)

	// Attach to a form: the admin form page, the public page and the live
	// preview fragment stay inert too.
	f := e.SeedForm(&formbuilder.Form{Name: "F",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}},
		Consents: []formbuilder.FormConsent{{ConsentID: id, Required: true}}})
	_, page = e.Get("/admin/forms/" + strconv.FormatInt(f.ID, 10))
	requireInert(t, page, adminScripts...)
	resp, page = e.Get("/f/" + f.Key)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, "Legit end.")
	requireInert(t, page, "/static/", testenv.BaseURL+"/static/")

	resp, frag := e.PostRaw("/admin/consents/preview", url.Values{"text": {text}}, "X-CSRF-Token", e.CSRF(), "Origin", testenv.BaseURL)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, frag, "Will be removed when saved")
	requireInert(t, frag)

	// The same payloads in a re-rendered form (validation error) are
	// escaped in the textarea and inert in the preview box; the label with
	// markup is refused and shown escaped in its input.
	resp, page = e.Post("/admin/consents", url.Values{"name": {""}, "type": {"custom"}, "text": {text},
		"label": {markupLabel}, "language": {"en"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, testenv.FieldError(page, "label"), "plain text")
	requireInert(t, page, adminScripts...)
}

func TestConsentPreviewNeedsCSRF(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, _ := e.PostRaw("/admin/consents/preview", url.Values{"text": {"<p>x</p>"}}, testenv.SameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, body := e.PostRaw("/admin/consents/preview", url.Values{"text": {`<p onclick="x()">Hi <b>there</b></p>`}},
		"X-CSRF-Token", e.CSRF(), "Sec-Fetch-Site", "same-origin")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Contains(t, body, "<p>Hi <b>there</b></p>")
	require.Contains(t, body, "event handler attributes")
}

func TestStandardConsentFromCompanyData(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, body := e.Post("/admin/consents", url.Values{"name": {"Std"}, "type": {"standard"}, "language": {"de"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, testenv.FieldError(body, "type"), "company data")

	resp, _ = e.Post("/admin/settings", url.Values{"company.name": {"Beispiel <GmbH>"}, "company.address": {"Musterstraße 1, Berlin"},
		"company.purposes": {"Anfragen beantworten"}, "company.email": {"privacy@example.com"}, "ip_mode": {"full"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	_, body = e.Get("/admin/consents/new?type=standard&language=de")
	require.Contains(t, body, "Beispiel &amp;lt;GmbH&amp;gt;", "the template text is shown in the editor, escaped")
	require.NotContains(t, body, "Your company data is not complete yet")

	// Whatever is typed as text, standard takes the template.
	resp, _ = e.Post("/admin/consents", url.Values{"name": {"Std"}, "type": {"standard"}, "language": {"de"},
		"text": {"ignored"}, "label": {"ignored"}})
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	co, err := e.DB.FindConsentByID(t.Context(), consentIDFrom(t, loc))
	require.NoError(t, err)
	require.Equal(t, formbuilder.ConsentStandard, co.Type)
	want := formbuilder.StandardContent("de", formbuilder.CompanyData{Name: "Beispiel <GmbH>", Address: "Musterstraße 1, Berlin",
		Purposes: "Anfragen beantworten", Email: "privacy@example.com"})
	require.Equal(t, want.Text, co.Current.Text)
	require.Equal(t, want.Label, co.Current.Label)
	require.Contains(t, co.Current.Text, "Beispiel &lt;GmbH&gt;")

	// "Start from the standard template" fills a custom editor, saving nothing.
	resp, body = e.Post("/admin/consents", url.Values{"name": {"Mine"}, "type": {"custom"}, "language": {"en"}, "fill": {"1"}})
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, "I agree to the %processing of my personal data%.")
	require.Contains(t, body, "nothing is saved yet")
	list, _ := e.DB.ListConsents(t.Context())
	require.Len(t, list, 1)
}

func TestSettingsPage(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, body := e.Get("/admin/settings")
	require.Equal(t, 200, resp.StatusCode)
	for _, id := range []string{"settings-form", "company-name", "company-address", "company-purposes",
		"company-third_parties", "company-email", "ip_mode-full", "ip_mode-truncated"} {
		require.Contains(t, body, `id="`+id+`"`, id)
	}

	resp, body = e.Post("/admin/settings", url.Values{"company.name": {""}, "company.purposes": {"x"},
		"company.email": {"not-an-email"}, "ip_mode": {"partial"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Equal(t, "is required", testenv.FieldError(body, "company-name"))
	require.Contains(t, testenv.FieldError(body, "company-email"), "e-mail")
	require.Contains(t, testenv.FieldError(body, "ip_mode"), "full or truncated")
	require.Contains(t, body, `value="not-an-email"`)

	// Only the IP mode, no company data: fine.
	resp, _ = e.Post("/admin/settings", url.Values{"ip_mode": {"truncated"}})
	require.Equal(t, "/admin/settings?msg=saved", testenv.Location(t, resp, http.StatusSeeOther))
	st, err := e.DB.GetSettings(t.Context())
	require.NoError(t, err)
	require.Equal(t, formbuilder.IPTruncated, st.IPMode)
	_, body = e.Get("/admin/settings?msg=saved")
	require.Contains(t, body, `id="page-notice">Saved.`)
	require.Contains(t, body, `id="ip_mode-truncated" name="ip_mode" value="truncated" checked`)

	// The server's copy is updated: a submission now stores a truncated IP.
	co := e.SeedConsent("P", "<p>x</p>", "ok")
	f := e.SeedForm(&formbuilder.Form{Name: "F",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}},
		Consents: []formbuilder.FormConsent{{ConsentID: co.ID, Required: true}}})
	_, page := e.Get("/f/" + f.Key)
	tok := testenv.Find(t, page, `name="_token" value="([^"]+)"`)
	e.IP = "198.51.100.77"
	resp, _ = e.PostRaw("/f/"+f.Key, url.Values{"_token": {tok}, "email": {"a@example.com"},
		"consent_" + strconv.FormatInt(co.ID, 10): {"1"}})
	require.Less(t, resp.StatusCode, 400)
	recs, err := e.DB.ListRecords(t.Context(), formbuilder.RecordFilter{})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "198.51.100.0", recs[0].IP)
}

// HTML typed into a label is refused with a message that names the field
// and says how to add a link, in the admin UI and the API alike; nothing is
// stored (issue 15: 6).
func TestConsentLabelHTMLIsRefused(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	label := `Ich stimme der <a href="https://example.com/datenschutz">Datenschutzerklärung</a> zu.`
	resp, body := e.Post("/admin/consents", url.Values{"name": {"Datenschutz"}, "type": {"custom"},
		"text": {"<p>Wir verarbeiten Ihre Daten.</p>"}, "label": {label}, "language": {"de"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	msg := testenv.FieldError(body, "label")
	require.Contains(t, msg, "plain text")
	require.Contains(t, msg, "%Datenschutzerklärung%")
	require.Contains(t, msg, "Link URL")
	require.Contains(t, body, `href="#label"`, "the error summary links the field")
	list, err := e.DB.ListConsents(t.Context())
	require.NoError(t, err)
	require.Empty(t, list, "nothing stored")

	// Editing an existing consent: refused, the current version stays.
	co := e.SeedConsent("Privacy", "<p>We process your data.</p>", "I agree to the %privacy policy%.")
	resp, body = e.Post("/admin/consents/"+strconv.FormatInt(co.ID, 10), url.Values{"name": {"Privacy"},
		"type": {"custom"}, "text": {co.Current.Text}, "label": {"I <b>agree</b>."}, "language": {"en"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, testenv.FieldError(body, "label"), "between percent signs")
	got, err := e.DB.FindConsentByID(t.Context(), co.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.Current.Number)
	require.Equal(t, "I agree to the %privacy policy%.", got.Current.Label)

	tok := e.APIToken("ci")
	resp, out := e.API(http.MethodPost, "/api/v1/consents", tok,
		`{"name":"x","text":"<p>x</p>","label":"I agree to the <a href=\"https://example.com/p\">policy</a>.","language":"en"}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, out)
	require.Contains(t, testenv.DecodeError(t, out).Error.Fields["label"], "%policy%", out)
	resp, out = e.API(http.MethodPut, "/api/v1/consents/"+strconv.FormatInt(co.ID, 10), tok,
		`{"name":"Privacy","text":"<p>x</p>","label":"I agree&nbsp;now.","language":"en"}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, out)
	require.Contains(t, testenv.DecodeError(t, out).Error.Fields["label"], "Link URL", out)
	got, err = e.DB.FindConsentByID(t.Context(), co.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.Current.Number)
}

// A standard consent keeps the company data it was made with; after a
// change of that data it is shown as outdated, in the list and on its page,
// with one action that makes the new version (issue 15: 11).
func TestStandardConsentOutdatedAfterCompanyChange(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	company := url.Values{"company.name": {"Beispiel GmbH"}, "company.address": {"Musterstraße 1, Berlin"},
		"company.purposes": {"Anfragen beantworten"}, "ip_mode": {"full"}}
	resp, _ := e.Post("/admin/settings", company)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.Post("/admin/consents", url.Values{"name": {"Std"}, "type": {"standard"}, "language": {"de"},
		"link_url": {"https://example.com/datenschutz"}})
	id := consentIDFrom(t, testenv.Location(t, resp, http.StatusSeeOther))
	custom := e.SeedConsent("Custom", "<p>Beispiel GmbH processes data.</p>", "I %agree%.")
	f := e.SeedForm(&formbuilder.Form{Name: "F", Language: "de",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail}},
		Consents: []formbuilder.FormConsent{{ConsentID: id, Required: true}}})
	edit := "/admin/consents/" + strconv.FormatInt(id, 10)
	row := func(body string, id int64) string {
		return testenv.Find(t, body, `(?s)(<tr id="consent-`+strconv.FormatInt(id, 10)+`">.*?</tr>)`)
	}

	_, body := e.Get("/admin/consents")
	require.NotContains(t, row(body, id), "outdated")
	_, body = e.Get(edit)
	require.NotContains(t, body, `id="outdated"`)
	_, page := e.Get("/f/" + f.Key)
	require.Contains(t, page, "Beispiel GmbH")

	company.Set("company.name", "Beispiel AG")
	resp, _ = e.Post("/admin/settings", company)
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	_, body = e.Get(loc)
	require.Contains(t, testenv.Find(t, body, `(?s)id="page-notice">(.*?)</div>`), "outdated")

	_, body = e.Get("/admin/consents")
	require.Contains(t, row(body, id), "outdated")
	require.Contains(t, row(body, id), `action="`+edit+`/update-standard"`)
	require.NotContains(t, row(body, custom.ID), "outdated", "a custom text is the admin's own")
	_, body = e.Get(edit)
	notice := testenv.Find(t, body, `(?s)<div class="notice notice-warn" id="outdated"[^>]*>(.*?)</div>`)
	require.Contains(t, notice, "company data")
	require.Contains(t, notice, `action="`+edit+`/update-standard"`)

	// Without the CSRF token nothing happens.
	resp, _ = e.PostRaw(edit+"/update-standard", url.Values{}, testenv.SameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _ = e.Post(edit+"/update-standard", nil)
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-version")
	co, err := e.DB.FindConsentByID(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, 2, co.Current.Number)
	require.Contains(t, co.Current.Text, "Beispiel AG")
	require.NotContains(t, co.Current.Text, "Beispiel GmbH")
	require.Equal(t, "https://example.com/datenschutz", co.Current.LinkURL, "the link URL stays")
	require.Equal(t, "Std", co.Name)
	_, body = e.Get("/admin/consents")
	require.NotContains(t, row(body, id), "outdated")
	_, page = e.Get("/f/" + f.Key)
	require.Contains(t, page, "Beispiel AG", "forms show the new version at once")

	// Nothing to update: no new version.
	resp, _ = e.Post(edit+"/update-standard", nil)
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-unchanged")
	resp, _ = e.Post("/admin/consents/"+strconv.FormatInt(custom.ID, 10)+"/update-standard", nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode, "only standard consents follow the company data")
}
