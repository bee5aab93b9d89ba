package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeactivationEndsSessionsAndTokensAtOnce: an operator signed in and
// holding a token is deactivated by an admin; their very next page goes to
// the sign-in page, their token gets 401, and signing in again is refused.
func TestDeactivationEndsSessionsAndTokensAtOnce(t *testing.T) {
	e := newTeamEnv(t)
	e.LoginAs(e.operator.Email)
	opJar := e.Jar
	resp, _ := e.Get("/admin/conversations")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = e.API(http.MethodGet, "/api/v1/me", e.opToken, "")
	require.Equal(t, 200, resp.StatusCode)

	e.Login()
	resp, body := e.Post("/admin/users/"+strconv.FormatInt(e.operator.ID, 10)+"/deactivate", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)

	e.Jar = opJar
	resp, _ = e.Get("/admin/conversations")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/admin/login"))
	resp, body = e.API(http.MethodGet, "/api/v1/me", e.opToken, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "invalid_token")
	assert.Equal(t, "the API token has been revoked", testenv.DecodeError(t, body).Error.Message)
	resp, body = e.LoginAttempt(e.operator.Email, testenv.AdminPassword)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.Contains(t, testenv.PageError(body), "deactivated")
	assert.Empty(t, e.Jar["cf_session"])

	// Reactivated, they sign in again; the revoked token stays revoked.
	e.Login()
	resp, _ = e.Post("/admin/users/"+strconv.FormatInt(e.operator.ID, 10)+"/reactivate", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	e.LoginAs(e.operator.Email)
	resp, _ = e.API(http.MethodGet, "/api/v1/me", e.opToken, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// TestTokenOfADeactivatedUserIsRefused even when the database was changed
// behind the app's back (the user's row deactivated, the token not
// revoked): every request checks the user.
func TestTokenOfADeactivatedUserIsRefused(t *testing.T) {
	e := newTeamEnv(t)
	raw := e.Raw()
	_, err := raw.Exec("UPDATE users SET deactivated_at = '2026-01-01T00:00:00.000000000Z' WHERE id = $1", e.operator.ID)
	require.NoError(t, err)
	resp, body := e.API(http.MethodGet, "/api/v1/me", e.opToken, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "the API token's user is deactivated", testenv.DecodeError(t, body).Error.Message)
}

// TestTokenScopeExpiryAndRevocation: a read-only token reads and is refused
// every change with 403; an expired token and a revoked one get 401 from
// the next request on; last use is recorded.
func TestTokenScopeExpiryAndRevocation(t *testing.T) {
	e := testenv.New(t)
	ctx := t.Context()
	reader := e.TokenOf(e.Admin, "reader", formbuilder.ScopeRead)
	resp, _ := e.API(http.MethodGet, "/api/v1/forms", reader, "")
	assert.Equal(t, 200, resp.StatusCode)
	for _, call := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/forms", `{"name":"x","language":"en"}`},
		{http.MethodPut, "/api/v1/me", `{"name":"x"}`},
		{http.MethodPost, "/api/v1/tokens", `{"name":"escalate","scope":"write"}`},
	} {
		resp, body := e.API(call.method, call.path, reader, call.body)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, call.path)
		assert.Contains(t, testenv.DecodeError(t, body).Error.Message, "read-only", call.path)
	}
	assert.Zero(t, e.Count("forms"), "a refused change stores nothing")
	assert.Empty(t, e.Audit())

	plain, hash := formbuilder.NewAPIToken()
	tok := &formbuilder.APIToken{Name: "short", Hash: hash, UserID: e.Admin.ID, ExpiresAt: testenv.Start.Add(time.Hour)}
	require.NoError(t, e.DB.CreateToken(ctx, tok))
	resp, _ = e.API(http.MethodGet, "/api/v1/me", plain, "")
	require.Equal(t, 200, resp.StatusCode)
	used, err := e.DB.FindTokenByID(ctx, tok.ID)
	require.NoError(t, err)
	assert.Equal(t, testenv.Start, used.LastUsed)
	e.Clock.Add(time.Hour)
	resp, body := e.API(http.MethodGet, "/api/v1/me", plain, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "the API token has expired", testenv.DecodeError(t, body).Error.Message)

	writer := e.APIToken("writer")
	resp, body = e.API(http.MethodGet, "/api/v1/tokens", writer, "")
	require.Equal(t, 200, resp.StatusCode)
	var list struct {
		Tokens []struct {
			ID     int64  `json:"id"`
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"tokens"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.Tokens, 3)
	assert.Equal(t, "expired", list.Tokens[1].Status)
	resp, _ = e.API(http.MethodPost, "/api/v1/tokens/"+strconv.FormatInt(list.Tokens[0].ID, 10)+"/revoke", writer, "")
	require.Equal(t, 200, resp.StatusCode)
	resp, body = e.API(http.MethodGet, "/api/v1/forms", reader, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, "the API token has been revoked", testenv.DecodeError(t, body).Error.Message)
}

// TestTokensInTheAdmin: a token made in the admin is shown once, works
// with its scope and owner, shows its last use, and is refused from the
// request after its revocation.
func TestTokensInTheAdmin(t *testing.T) {
	e := newTeamEnv(t)
	e.Login()
	resp, page := e.Get("/admin/tokens")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, `<option value="2">otto@example.com (operator)</option>`)

	resp, page = e.Post("/admin/tokens", url.Values{"name": {""}, "scope": {"write"}, "user_id": {"2"}, "expires_at": {"2001-01-01"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, "is required", testenv.FieldError(page, "token-name"))
	assert.Equal(t, "must be in the future", testenv.FieldError(page, "token-expires_at"))

	resp, page = e.Post("/admin/tokens", url.Values{"name": {"Otto's CRM sync"}, "scope": {"write"}, "user_id": {"2"}, "expires_at": {"30"}})
	require.Equal(t, http.StatusCreated, resp.StatusCode, page)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	plain := testenv.Find(t, page, `id="secret-value" class="code" value="(cf_[a-z2-7]+)"`)
	assert.True(t, formbuilder.ValidAPIToken(plain))
	assert.Contains(t, page, "otto@example.com")
	resp, page = e.Get("/admin/tokens")
	require.Equal(t, 200, resp.StatusCode)
	assert.NotContains(t, page, plain, "shown once, never again")
	id := testenv.Find(t, page, `<tr id="token-(\d+)">\s*<td class="token-name">Otto&#39;s CRM sync</td>`)

	// It acts as the operator: their inbox yes, consents no.
	resp, _ = e.API(http.MethodGet, "/api/v1/forms/1/submissions", plain, "")
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = e.API(http.MethodGet, "/api/v1/consents", plain, "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, page = e.Get("/admin/tokens")
	require.Equal(t, 200, resp.StatusCode)
	row := testenv.Find(t, page, `(?s)<tr id="token-`+id+`">(.*?)</tr>`)
	assert.Contains(t, row, `<td class="token-used">2026-05-04 10:00 UTC</td>`)
	assert.Contains(t, row, "read and write")

	resp, _ = e.Post("/admin/tokens/"+id+"/revoke", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.API(http.MethodGet, "/api/v1/forms/1/submissions", plain, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, page = e.Get("/admin/tokens")
	require.Equal(t, 200, resp.StatusCode)
	row = testenv.Find(t, page, `(?s)<tr id="token-`+id+`" class="archived">(.*?)</tr>`)
	assert.Contains(t, row, `<span class="badge">revoked</span>`)
	assert.NotContains(t, row, "Revoke")
	evs := e.Audit()
	assert.Equal(t, "revoke", evs[0].Action)
	assert.Equal(t, "create", evs[1].Action)
	assert.Equal(t, "otto@example.com", evs[1].Details["user"])
}

// TestOperatorSeesOnlyTheirOwn: an operator's lists hold their forms and
// conversations only; another form's inbox, submission or conversation is
// "not found" to them, in the admin and in the API; deliveries (webhook
// URLs) stay with admins.
func TestOperatorSeesOnlyTheirOwn(t *testing.T) {
	e := newTeamEnv(t)
	e.LoginAs(e.operator.Email)
	resp, page := e.Get("/admin/forms")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, `href="/admin/forms/1/submissions" class="form-name">Mine</a>`)
	assert.NotContains(t, page, "Theirs")
	assert.NotContains(t, page, `id="new-form"`)
	assert.NotContains(t, page, `id="nav-consents"`, "the menu shows what the role may open")
	assert.Contains(t, page, `id="nav-chat"`)

	mine, theirs := "/admin/forms/"+strconv.FormatInt(e.mine.ID, 10), "/admin/forms/"+strconv.FormatInt(e.theirs.ID, 10)
	resp, page = e.Get(mine + "/submissions/" + strconv.FormatInt(e.mySub.ID, 10))
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, "visitor@example.com")
	assert.NotContains(t, page, "hooks.example.com", "no deliveries for operators")
	assert.NotContains(t, page, `href="/admin/log/`)
	for _, p := range []string{theirs + "/submissions", theirs + "/submissions/" + strconv.FormatInt(e.theirSub.ID, 10),
		theirs + "/submissions/export.csv", mine + "/submissions/" + strconv.FormatInt(e.theirSub.ID, 10),
		"/admin/conversations/" + strconv.FormatInt(e.theirConv.ID, 10)} {
		resp, page := e.Get(p)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		assert.NotContains(t, page, "visitor@example.com", p)
	}
	resp, page = e.Get("/admin/conversations")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, `href="/admin/conversations/`+strconv.FormatInt(e.myConv.ID, 10)+`"`)
	assert.NotContains(t, page, `href="/admin/conversations/`+strconv.FormatInt(e.theirConv.ID, 10)+`"`)
	assert.NotContains(t, page, "Support chat", "the channel filter offers their channels")
	resp, _ = e.Post("/admin/conversations/"+strconv.FormatInt(e.theirConv.ID, 10)+"/reply", url.Values{"text": {"hi"}})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The API, with the operator's token.
	resp, body := e.API(http.MethodGet, "/api/v1/forms", e.opToken, "")
	require.Equal(t, 200, resp.StatusCode)
	var forms struct{ Forms []*formbuilder.Form }
	require.NoError(t, json.Unmarshal([]byte(body), &forms))
	require.Len(t, forms.Forms, 1)
	assert.Equal(t, e.mine.ID, forms.Forms[0].ID)
	resp, body = e.API(http.MethodGet, "/api/v1/submissions/"+strconv.FormatInt(e.mySub.ID, 10), e.opToken, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, `"deliveries":[]`)
	for _, p := range []string{"/api/v1/submissions/" + strconv.FormatInt(e.theirSub.ID, 10),
		"/api/v1/forms/" + strconv.FormatInt(e.theirs.ID, 10) + "/submissions",
		"/api/v1/conversations/" + strconv.FormatInt(e.theirConv.ID, 10)} {
		resp, body := e.API(http.MethodGet, p, e.opToken, "")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		assert.NotContains(t, body, "visitor@example.com", p)
	}
	resp, body = e.API(http.MethodGet, "/api/v1/conversations", e.opToken, "")
	require.Equal(t, 200, resp.StatusCode)
	var convs struct{ Conversations []*formbuilder.Conversation }
	require.NoError(t, json.Unmarshal([]byte(body), &convs))
	require.Len(t, convs.Conversations, 1)
	assert.Equal(t, e.myConv.ID, convs.Conversations[0].ID)

	// A reply through the API is the token's user's.
	resp, body = e.API(http.MethodPost, "/api/v1/conversations/"+strconv.FormatInt(e.myConv.ID, 10)+"/messages", e.opToken,
		`{"text":"Otto here"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	var m formbuilder.Message
	require.NoError(t, json.Unmarshal([]byte(body), &m))
	assert.Equal(t, e.operator.ID, m.UserID)
	// Assigned to the operator, another channel's conversation is theirs too.
	require.NoError(t, e.DB.AssignConversation(t.Context(), e.theirConv.ID, e.operator.ID))
	resp, _ = e.API(http.MethodGet, "/api/v1/conversations/"+strconv.FormatInt(e.theirConv.ID, 10), e.opToken, "")
	assert.Equal(t, 200, resp.StatusCode)
}

// TestPeopleInTheAdmin: adding a person shows a one-time password that
// signs them in; name and role change; a password reset ends their
// sessions; nobody deactivates themselves, and the last admin stays one.
func TestPeopleInTheAdmin(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	resp, page := e.Post("/admin/users", url.Values{"email": {"not an address"}, "role": {"operator"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, "is not a valid e-mail address", testenv.FieldError(page, "email"))
	resp, page = e.Post("/admin/users", url.Values{"email": {testenv.AdminEmail}, "role": {"operator"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, "is taken", testenv.FieldError(page, "email"))
	resp, page = e.Post("/admin/users", url.Values{"email": {"olga@example.com"}, "name": {"Olga"}, "role": {"superuser"}})
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, "choose admin or operator", testenv.FieldError(page, "role"))
	assert.Equal(t, 1, e.Count("users"), "nothing stored")

	resp, page = e.Post("/admin/users", url.Values{"email": {"olga@example.com"}, "name": {"Olga"}, "role": {"operator"}})
	require.Equal(t, http.StatusCreated, resp.StatusCode, page)
	pw := testenv.Find(t, page, `id="secret-value" class="code" value="([^"]+)"`)
	adminJar := e.Jar
	e.Jar = map[string]string{}
	resp, _ = e.LoginAttempt("olga@example.com", pw)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the one-time password signs in")
	olgaJar := e.Jar
	resp, page = e.Get("/admin/account")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, "Operator: the chat")

	e.Jar = adminJar
	olga, err := e.DB.FindUserByEmail(t.Context(), "olga@example.com")
	require.NoError(t, err)
	path := "/admin/users/" + strconv.FormatInt(olga.ID, 10)
	resp, _ = e.Post(path, url.Values{"name": {"Olga Admin"}, "role": {"admin"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	ev := e.Audit()[0]
	assert.Equal(t, "operator", ev.Details["old_role"])
	assert.Equal(t, "admin", ev.Details["new_role"])
	resp, page = e.Post(path+"/password", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	newPW := testenv.Find(t, page, `id="secret-value" class="code" value="([^"]+)"`)
	assert.NotEqual(t, pw, newPW)
	e.Jar = olgaJar
	resp, _ = e.Get("/admin/account")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a reset ends their sessions")

	e.Jar = adminJar
	resp, page = e.Post("/admin/users/"+strconv.FormatInt(e.Admin.ID, 10)+"/deactivate", nil)
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Contains(t, page, "You cannot deactivate your own account")
	resp, _ = e.Post(path+"/deactivate", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, page = e.Post("/admin/users/"+strconv.FormatInt(e.Admin.ID, 10), url.Values{"name": {"Ada"}, "role": {"operator"}})
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Equal(t, "the last active admin must stay an admin", testenv.FieldError(page, "role"))
	resp, page = e.Get("/admin/users")
	require.Equal(t, 200, resp.StatusCode)
	row := testenv.Find(t, page, `(?s)<tr id="user-`+strconv.FormatInt(olga.ID, 10)+`" class="archived">(.*?)</tr>`)
	assert.Contains(t, row, "deactivated")
}

// TestOwnAccount: everyone changes their own name and password; the
// current password is needed, and a change ends every other session.
func TestOwnAccount(t *testing.T) {
	e := newTeamEnv(t)
	e.LoginAs(e.operator.Email)
	other := e.Jar
	e.LoginAs(e.operator.Email)
	resp, _ := e.Post("/admin/account", url.Values{"name": {"Otto the Operator"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, page := e.Get("/admin/account?msg=account-saved")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, page, `value="Otto the Operator"`)

	for _, bad := range []struct {
		vals  url.Values
		field string
	}{
		{url.Values{"current_password": {"wrong"}, "new_password": {"a long new password"}, "new_password2": {"a long new password"}}, "current_password"},
		{url.Values{"current_password": {testenv.AdminPassword}, "new_password": {"short"}, "new_password2": {"short"}}, "new_password"},
		{url.Values{"current_password": {testenv.AdminPassword}, "new_password": {"a long new password"}, "new_password2": {"a long other one"}}, "new_password2"},
	} {
		resp, page := e.Post("/admin/account/password", bad.vals)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		assert.NotEmpty(t, testenv.FieldError(page, bad.field), bad.field)
	}
	resp, _ = e.Post("/admin/account/password", url.Values{"current_password": {testenv.AdminPassword},
		"new_password": {"a long new password"}, "new_password2": {"a long new password"}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.Get("/admin/conversations")
	assert.Equal(t, 200, resp.StatusCode, "this session goes on")
	mine := e.Jar
	e.Jar = other
	resp, _ = e.Get("/admin/conversations")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "the other one ended")
	e.Jar = map[string]string{}
	resp, _ = e.LoginAttempt(e.operator.Email, "a long new password")
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	e.Jar = mine
	assert.Equal(t, "change_password", e.Audit()[0].Action)
}

// TestPeopleAndTokensThroughTheAPI: /me, users and tokens as the API has
// them; generated secrets are answered once.
func TestPeopleAndTokensThroughTheAPI(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("admin")
	resp, body := e.API(http.MethodGet, "/api/v1/me", tok, "")
	require.Equal(t, 200, resp.StatusCode)
	me := testenv.JSON(t, body)
	assert.Equal(t, testenv.AdminEmail, me["user"].(map[string]any)["email"])
	assert.Equal(t, "admin", me["user"].(map[string]any)["role"])
	assert.NotContains(t, body, "password_hash")

	resp, body = e.API(http.MethodPost, "/api/v1/users", tok, `{"email":"otto@example.com","name":"Otto","role":"operator"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	created := testenv.JSON(t, body)
	pw, _ := created["password"].(string)
	assert.Len(t, pw, 16)
	id := strconv.FormatInt(int64(created["id"].(float64)), 10)
	resp, body = e.API(http.MethodPost, "/api/v1/users", tok, `{"email":"x@example.com","role":"root"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, testenv.DecodeError(t, body).Error.Fields, "role")
	resp, body = e.API(http.MethodPut, "/api/v1/users/"+id, tok, `{"email":"new@example.com","role":"operator"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, testenv.DecodeError(t, body).Error.Fields, "email")

	resp, body = e.API(http.MethodPost, "/api/v1/tokens", tok, `{"name":"otto bot","user_id":`+id+`,"expires_at":"2026-06-01T00:00:00Z"}`)
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	nt := testenv.JSON(t, body)
	assert.Equal(t, "read", nt["scope"], "read-only unless asked")
	assert.Equal(t, "otto@example.com", nt["user_email"])
	otto, _ := nt["token"].(string)
	require.True(t, formbuilder.ValidAPIToken(otto))
	resp, _ = e.API(http.MethodGet, "/api/v1/users", otto, "")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "an operator's token lists no users")
	resp, body = e.API(http.MethodGet, "/api/v1/tokens", tok, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.NotContains(t, body, otto, "listed, never shown again")
	resp, body = e.API(http.MethodPost, "/api/v1/tokens", tok, `{"name":"late","expires_at":"2020-01-01T00:00:00Z"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, testenv.DecodeError(t, body).Error.Fields, "expires_at")

	resp, body = e.API(http.MethodPost, "/api/v1/me/password", tok, `{"current_password":"nope","new_password":"a long new password"}`)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, testenv.DecodeError(t, body).Error.Fields, "current_password")
	resp, body = e.API(http.MethodPost, "/api/v1/users/1/deactivate", tok, "")
	assert.Equal(t, http.StatusConflict, resp.StatusCode, body)
	resp, body = e.API(http.MethodPost, "/api/v1/users/"+id+"/deactivate", tok, "")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.NotEmpty(t, testenv.JSON(t, body)["deactivated_at"])
	resp, _ = e.API(http.MethodGet, "/api/v1/me", otto, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, body = e.API(http.MethodPut, "/api/v1/users/1", tok, `{"role":"operator"}`)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, body)
}
