package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// signInWith signs email in from a browser that sends accept as its
// Accept-Language.
func signInWith(t *testing.T, e *testenv.Env, email, accept string) {
	t.Helper()
	e.Jar = map[string]string{}
	resp, body := e.Get("/admin/login", "Accept-Language", accept)
	require.Equal(t, 200, resp.StatusCode)
	csrf := testenv.Find(t, body, `name="_csrf" value="([^"]+)"`)
	hdr := append([]string{"Accept-Language", accept}, testenv.SameOrigin...)
	resp, _ = e.PostRaw("/admin/login", url.Values{"email": {email}, "password": {testenv.AdminPassword}, "_csrf": {csrf}}, hdr...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func userLanguage(t *testing.T, e *testenv.Env, id int64) string {
	t.Helper()
	u, err := e.DB.FindUserByID(t.Context(), id)
	require.NoError(t, err)
	return u.Language
}

// The admin's language: the sign-in page speaks the browser's; the first
// sign-in stores it on the user, later sign-ins from another browser keep
// the stored one; the switch changes it (audited), returns to the page it
// was used on, never to another site, and refuses a language the product
// does not speak.
func TestAdminLanguageFollowsTheUser(t *testing.T) {
	e := testenv.New(t)
	op := e.AddUser("otto@example.com", "Otto", formbuilder.RoleOperator)
	require.Empty(t, op.Language, "no language before the first sign-in")

	for _, c := range []struct{ accept, lang, title string }{
		{"de-AT,de;q=0.9,en;q=0.8", "de", "Anmelden"},
		{"fr-FR,fr;q=0.9,en;q=0.5,de;q=0.4", "en", "Sign in"},
		{"", "en", "Sign in"},
		{"en;q=0.3, de", "de", "Anmelden"},
	} {
		resp, body := e.Get("/admin/login", "Accept-Language", c.accept)
		require.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, body, `<html lang="`+c.lang+`"`, c.accept)
		assert.Contains(t, body, "<title>"+c.title, c.accept)
	}

	signInWith(t, e, op.Email, "de-DE,de;q=0.9")
	assert.Equal(t, "de", userLanguage(t, e, op.ID), "the first sign-in takes the browser's language")
	resp, body := e.Get("/admin/forms")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, `<html lang="de"`)
	assert.Contains(t, body, "Formulare")

	signInWith(t, e, op.Email, "en-US")
	assert.Equal(t, "de", userLanguage(t, e, op.ID), "a later sign-in keeps the chosen language")
	resp, body = e.Get("/admin/consents")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, body, `<html lang="de"`)
	assert.Contains(t, testenv.PageError(body), "Ihre Rolle erlaubt das nicht.")

	resp, _ = e.Post("/admin/account/language", url.Values{"language": {"en"}, "next": {"/admin/conversations"}})
	assert.Equal(t, "/admin/conversations", testenv.Location(t, resp, http.StatusSeeOther), "back to the page")
	assert.Equal(t, "en", userLanguage(t, e, op.ID))
	resp, body = e.Get("/admin/consents")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, testenv.PageError(body), "Your role does not allow this.")

	resp, _ = e.Post("/admin/account/language", url.Values{"language": {"de"}, "next": {"https://evil.example/"}})
	assert.Equal(t, "/admin/account?msg=language-saved", testenv.Location(t, resp, http.StatusSeeOther), "never to another site")
	_, body = e.Get("/admin/account?msg=language-saved")
	assert.Contains(t, body, formbuilder.T("de", "notice.language-saved"))

	resp, body = e.Post("/admin/account/language", url.Values{"language": {"fr"}})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, body, `<html lang="de"`, "the refusal in the language still set")
	assert.Equal(t, "de", userLanguage(t, e, op.ID), "a refused language changes nothing")

	var langs []string
	for _, ev := range e.Audit() {
		if ev.Action == "set_language" {
			langs = append(langs, ev.Details["language"])
		}
	}
	assert.Equal(t, []string{"de", "en"}, langs, "each switch is in the audit trail, newest first")
}

// apiError is an error answer of the API with its message codes.
type apiError struct {
	Error struct {
		Code        string                     `json:"code"`
		Message     string                     `json:"message"`
		MessageCode string                     `json:"message_code"`
		Params      map[string]string          `json:"params"`
		Fields      map[string]string          `json:"fields"`
		FieldCodes  map[string]formbuilder.Msg `json:"field_codes"`
	} `json:"error"`
}

// PUT /api/v1/me takes the language; the API's errors carry the message
// code and its parameters beside the English text, for the whole error and
// per field, so a client can translate them itself.
func TestAPIMeLanguageAndMessageCodes(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("lang")
	resp, body := e.API(http.MethodPut, "/api/v1/me", tok, `{"language":"de"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "de", testenv.JSON(t, body)["language"])
	assert.Equal(t, "de", userLanguage(t, e, e.Admin.ID))
	resp, body = e.API(http.MethodPut, "/api/v1/me", tok, `{"name":"Ada"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "de", testenv.JSON(t, body)["language"], "a missing language keeps the user's")

	resp, body = e.API(http.MethodPut, "/api/v1/me", tok, `{"language":"fr"}`)
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	var ae apiError
	require.NoError(t, json.Unmarshal([]byte(body), &ae), body)
	assert.Equal(t, "invalid", ae.Error.Code)
	assert.Equal(t, string(formbuilder.MsgInvalidFields), ae.Error.MessageCode)
	assert.Equal(t, map[string]string{"fields": "language"}, ae.Error.Params)
	assert.Equal(t, "invalid language", ae.Error.Message, "the API speaks English, whatever the user's language")
	assert.Equal(t, map[string]string{"language": "must be one of de, en"}, ae.Error.Fields)
	assert.Equal(t, map[string]formbuilder.Msg{"language": formbuilder.M(formbuilder.MsgOneOf, "values", "de, en")},
		ae.Error.FieldCodes)
	assert.Equal(t, "de", userLanguage(t, e, e.Admin.ID))

	resp, body = e.API(http.MethodGet, "/api/v1/forms/999", tok, "")
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	ae = apiError{}
	require.NoError(t, json.Unmarshal([]byte(body), &ae), body)
	assert.Equal(t, "not_found", ae.Error.Code)
	assert.Equal(t, string(formbuilder.MsgFormNotFound), ae.Error.MessageCode)
	assert.Equal(t, "form not found", ae.Error.Message)
}
