package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The internal names of this test: what the admin calls things. Visitors
// must never read them (issue 15: 5).
const (
	internalConsentName = "LEGAL-7 Einwilligung intern v2"
	internalFormName    = "Lead gen Q3 (Kampagne intern)"
)

// textsEnv has a form and a consent whose internal names differ from
// what visitors are shown: the form's title and the consent's label.
type textsEnv struct {
	*testenv.Env
	f       *formbuilder.Form
	consent *formbuilder.Consent
}

func newTextsEnv(t *testing.T, title string) *textsEnv {
	e := &textsEnv{Env: testenv.New(t)}
	e.consent = e.SeedConsent(internalConsentName, "<p>We process your data to answer you.</p>",
		"I agree to the %processing of my data%.")
	e.f = e.SeedForm(&formbuilder.Form{Name: internalFormName, Title: title, Language: "en",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}}})
	return e
}

func (e *textsEnv) values(pageURL string) url.Values {
	v := url.Values{"_token": {e.RenderToken(e.f.Key)}, "email": {"a@example.com"},
		"consent_" + itoa(e.consent.ID): {"1"}, "consent_" + itoa(e.consent.ID) + "_initial": {"1"}}
	if pageURL != "" {
		v.Set("_page_url", pageURL)
	}
	return v
}

func requireNoInternalNames(t *testing.T, what, body string) {
	t.Helper()
	assert.NotContains(t, body, internalConsentName, what)
	assert.NotContains(t, body, internalFormName, what)
	assert.NotContains(t, body, "Kampagne", what)
	assert.NotContains(t, body, "LEGAL-7", what)
}

func TestVisitorsSeeNoInternalNames(t *testing.T) {
	const label = "I agree to the processing of my data."
	e := newTextsEnv(t, "Contact us")

	// The success page (no JavaScript) names the consent by its label.
	resp, page := e.PostRaw("/f/"+e.f.Key, e.values("https://shop.example.com/contact"))
	require.Equal(t, http.StatusOK, resp.StatusCode, page)
	require.Contains(t, page, label)
	requireNoInternalNames(t, "success page", page)
	onPage := strings.TrimPrefix(testenv.Find(t, page, `href="([^"]+/w/[^"]+)"`), testenv.BaseURL)

	// The JSON answer too.
	resp, out := e.PostRaw("/f/"+e.f.Key, e.values(""), "Accept", "application/json")
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	var res struct {
		WithdrawLinks []struct {
			Label string `json:"label"`
			URL   string `json:"url"`
		} `json:"withdraw_links"`
	}
	decodeJSON(t, out, &res)
	require.Len(t, res.WithdrawLinks, 1)
	require.Equal(t, label, res.WithdrawLinks[0].Label)
	requireNoInternalNames(t, "JSON answer", out)

	// The withdrawal page: the label, and where the consent was given: the
	// page it was given on, else the form's title.
	noPage := strings.TrimPrefix(res.WithdrawLinks[0].URL, testenv.BaseURL)
	resp, page = e.Get(onPage)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, label)
	require.Contains(t, page, "https://shop.example.com/contact")
	requireNoInternalNames(t, "withdrawal page", page)
	resp, page = e.Get(noPage)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, label)
	require.Contains(t, page, "Contact us")
	requireNoInternalNames(t, "withdrawal page", page)

	resp, page = e.PostRaw(noPage, url.Values{})
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, "withdrawn")
	require.Contains(t, page, label)
	requireNoInternalNames(t, "withdrawn page", page)
	resp, out = e.Get(noPage, "Accept", "application/json")
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, out, `"label":"`+label+`"`)
	requireNoInternalNames(t, "withdrawal JSON", out)
}

// A form without a title and a consent given on no known page: the
// withdrawal page says nothing about where rather than the internal name.
func TestWithdrawalPageWithoutTitleOrPage(t *testing.T) {
	e := newTextsEnv(t, "")
	resp, out := e.PostRaw("/f/"+e.f.Key, e.values(""), "Accept", "application/json")
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	path := strings.TrimPrefix(testenv.Find(t, out, `"url":"([^"]+)"`), testenv.BaseURL)
	resp, page := e.Get(path)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, "I agree to the processing of my data.")
	requireNoInternalNames(t, "withdrawal page", page)
}

