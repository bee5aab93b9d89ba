package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// previewEnv is a signed-in admin with a form that has a required consent
// and a webhook, so a dry run that stored or delivered anything shows.
type previewEnv struct {
	*testenv.Env
	f       *formbuilder.Form
	consent *formbuilder.Consent
}

func newPreviewEnv(t *testing.T) *previewEnv {
	e := &previewEnv{Env: testenv.New(t)}
	e.consent = e.SeedConsent("Privacy", "<p>We process your data.</p>", "I agree to the %privacy terms%.")
	e.f = e.SeedForm(&formbuilder.Form{Name: "Contact", Title: "Contact us", Language: "en",
		RedirectURL: "https://www.example.com/thanks",
		Fields:      []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents:    []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
		Notifications: formbuilder.Notifications{Webhooks: []formbuilder.Webhook{
			{URL: "https://crm.example.com/hook", Secret: "whsec_0123456789abcdef"}}},
	})
	e.Login()
	return e
}

// previewURL reads the preview frame's address from the admin's preview
// page.
func (e *previewEnv) previewURL(t *testing.T) string {
	t.Helper()
	resp, page := e.Get("/admin/forms/" + itoa(e.f.ID) + "/preview")
	require.Equal(t, 200, resp.StatusCode)
	src := html.UnescapeString(testenv.Find(t, page, `<iframe src="([^"]+)"`))
	require.True(t, strings.HasPrefix(src, "/f/"+e.f.Key+"?preview="), src)
	return src
}

func (e *previewEnv) requireNothingStoredOrSent(t *testing.T) {
	t.Helper()
	e.RequireNothingStored("a preview stores nothing")
	require.Zero(t, e.Count("outbox"), "a preview delivers nothing")
}

// The admin's preview is a dry run: the form is checked like a real one
// and answered with the success page, marked as a preview, and nothing is
// stored or delivered. A visitor cannot make a real form do the same
// (issue 15: 10).
func TestPreviewIsADryRun(t *testing.T) {
	e := newPreviewEnv(t)
	_, adminPage := e.Get("/admin/forms/" + itoa(e.f.ID) + "/preview")
	assert.NotContains(t, adminPage, "What you send here is stored")
	assert.Contains(t, adminPage, "nothing is stored")
	src := e.previewURL(t)

	resp, page := e.Get(src)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.Contains(t, page, `class="cf-preview"`)
	assert.Contains(t, page, "<title>Preview: Contact us</title>")
	tok := testenv.Find(t, page, `name="_token" value="([^"]+)"`)
	cid := itoa(e.consent.ID)
	e.Clock.Add(2 * time.Second)
	vals := url.Values{"_token": {tok}, "email": {"a@example.com"}, "consent_" + cid: {"1"}, "consent_" + cid + "_initial": {"1"}}

	// Without JavaScript: the success page with the preview note, not the
	// redirect, and nothing stored.
	resp, page = e.PostRaw("/f/"+e.f.Key, vals)
	require.Equal(t, 200, resp.StatusCode, page)
	assert.Contains(t, page, `class="cf-preview"`)
	assert.Contains(t, page, "nothing was stored")
	assert.Contains(t, page, "https://www.example.com/thanks", "says where visitors would go")
	e.requireNothingStoredOrSent(t)

	// With JavaScript: the JSON success, marked, without a redirect.
	resp, out := e.PostRaw("/f/"+e.f.Key, vals, "Accept", "application/json")
	require.Equal(t, 200, resp.StatusCode, out)
	var res map[string]any
	decodeJSON(t, out, &res)
	assert.Equal(t, true, res["preview"])
	assert.Contains(t, res["preview_note"], "nothing was stored")
	assert.NotContains(t, res, "redirect_url")
	assert.Empty(t, res["withdraw_links"])
	e.requireNothingStoredOrSent(t)

	// Refused like a real post, and the page stays a preview.
	bad := url.Values{"_token": {tok}, "email": {"not an address"}, "consent_" + cid: {"1"}}
	resp, page = e.PostRaw("/f/"+e.f.Key, bad)
	require.Equal(t, 422, resp.StatusCode)
	assert.Contains(t, page, `class="cf-preview"`)
	assert.Contains(t, page, "valid e-mail address")
	again := testenv.Find(t, page, `name="_token" value="([^"]+)"`)
	resp, _ = e.PostRaw("/f/"+e.f.Key, url.Values{"_token": {again}, "email": {"b@example.com"}, "consent_" + cid: {"1"}})
	require.Equal(t, 200, resp.StatusCode)
	resp, out = e.PostRaw("/f/"+e.f.Key, bad, "Accept", "application/json")
	require.Equal(t, 422, resp.StatusCode)
	var inv struct {
		Token string `json:"token"`
	}
	decodeJSON(t, out, &inv)
	assert.Equal(t, tok, inv.Token, "the preview token comes back")
	e.requireNothingStoredOrSent(t)

	// The live form stores as ever.
	resp, out = e.PostRaw("/f/"+e.f.Key, url.Values{"_token": {e.RenderToken(e.f.Key)}, "email": {"c@example.com"},
		"consent_" + cid: {"1"}}, "Accept", "application/json")
	require.Equal(t, 201, resp.StatusCode, out)
	assert.Equal(t, 1, e.Count("submissions"))
}

func TestPreviewCannotBeForged(t *testing.T) {
	e := newPreviewEnv(t)
	src := e.previewURL(t)
	param := strings.TrimPrefix(src, "/f/"+e.f.Key+"?preview=")
	other := e.SeedForm(&formbuilder.Form{Name: "Other", Language: "en",
		Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})

	for name, path := range map[string]string{
		"garbage":             "/f/" + e.f.Key + "?preview=1",
		"another form's link": "/f/" + other.Key + "?preview=" + param,
		"tampered":            "/f/" + e.f.Key + "?preview=" + param[:len(param)-2] + "xx",
	} {
		resp, page := e.Get(path)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, name)
		assert.NotContains(t, page, `name="_token"`, name)
	}
	e.Clock.Add(13 * time.Hour)
	resp, _ := e.Get(src)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "the link runs out")

	// A live token marked as a preview one does not verify.
	live := e.RenderToken(e.f.Key)
	ts, sig, _ := strings.Cut(live, ".")
	cid := itoa(e.consent.ID)
	for _, forged := range []string{ts + ".p." + sig, ts + ".p.", "x.p.y"} {
		vals := url.Values{"_token": {forged}, "email": {"a@example.com"}, "consent_" + cid: {"1"}}
		resp, out := e.PostRaw("/f/"+e.f.Key, vals, "Accept", "application/json")
		require.Equal(t, 422, resp.StatusCode, out)
		var inv struct {
			Token string `json:"token"`
		}
		decodeJSON(t, out, &inv)
		assert.NotContains(t, inv.Token, ".p.", "a refused forgery gets a live token, not a preview one")
		resp, page := e.PostRaw("/f/"+e.f.Key, vals)
		require.Equal(t, 422, resp.StatusCode)
		assert.NotContains(t, page, `class="cf-preview"`)
	}
	e.requireNothingStoredOrSent(t)

	// Signed out, there is no preview page to get a link from.
	e.Jar = map[string]string{}
	resp, _ = e.Get("/admin/forms/" + itoa(e.f.ID) + "/preview")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
}
