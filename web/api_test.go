package web_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/require"
)

func TestAPIRequiresBearerToken(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("ci")
	for _, h := range []string{"", "Bearer cf_" + strings.Repeat("a", 32), "Bearer nope", "Basic " + tok,
		"Bearer", tok} {
		req := httpReq(t, http.MethodGet, "/api/v1/forms", "")
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := e.Srv.App().Test(req, -1)
		require.NoError(t, err)
		body := testenv.ReadBody(t, resp)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, h)
		require.Contains(t, resp.Header.Get("WWW-Authenticate"), `Bearer realm="consentforms"`, h)
		eb := testenv.DecodeError(t, body)
		require.Equal(t, "unauthorized", eb.Error.Code, h)
		require.Empty(t, resp.Header.Values("Set-Cookie"))
	}
	// An admin session cookie is no credential for the API.
	e.Login()
	req := httpReq(t, http.MethodGet, "/api/v1/forms", "")
	req.AddCookie(&http.Cookie{Name: "cf_session", Value: e.Jar["cf_session"]})
	resp, err := e.Srv.App().Test(req, -1)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, body := e.API(http.MethodGet, "/api/v1/forms", tok, "")
	require.Equal(t, 200, resp.StatusCode, body)
	require.Equal(t, []any{}, testenv.JSON(t, body)["forms"])
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Contains(t, resp.Header.Get("Content-Type"), "application/json")

	tokens, err := e.DB.ListTokens(t.Context())
	require.NoError(t, err)
	require.False(t, tokens[0].LastUsed.IsZero(), "token use is recorded")
}

func TestAPICreateFormWithFieldsAndConsents(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("ci")
	c1 := e.SeedConsent("Privacy", "<p>P</p>", "I agree to the %terms%.")
	c2 := e.SeedConsent("News", "<p>N</p>", "Send news.")
	body := `{
	  "name": "Contact",
	  "title": "Write to us",
	  "language": "en",
	  "description": "<p>Hi<script>alert(1)</script></p>",
	  "fields": [
	    {"key": "name", "label": "Name", "kind": "name", "required": true},
	    {"key": "email", "label": "E-mail", "kind": "email", "required": true, "placeholder": "you@example.com"},
	    {"key": "topic", "label": "Topic", "kind": "select", "options": ["Sales", "Support"], "default": "Support"}
	  ],
	  "consents": [
	    {"consent_id": ` + strconv.FormatInt(c1.ID, 10) + `},
	    {"consent_id": ` + strconv.FormatInt(c2.ID, 10) + `, "checked_by_default": false, "required": false}
	  ],
	  "allowed_origins": ["HTTPS://WWW.Example.com"],
	  "responsible_user_id": ` + strconv.FormatInt(e.Admin.ID, 10) + `,
	  "retention_days": 90
	}`
	resp, out := e.API(http.MethodPost, "/api/v1/forms", tok, body)
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	var f formbuilder.Form
	require.NoError(t, json.Unmarshal([]byte(out), &f))
	require.Equal(t, "/api/v1/forms/"+strconv.FormatInt(f.ID, 10), resp.Header.Get("Location"))
	require.True(t, formbuilder.ValidFormKey(f.Key))
	require.Len(t, f.Fields, 3)
	require.Equal(t, "Support", f.Fields[2].Default)
	require.Len(t, f.Consents, 2)
	require.True(t, f.Consents[0].CheckedByDefault, "omitted switches default to on")
	require.True(t, f.Consents[0].Required)
	require.False(t, f.Consents[1].CheckedByDefault)
	require.False(t, f.Consents[1].Required)
	require.NotNil(t, f.Consents[0].Consent)
	require.Equal(t, []string{"https://www.example.com"}, f.AllowedOrigins)
	require.Equal(t, "<p>Hi</p>", f.Description)
	require.Equal(t, "Ada Admin", f.ResponsibleUser)

	// The public page exists at once.
	resp, page := e.Get("/f/" + f.Key)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, "Write to us")

	// GET, change, PUT back: the read-only members are accepted.
	resp, got := e.API(http.MethodGet, "/api/v1/forms/"+strconv.FormatInt(f.ID, 10), tok, "")
	require.Equal(t, 200, resp.StatusCode)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(got), &m))
	m["title"] = "New title"
	m["fields"] = m["fields"].([]any)[:2]
	put, _ := json.Marshal(m)
	resp, out = e.API(http.MethodPut, "/api/v1/forms/"+strconv.FormatInt(f.ID, 10), tok, string(put))
	require.Equal(t, 200, resp.StatusCode, out)
	upd := e.Form(f.ID)
	require.Equal(t, "New title", upd.Title)
	require.Len(t, upd.Fields, 2)
	require.Equal(t, f.Key, upd.Key, "the key cannot change")
	_, page = e.Get("/f/" + f.Key)
	require.Contains(t, page, "New title", "public cache invalidated")

	// The same body again carries the old version now: conflict.
	resp, out = e.API(http.MethodPut, "/api/v1/forms/"+strconv.FormatInt(f.ID, 10), tok, string(put))
	require.Equal(t, http.StatusConflict, resp.StatusCode, out)
	require.Equal(t, "conflict", testenv.DecodeError(t, out).Error.Code)

	resp, out = e.API(http.MethodGet, "/api/v1/forms", tok, "")
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, testenv.JSON(t, out)["forms"], 1)

	// Archive, list, restore.
	id := strconv.FormatInt(f.ID, 10)
	resp, out = e.API(http.MethodPost, "/api/v1/forms/"+id+"/archive", tok, "")
	require.Equal(t, 200, resp.StatusCode, out)
	require.Equal(t, true, testenv.JSON(t, out)["archived"])
	resp, _ = e.Get("/f/" + f.Key)
	require.Equal(t, http.StatusGone, resp.StatusCode)
	_, out = e.API(http.MethodGet, "/api/v1/forms", tok, "")
	require.Len(t, testenv.JSON(t, out)["forms"], 0)
	_, out = e.API(http.MethodGet, "/api/v1/forms?archived=1", tok, "")
	require.Len(t, testenv.JSON(t, out)["forms"], 1)
	resp, out = e.API(http.MethodPost, "/api/v1/forms/"+id+"/archive", tok, `{"archived": false}`)
	require.Equal(t, 200, resp.StatusCode, out)
	require.Equal(t, false, testenv.JSON(t, out)["archived"])
	resp, _ = e.Get("/f/" + f.Key)
	require.Equal(t, 200, resp.StatusCode)
}

