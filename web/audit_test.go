package web_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditCall is a request that makes a state-changing route succeed: a
// form post of the admin UI (Form) or a JSON body of the API (JSON).
type auditCall struct {
	Path string
	Form url.Values
	JSON string
}

// unaudited are the state-changing routes that record nothing, and why.
var unaudited = map[string]string{
	"POST /admin/logout":                 "ends a session; nothing staff manage changes",
	"POST /admin/consents/preview":       "renders unsaved text; nothing is stored",
	"POST /admin/conversations/:id/read": "marks messages read for the page in view",
	"POST /admin/login":                  "signing in (a public route)",
	"POST /f/:key":                       "visitors",
	"POST /w/:token":                     "visitors",
	"POST /confirm/:token":               "visitors (the confirmation is an entry of the consent log)",
	"POST /my-consents":                  "visitors",
	"POST /my-consents/:token":           "visitors (a withdrawal is an entry of the consent log)",
	"POST /c/:key/messages":              "visitors",
	"POST /c/:key/consent":               "visitors",
	"POST /c/:key/consent/reopen":        "visitors",
	"OPTIONS /f/:key":                    "CORS preflight",
}

// auditCalls returns a successful request for every state-changing staff
// route of e, in the order the app registers them (admin, then API), as
// each depends on the ones before (a field added before it is moved, a
// user deactivated before reactivated).
func auditCalls(e *teamEnv, extra, standard *formbuilder.Consent) map[string]auditCall {
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	f, op := "/admin/forms/"+id(e.mine.ID), id(e.operator.ID)
	return map[string]auditCall{
		"POST /admin/account":                        {"/admin/account", form("name", "Ada Lovelace"), ""},
		"POST /admin/account/language":               {"/admin/account/language", form("language", "de", "next", "/admin/forms"), ""},
		"POST /admin/account/password":               {"/admin/account/password", form("current_password", testenv.AdminPassword, "new_password", "second horse battery", "new_password2", "second horse battery"), ""},
		"POST /admin/forms":                          {"/admin/forms", form("name", "Newsletter", "language", "en"), ""},
		"POST /admin/forms/:id":                      {f, form("name", "Mine, renamed", "language", "de", "responsible_user_id", op), ""},
		"POST /admin/forms/:id/archive":              {f + "/archive", form("archived", "0"), ""},
		"POST /admin/forms/:id/fields":               {f + "/fields", form("label", "Your name", "kind", "text"), ""},
		"POST /admin/forms/:id/fields/:idx":          {f + "/fields/2", form("label", "Full name", "kind", "text", "key", "full_name"), ""},
		"POST /admin/forms/:id/fields/:idx/move":     {f + "/fields/1/move", form("dir", "down"), ""},
		"POST /admin/forms/:id/fields/:idx/delete":   {f + "/fields/1/delete", nil, ""},
		"POST /admin/forms/:id/consents":             {f + "/consents", form("consent_id", id(extra.ID), "required", "1"), ""},
		"POST /admin/forms/:id/consents/:cid":        {f + "/consents/" + id(extra.ID), form("required", "1"), ""},
		"POST /admin/forms/:id/consents/:cid/move":   {f + "/consents/" + id(extra.ID) + "/move", form("dir", "up"), ""},
		"POST /admin/forms/:id/consents/:cid/delete": {f + "/consents/" + id(extra.ID) + "/delete", nil, ""},
		"POST /admin/forms/:id/webhooks":             {f + "/webhooks", form("url", "https://crm.example.com/hook?key=s3cret"), ""},
		"POST /admin/forms/:id/webhooks/:n/delete":   {f + "/webhooks/1/delete", nil, ""},
		"POST /admin/forms/:id/webhooks/:n/secret":   {f + "/webhooks/1/secret", nil, ""},
		"POST /admin/forms/:id/webhooks/:n/test":     {f + "/webhooks/1/test", nil, ""},
		"POST /admin/forms/:id/emails":               {f + "/emails", form("email", "sales@example.com"), ""},
		"POST /admin/forms/:id/emails/:n/delete":     {f + "/emails/1/delete", nil, ""},
		"POST /admin/forms/:id/emails/:n/test":       {f + "/emails/1/test", nil, ""},
		"POST /admin/consents":                       {"/admin/consents", form("name", "Marketing", "type", "custom", "text", "<p>Mails.</p>", "label", "I want %mails%.", "language", "en"), ""},
		"POST /admin/consents/:id/update-standard":   {"/admin/consents/" + id(standard.ID) + "/update-standard", nil, ""},
		"POST /admin/consents/:id":                   {"/admin/consents/" + id(e.consent.ID), form("name", "Privacy", "type", "custom", "text", "<p>We process your data, v2.</p>", "label", "I agree to the %privacy terms%.", "language", "en"), ""},
		"POST /admin/channels":                       {"/admin/channels", form("name", "Press chat", "language", "en"), ""},
		"POST /admin/channels/:id":                   {"/admin/channels/" + id(e.myChan.ID), form("name", "Sales chat", "language", "de", "responsible_id", op), ""},
		"POST /admin/conversations/:id/reply":        {"/admin/conversations/" + id(e.myConv.ID) + "/reply", form("text", "Hello from the admin"), ""},
		"POST /admin/conversations/:id/assign":       {"/admin/conversations/" + id(e.myConv.ID) + "/assign", form("assigned_user_id", op), ""},
		"POST /admin/settings":                       {"/admin/settings", form("ip_mode", "truncated"), ""},
		"POST /admin/users":                          {"/admin/users", form("email", "olga@example.com", "role", "operator"), ""},
		"POST /admin/users/:id":                      {"/admin/users/" + op, form("name", "Otto O.", "role", "operator"), ""},
		"POST /admin/users/:id/password":             {"/admin/users/" + op + "/password", nil, ""},
		"POST /admin/users/:id/deactivate":           {"/admin/users/" + op + "/deactivate", nil, ""},
		"POST /admin/users/:id/reactivate":           {"/admin/users/" + op + "/reactivate", nil, ""},
		"POST /admin/tokens":                         {"/admin/tokens", form("name", "CRM import", "user_id", id(e.Admin.ID), "scope", "read", "expires_at", "30"), ""},
		"POST /admin/tokens/:id/revoke":              {"/admin/tokens/1/revoke", nil, ""},
		"POST /api/v1/forms":                         {"/api/v1/forms", nil, `{"name":"API form","language":"en"}`},
		"PUT /api/v1/forms/:id":                      {"/api/v1/forms/" + id(e.theirs.ID), nil, `{"name":"Theirs, renamed","language":"en"}`},
		"POST /api/v1/forms/:id/archive":             {"/api/v1/forms/" + id(e.theirs.ID) + "/archive", nil, `{"archived":false}`},
		"POST /api/v1/consents":                      {"/api/v1/consents", nil, `{"name":"API consent","text":"<p>t</p>","label":"ok","language":"en"}`},
		"PUT /api/v1/consents/:id":                   {"/api/v1/consents/" + id(e.consent.ID), nil, `{"name":"Privacy","text":"<p>We process your data, v3.</p>","label":"I agree to the %privacy terms%.","language":"en"}`},
		"PUT /api/v1/me":                             {"/api/v1/me", nil, `{"name":"Ada (API)","language":"en"}`},
		"POST /api/v1/me/password":                   {"/api/v1/me/password", nil, `{"current_password":"second horse battery","new_password":"third horse battery"}`},
		"POST /api/v1/users":                         {"/api/v1/users", nil, `{"email":"paul@example.com","role":"operator"}`},
		"PUT /api/v1/users/:id":                      {"/api/v1/users/" + op, nil, `{"name":"Otto","role":"operator"}`},
		"POST /api/v1/users/:id/password":            {"/api/v1/users/" + op + "/password", nil, ""},
		"POST /api/v1/users/:id/deactivate":          {"/api/v1/users/" + op + "/deactivate", nil, ""},
		"POST /api/v1/users/:id/reactivate":          {"/api/v1/users/" + op + "/reactivate", nil, ""},
		"POST /api/v1/tokens":                        {"/api/v1/tokens", nil, `{"name":"deploy","scope":"write"}`},
		"POST /api/v1/tokens/:id/revoke":             {"/api/v1/tokens/2/revoke", nil, ""},
		"POST /api/v1/channels":                      {"/api/v1/channels", nil, `{"name":"API chat","language":"en"}`},
		"PUT /api/v1/channels/:id":                   {"/api/v1/channels/" + id(e.theirChan.ID), nil, `{"name":"Support chat","language":"en","operator_ids":[1]}`},
		"POST /api/v1/conversations/:id/messages":    {"/api/v1/conversations/" + id(e.theirConv.ID) + "/messages", nil, `{"text":"Hello from the API"}`},
	}
}