// A form with a redirect URL sends the visitor there, embedded or not (the
// loader moves the host page), and the thank-you page gets the withdrawal
// links as cf_withdraw parameters, so withdrawal stays reachable; the
// admin's help says so (issue 15: 8).
func TestRedirectCarriesWithdrawalLinks(t *testing.T) {
	e := newTextsEnv(t, "Contact us")
	f := e.Form(e.f.ID)
	f.RedirectURL = "https://www.example.com/thanks?src=form#top"
	require.NoError(t, e.DB.UpdateForm(t.Context(), f))

	requireLinks := func(t *testing.T, target string) {
		t.Helper()
		u, err := url.Parse(target)
		require.NoError(t, err)
		assert.Equal(t, "www.example.com", u.Host)
		assert.Equal(t, "/thanks", u.Path)
		assert.Equal(t, "top", u.Fragment)
		assert.Equal(t, "form", u.Query().Get("src"), "the URL's own query stays")
		links := u.Query()["cf_withdraw"]
		require.Len(t, links, 1, target)
		require.True(t, strings.HasPrefix(links[0], testenv.BaseURL+"/w/"), links[0])
		resp, page := e.Get(strings.TrimPrefix(links[0], testenv.BaseURL))
		require.Equal(t, 200, resp.StatusCode, "the link is a working withdrawal link")
		require.Contains(t, page, "I agree to the processing of my data.")
	}

	// Hosted page without JavaScript: 303 to the thank-you page.
	resp, _ := e.PostRaw("/f/"+e.f.Key, e.values(""))
	requireLinks(t, testenv.Location(t, resp, http.StatusSeeOther))

	// With JavaScript, hosted or embedded: the JSON answer's redirect_url.
	for _, embed := range []string{"0", "1"} {
		vals := e.values("https://shop.example.com/contact")
		vals.Set("_embed", embed)
		resp, out := e.PostRaw("/f/"+e.f.Key, vals, "Accept", "application/json")
		require.Equal(t, http.StatusCreated, resp.StatusCode, out)
		var res struct {
			RedirectURL string `json:"redirect_url"`
		}
		decodeJSON(t, out, &res)
		requireLinks(t, res.RedirectURL)
	}

	// An embedded form without JavaScript cannot move the host page: it
	// shows the success page with the links, in the frame.
	vals := e.values("")
	vals.Set("_embed", "1")
	resp, page := e.PostRaw("/f/"+e.f.Key, vals)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, "/w/")

	e.Login()
	_, page = e.Get("/admin/forms/" + itoa(e.f.ID))
	hint := html.UnescapeString(testenv.Find(t, page, `(?s)<p class="hint" id="redirect_url-hint">(.*?)</p>`))
	assert.NotContains(t, hint, "always show the success message")
	assert.Contains(t, hint, "embedded")
	assert.Contains(t, hint, `data-redirect="off"`)
	assert.Contains(t, hint, "cf_withdraw")
}

// A German form's refusals are German, in the page (no JavaScript) and in
// the JSON answer, with the message codes beside the texts: among them
// "is not a consent of this form", which slipped through in English when
// the texts were looked up by their English wording, and an empty body.
func TestGermanFormRefusesInGerman(t *testing.T) {
	e := testenv.New(t)
	co := e.SeedConsentContent("Datenschutz", formbuilder.ConsentContent{Language: "de",
		Text: "<p>Wir verarbeiten Ihre Angaben.</p>", Label: "Ich stimme der %Verarbeitung meiner Daten% zu."})
	f := e.SeedForm(&formbuilder.Form{Name: "Kontakt", Language: "de",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: co.ID, Required: true}}})
	vals := url.Values{"_token": {e.RenderToken(f.Key)}, "email": {"keine-adresse"}, "consent_999": {"1"}}

	resp, page := e.PostRaw("/f/"+f.Key, vals)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, page, `lang="de"`)
	assert.Contains(t, page, "E-Mail ist keine gültige E-Mail-Adresse")
	assert.Contains(t, page, "Bitte stimmen Sie „Verarbeitung meiner Daten“ zu")
	assert.Contains(t, page, "consent.999 ist keine Einwilligung dieses Formulars")
	assert.NotContains(t, page, "is not a consent of this form")

	vals.Set("_token", e.RenderToken(f.Key))
	resp, out := e.PostRaw("/f/"+f.Key, vals, "Accept", "application/json")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	var ae apiError
	decodeJSON(t, out, &ae)
	assert.Equal(t, "invalid", ae.Error.Code)
	assert.Equal(t, "E-Mail ist keine gültige E-Mail-Adresse", ae.Error.Fields["email"])
	assert.Equal(t, "consent.999 ist keine Einwilligung dieses Formulars", ae.Error.Fields["consent.999"])
	assert.Equal(t, formbuilder.M(formbuilder.MsgNotAFormConsent), ae.Error.FieldCodes["consent.999"])
	assert.Equal(t, formbuilder.M(formbuilder.MsgInvalidEmail), ae.Error.FieldCodes["email"])
	assert.Equal(t, formbuilder.M(formbuilder.MsgMustAccept), ae.Error.FieldCodes["consent."+itoa(co.ID)])

	resp, out = e.PostRaw("/f/"+f.Key, nil, "Accept", "application/json", "Content-Type", "application/json")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, out)
	ae = apiError{}
	decodeJSON(t, out, &ae)
	assert.Equal(t, string(formbuilder.MsgEmptyBody), ae.Error.MessageCode)
	assert.Equal(t, "die Anfrage hat keinen Inhalt", ae.Error.Message)
	e.RequireNothingStored()
}

// Issue 16's visitor pages refuse in the visitor's language by code: a
// confirmation link that is not one, an address that is not one, a
// self-service link that ran out.
func TestSelfServiceRefusesInGerman(t *testing.T) {
	e := testenv.New(t)
	resp, page := e.Get("/confirm/kein-token", "Accept-Language", "de-DE")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, page, `lang="de"`)
	assert.Contains(t, page, "dieser Bestätigungslink ist ungültig")

	resp, out := e.PostRaw("/my-consents", url.Values{"email": {"keine-adresse"}, "lang": {"de"}},
		"Accept", "application/json")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, out)
	var ae apiError
	decodeJSON(t, out, &ae)
	assert.Equal(t, formbuilder.M(formbuilder.MsgEnterValidEmail), ae.Error.FieldCodes["email"])
	assert.Contains(t, ae.Error.Fields["email"], "Bitte geben Sie eine gültige E-Mail-Adresse ein.")

	resp, page = e.Get("/my-consents/abgelaufen?lang=de")
	require.Equal(t, http.StatusGone, resp.StatusCode)
	assert.Contains(t, page, "Dieser Link gilt nicht (mehr). Fordern Sie auf /my-consents einen neuen an.")
	assert.NotContains(t, page, "This link is not valid")
}