func TestAPIValidationNamesTheField(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("ci")
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"unknown member", `{"name":"x","language":"en","colour":"red"}`, 400, "colour"},
		{"unknown nested member", `{"name":"x","language":"en","fields":[{"key":"a","label":"A","kind":"text","size":3}]}`, 400, "fields.0.size"},
		{"wrong type", `{"name":"x","language":"en","retention_days":"long"}`, 400, "retention_days"},
		{"wrong nested type", `{"name":"x","language":"en","fields":[{"key":"a","label":"A","kind":"text","max_length":"9"}]}`, 400, "fields.0.max_length"},
		{"bad field key", `{"name":"x","language":"en","fields":[{"key":"1 bad","label":"A","kind":"text"}]}`, 422, "fields.0.key"},
		{"duplicate key", `{"name":"x","language":"en","fields":[{"key":"a","label":"A","kind":"text"},{"key":"a","label":"B","kind":"text"}]}`, 422, "fields.1.key"},
		{"select without options", `{"name":"x","language":"en","fields":[{"key":"a","label":"A","kind":"select"}]}`, 422, "fields.0.options"},
		{"unknown kind", `{"name":"x","language":"en","fields":[{"key":"a","label":"A","kind":"rocket"}]}`, 422, "fields.0.kind"},
		{"missing name", `{"language":"en"}`, 422, "name"},
		{"bad language", `{"name":"x","language":"xx"}`, 422, "language"},
		{"unknown consent", `{"name":"x","language":"en","consents":[{"consent_id":4242}]}`, 422, "consents.0.consent_id"},
		{"unknown user", `{"name":"x","language":"en","responsible_user_id":4242}`, 422, "responsible_user_id"},
		{"bad origin", `{"name":"x","language":"en","allowed_origins":["https://ok.example","ftp://x"]}`, 422, "allowed_origins.1"},
	}
	for _, tc := range cases {
		resp, out := e.API(http.MethodPost, "/api/v1/forms", tok, tc.body)
		require.Equal(t, tc.status, resp.StatusCode, "%s: %s", tc.name, out)
		eb := testenv.DecodeError(t, out)
		require.Equal(t, "invalid", eb.Error.Code, tc.name)
		require.Contains(t, eb.Error.Fields, tc.field, "%s: %s", tc.name, out)
	}

	for _, tc := range []struct{ name, ctype, body string }{
		{"not JSON", "application/json", `{"name":`},
		{"two values", "application/json", `{"name":"x","language":"en"} {}`},
		{"array", "application/json", `[1,2]`},
		{"empty", "application/json", ``},
	} {
		req := httpReq(t, http.MethodPost, "/api/v1/forms", tc.body)
		req.Header.Set("Content-Type", tc.ctype)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.Srv.App().Test(req, -1)
		require.NoError(t, err)
		out := testenv.ReadBody(t, resp)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s: %s", tc.name, out)
		require.Equal(t, "invalid", testenv.DecodeError(t, out).Error.Code)
	}
	req := httpReq(t, http.MethodPost, "/api/v1/forms", "name=x")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.Srv.App().Test(req, -1)
	require.NoError(t, err)
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)

	forms, _ := e.DB.ListForms(t.Context(), formbuilderFilterAll)
	require.Empty(t, forms, "nothing stored")
}