// TestEveryChangeIsAudited walks every state-changing route of the admin UI
// and the API, makes each succeed, and checks that it appended an entry of
// its own kind (not the generic fallback) naming who, through what, from
// which address. A new write route without a request here fails the test,
// so none can be added without its audit entry being looked at.
func TestEveryChangeIsAudited(t *testing.T) {
	e := newTeamEnv(t)
	extra := e.SeedConsent("Newsletter", "<p>News.</p>", "Send me %news%.")
	// A standard consent made with older company data, for update-standard.
	standard := &formbuilder.Consent{Name: "Standard", Type: formbuilder.ConsentStandard}
	old := formbuilder.StandardContent("en", formbuilder.CompanyData{Name: "Old GmbH", Purposes: "answering"})
	old.Sanitize()
	require.NoError(t, e.DB.CreateConsent(t.Context(), standard, old, "seed"))
	e.IP = "198.51.100.23"
	e.Login()
	resp, body := e.Post("/admin/settings", url.Values{"company.name": {"New GmbH"}, "company.purposes": {"answering"},
		"ip_mode": {"full"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	adminToken := e.APIToken("admin script")
	calls := auditCalls(e, extra, standard)
	seen := map[string]bool{}
	walked := 0
	for _, r := range e.App().GetRoutes(true) {
		key := r.Method + " " + r.Path
		if seen[key] || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == "CONNECT" || r.Method == "TRACE" {
			continue
		}
		seen[key] = true
		if _, skip := unaudited[key]; skip {
			continue
		}
		call, ok := calls[key]
		require.True(t, ok, "%s changes state: add a successful request to auditCalls (or a reason to unaudited)", key)
		before := len(e.Audit())
		var resp *http.Response
		var body string
		via := formbuilder.ViaAdmin
		if strings.HasPrefix(r.Path, "/api/") {
			via = formbuilder.ViaAPI
			req := testenv.Request(r.Method, call.Path, strings.NewReader(call.JSON), "Authorization", "Bearer "+adminToken,
				"X-Forwarded-For", e.IP)
			if call.JSON != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp = e.Do(req)
			body = testenv.ReadBody(t, resp)
		} else {
			resp, body = e.Post(call.Path, call.Form)
		}
		require.Less(t, resp.StatusCode, 400, "%s succeeds: %.400s", key, body)
		evs := e.Audit()
		require.Greater(t, len(evs), before, "%s appended to the audit trail", key)
		ev := evs[0]
		assert.NotEqual(t, formbuilder.AuditOther, ev.Target, "%s describes its change (backoffice.Note)", key)
		assert.Equal(t, e.Admin.ID, ev.UserID, key)
		assert.Equal(t, testenv.AdminEmail, ev.Actor, key)
		assert.Equal(t, via, ev.Via, key)
		assert.Equal(t, e.IP, ev.IP, key)
		if via == formbuilder.ViaAPI {
			assert.NotZero(t, ev.TokenID, "%s names the token", key)
		}
		for _, x := range evs[:len(evs)-before] {
			for k, v := range x.Details {
				assert.NotContains(t, v, "s3cret", "%s: detail %s leaks the webhook's secret path", key, k)
				assert.NotContains(t, v, "cf_", "%s: detail %s looks like a token", key, k)
			}
		}
		walked++
	}
	for key := range calls {
		assert.True(t, seen[key], "auditCalls has %s, which is no route", key)
	}
	assert.Equal(t, len(calls), walked)
	t.Logf("%d state-changing routes walked, %d audit entries", walked, len(e.Audit()))
}

// TestAuditRecordsConsentEditWithVersions: a consent edit in the admin UI
// appends an entry with the old and new version numbers; the page shows
// it; a direct UPDATE of the table is refused by the database.
func TestAuditRecordsConsentEditWithVersions(t *testing.T) {
	e := testenv.New(t)
	co := e.SeedConsent("Privacy", "<p>Version one.</p>", "I agree to the %terms%.")
	e.IP = "2001:db8::7"
	e.Login()
	path := "/admin/consents/" + strconv.FormatInt(co.ID, 10)
	for i, text := range []string{"<p>Version two.</p>", "<p>Version three.</p>"} {
		resp, body := e.Post(path, url.Values{"name": {"Privacy"}, "type": {"custom"}, "text": {text},
			"label": {"I agree to the %terms%."}, "language": {"en"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		ev := e.Audit()[0]
		assert.Equal(t, formbuilder.AuditConsent, ev.Target)
		assert.Equal(t, "update", ev.Action)
		assert.Equal(t, co.ID, ev.TargetID)
		assert.Equal(t, strconv.Itoa(i+1), ev.Details["old_version"])
		assert.Equal(t, strconv.Itoa(i+2), ev.Details["new_version"])
		assert.Equal(t, "2001:db8::7", ev.IP)
	}
	// Saving the same text makes no version: old and new are equal.
	resp, _ := e.Post(path, url.Values{"name": {"Privacy (renamed)"}, "type": {"custom"}, "text": {"<p>Version three.</p>"},
		"label": {"I agree to the %terms%."}, "language": {"en"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	ev := e.Audit()[0]
	assert.Equal(t, "3", ev.Details["old_version"])
	assert.Equal(t, "3", ev.Details["new_version"])
	assert.Equal(t, "Privacy (renamed)", ev.TargetName)

	resp, page := e.Get("/admin/audit?target=consent")
	require.Equal(t, 200, resp.StatusCode)
	row := testenv.Find(t, page, `(?s)<tr id="audit-`+strconv.FormatInt(e.Audit()[1].ID, 10)+`">(.*?)</tr>`)
	assert.Contains(t, row, "ada@example.com")
	assert.Contains(t, row, "Consent: update")
	assert.Contains(t, row, "new version: 3")
	assert.Contains(t, row, "old version: 2")
	assert.Contains(t, row, "2001:db8::7")

	raw := e.Raw()
	_, err := raw.Exec(`UPDATE audit_events SET details = '{"old_version":"1","new_version":"1"}'`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "audit trail is append-only")
	_, err = raw.Exec(`DELETE FROM audit_events`)
	require.Error(t, err)
	assert.Len(t, e.Audit(), 3)
}

// TestAuditPageFiltersPagesAndExports: who, what and dates filter the
// list; keyset pages walk it both ways; the downloads carry the filter's
// entries, oldest first; a bad filter is a 422 naming the input.
func TestAuditPageFiltersPagesAndExports(t *testing.T) {
	e := newTeamEnv(t)
	ctx := t.Context()
	add := func(u *formbuilder.User, target, action string, n int) {
		for i := range n {
			require.NoError(t, e.DB.AppendAudit(ctx, &formbuilder.AuditEvent{UserID: u.ID, Actor: u.Email,
				Via: formbuilder.ViaAdmin, IP: "192.0.2.1", Target: target, Action: action, TargetID: int64(i + 1),
				TargetName: fmt.Sprintf("%s %d", target, i+1)}))
		}
	}
	add(e.Admin, formbuilder.AuditForm, "update", 60)
	add(e.operator, formbuilder.AuditConversation, "reply", 5)
	e.Clock.Add(48 * 60 * 60 * 1e9)
	add(e.Admin, formbuilder.AuditSettings, "update", 1)
	e.Login()

	rowRE := regexp.MustCompile(`<tr id="audit-(\d+)">`)
	ids := func(page string) []string {
		var out []string
		for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
			out = append(out, m[1])
		}
		return out
	}
	resp, page := e.Get("/admin/audit")
	require.Equal(t, 200, resp.StatusCode)
	first := ids(page)
	require.Len(t, first, formbuilder.DefaultPageSize)
	assert.Equal(t, "66", first[0], "newest first")
	olderURL := testenv.Find(t, page, `<a href="([^"]+)" id="page-older"`)
	resp, page = e.Get(html.UnescapeString(olderURL))
	require.Equal(t, 200, resp.StatusCode)
	second := ids(page)
	assert.Len(t, second, 16)
	assert.Equal(t, "16", second[0])
	newerURL := testenv.Find(t, page, `<a href="([^"]+)" id="page-newer"`)
	resp, page = e.Get(html.UnescapeString(newerURL))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, first, ids(page), "back to the first page")

	resp, page = e.Get("/admin/audit?user_id=" + strconv.FormatInt(e.operator.ID, 10))
	require.Equal(t, 200, resp.StatusCode)
	assert.Len(t, ids(page), 5)
	assert.Contains(t, page, "otto@example.com")
	resp, page = e.Get("/admin/audit?target=settings")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, []string{"66"}, ids(page))
	day := testenv.Start.Format("2006-01-02")
	resp, page = e.Get("/admin/audit?since=" + day + "&until=" + day)
	require.Equal(t, 200, resp.StatusCode)
	assert.NotContains(t, ids(page), "66", "the later day is outside")

	resp, page = e.Get("/admin/audit?target=planet&since=yesterday")
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, "is not a kind of change", testenv.FieldError(page, "audit-target"))
	assert.NotEmpty(t, testenv.FieldError(page, "audit-since"))

	resp, body := e.Get("/admin/audit/export.csv?user_id=" + strconv.FormatInt(e.operator.ID, 10))
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Disposition"), "audit-trail-")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 6)
	assert.Equal(t, formbuilder.AuditCSVColumns, rows[0])
	assert.Equal(t, "61", rows[1][0], "oldest first")
	assert.Equal(t, "conversation", rows[1][7])

	resp, body = e.Get("/admin/audit/export.ndjson?target=settings")
	require.Equal(t, 200, resp.StatusCode)
	lines := strings.Split(strings.TrimSpace(body), "\n")
	require.Len(t, lines, 1)
	var ev formbuilder.AuditEvent
	require.NoError(t, json.NewDecoder(bytes.NewReader([]byte(lines[0]))).Decode(&ev))
	assert.Equal(t, formbuilder.AuditSettings, ev.Target)

	resp, _ = e.Get("/admin/audit/export.csv?target=planet")
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
}