func TestAPIConsentsVersions(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("ci")
	resp, out := e.API(http.MethodPost, "/api/v1/consents", tok, `{"name":"Privacy","text":"<p>v1 <img src=x onerror=alert(1)></p><script>alert(2)</script>","label":"I %agree%.","language":"en"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, out)
	m := testenv.JSON(t, out)
	id := int64(m["id"].(float64))
	require.Equal(t, "/api/v1/consents/"+strconv.FormatInt(id, 10), resp.Header.Get("Location"))
	require.Equal(t, "custom", m["type"], "type defaults to custom")
	require.Equal(t, true, m["version_created"])
	require.Contains(t, m["removed"], "<script>")
	require.Contains(t, m["removed"], "<img>")
	cur := m["current"].(map[string]any)
	require.Equal(t, "<p>v1 </p>", cur["text"])
	require.Equal(t, "api:ci", cur["author"])
	require.EqualValues(t, 1, cur["number"])

	path := "/api/v1/consents/" + strconv.FormatInt(id, 10)
	resp, out = e.API(http.MethodPut, path, tok, `{"name":"Privacy","text":"<p>v1 </p>","label":"I %agree%.","language":"en"}`)
	require.Equal(t, 200, resp.StatusCode, out)
	require.Equal(t, false, testenv.JSON(t, out)["version_created"], "same content: no new version")

	resp, out = e.API(http.MethodPut, path, tok, `{"name":"Privacy","text":"<p>v2</p>","label":"I %agree%.","language":"en"}`)
	require.Equal(t, 200, resp.StatusCode, out)
	m = testenv.JSON(t, out)
	require.Equal(t, true, m["version_created"])
	require.EqualValues(t, 2, m["current"].(map[string]any)["number"])

	resp, out = e.API(http.MethodGet, path+"/versions", tok, "")
	require.Equal(t, 200, resp.StatusCode)
	vs := testenv.JSON(t, out)["versions"].([]any)
	require.Len(t, vs, 2)
	require.Equal(t, "<p>v2</p>", vs[0].(map[string]any)["text"])
	require.Equal(t, "<p>v1 </p>", vs[1].(map[string]any)["text"])

	resp, out = e.API(http.MethodGet, path, tok, "")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "Privacy", testenv.JSON(t, out)["name"])
	resp, out = e.API(http.MethodGet, "/api/v1/consents", tok, "")
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, testenv.JSON(t, out)["consents"], 1)

	// Validation.
	for _, tc := range []struct{ body, field string }{
		{`{"name":"","text":"<p>x</p>","label":"ok","language":"en"}`, "name"},
		{`{"name":"x","text":"<p>x</p>","label":"","language":"en"}`, "label"},
		{`{"name":"x","text":"<script>only</script>","label":"ok","language":"en"}`, "text"},
		{`{"name":"x","text":"<p>x</p>","label":"ok","language":"en","link_url":"javascript:alert(1)"}`, "link_url"},
		{`{"name":"x","text":"<p>x</p>","label":"ok","language":"en","type":"weird"}`, "type"},
		{`{"name":"x","language":"en","type":"standard"}`, "type"},
		{`{"name":"x","language":"en","type":"standard","text":"<p>mine</p>"}`, "text"},
	} {
		resp, out := e.API(http.MethodPost, "/api/v1/consents", tok, tc.body)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s: %s", tc.body, out)
		require.Contains(t, testenv.DecodeError(t, out).Error.Fields, tc.field, "%s: %s", tc.body, out)
	}
	resp, out = e.API(http.MethodPut, path, tok, `{"name":"x","text":"<p>x</p>","label":"ok","language":"en","extra":1}`)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, testenv.DecodeError(t, out).Error.Fields, "extra")

	resp, _ = e.API(http.MethodGet, "/api/v1/consents/9999", tok, "")
	require.Equal(t, 404, resp.StatusCode)
	resp, _ = e.API(http.MethodGet, "/api/v1/consents/abc/versions", tok, "")
	require.Equal(t, 404, resp.StatusCode)
}

func TestAPIUsersAndErrors(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("ci")
	resp, out := e.API(http.MethodGet, "/api/v1/users", tok, "")
	require.Equal(t, 200, resp.StatusCode)
	users := testenv.JSON(t, out)["users"].([]any)
	require.Len(t, users, 1)
	u := users[0].(map[string]any)
	require.Equal(t, testenv.AdminEmail, u["email"])
	require.NotContains(t, out, "argon2", "no password hashes")

	resp, out = e.API(http.MethodGet, "/api/v1/forms/9999", tok, "")
	require.Equal(t, 404, resp.StatusCode)
	require.Equal(t, "not_found", testenv.DecodeError(t, out).Error.Code)
	resp, _ = e.API(http.MethodGet, "/api/v1/nothing", tok, "")
	require.Equal(t, 404, resp.StatusCode)

	for _, tc := range []struct{ method, path string }{
		{http.MethodDelete, "/api/v1/forms/1"},
		{http.MethodPatch, "/api/v1/forms"},
		{http.MethodPut, "/api/v1/users"},
		{http.MethodDelete, "/api/v1/consents/1/versions"},
	} {
		resp, out := e.API(tc.method, tc.path, tok, "")
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, tc)
		require.Equal(t, "method_not_allowed", testenv.DecodeError(t, out).Error.Code)
		require.NotEmpty(t, resp.Header.Get("Allow"))
	}
}

var routeParamRE = regexp.MustCompile(`:([a-zA-Z_]+)`)

func TestOpenAPIDocumentListsEveryRoute(t *testing.T) {
	e := testenv.New(t)
	resp, out := e.API(http.MethodGet, "/api/v1/openapi.json", "", "")
	require.Equal(t, 200, resp.StatusCode, "the document needs no token")
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Servers []struct{ URL string }    `json:"servers"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Equal(t, "/api/v1", doc.Servers[0].URL)
	n := 0
	for _, r := range e.Srv.App().GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == http.MethodHead {
			continue
		}
		p := routeParamRE.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), "{$1}")
		item, ok := doc.Paths[p]
		require.True(t, ok, "path %s of %s %s is documented", p, r.Method, r.Path)
		_, ok = item[strings.ToLower(r.Method)]
		require.True(t, ok, "%s %s is documented", r.Method, r.Path)
		n++
	}
	require.GreaterOrEqual(t, n, 12)
	// And nothing is documented that does not exist.
	registered := map[string]bool{}
	for _, r := range e.Srv.App().GetRoutes(true) {
		registered[strings.ToLower(r.Method)+" "+routeParamRE.ReplaceAllString(strings.TrimPrefix(r.Path, "/api/v1"), "{$1}")] = true
	}
	for p, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			require.True(t, registered[method+" "+p], "documented %s %s is a route", method, p)
		}
	}
}
