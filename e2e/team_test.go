package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// The people of the team tests and their password.
const (
	teamAdmin    = "ada@example.com"
	teamOperator = "otto@example.com"
	teamPassword = "correct horse battery staple 17"
)

// teamApp is the server on a fresh database with an admin, an operator,
// a consent and a form the operator is responsible for.
type teamApp struct {
	db       *sqlite.DB
	base     string
	operator *formbuilder.User
	form     *formbuilder.Form
}

// newTeamApp serves on ip, a loopback address of the test's own: the shared
// browser keeps cookies per host, not per port, so tests that sign in at
// once on one address would sign each other out.
func newTeamApp(t *testing.T, ip string) *teamApp {
	t.Helper()
	ctx := context.Background()
	a := &teamApp{}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	require.NoError(t, err)
	a.db = db
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	hash, err := password.Hash(teamPassword)
	require.NoError(t, err)
	require.NoError(t, db.CreateUser(ctx, &formbuilder.User{Email: teamAdmin, Name: "Ada Admin", PasswordHash: hash,
		Role: formbuilder.RoleAdmin}))
	a.operator = &formbuilder.User{Email: teamOperator, Name: "Otto Operator", PasswordHash: hash, Role: formbuilder.RoleOperator}
	require.NoError(t, db.CreateUser(ctx, a.operator))
	co := &formbuilder.Consent{Name: "Datenschutz", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Language: "de", Label: "Ich stimme der %Verarbeitung% zu.", Text: "<p>Wir verarbeiten Ihre Angaben.</p>"}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, co, content, "e2e"))
	a.form = &formbuilder.Form{Name: "Kontakt (Otto)", Language: "de", ResponsibleUserID: a.operator.ID,
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: co.ID, CheckedByDefault: false, Required: true}}}
	require.NoError(t, db.CreateForm(ctx, a.form))

	a.base = serveApp(t, ip, web.Config{}, web.Services{Forms: db, Consents: db, Submissions: db, Log: db, Users: db,
		Sessions: db, Tokens: db, Settings: db, Chat: db, Inbox: db, Outbox: db, Audit: db, Changes: db})
	return a
}

// signIn signs email in through the sign-in page of tab v.
func (a *teamApp) signIn(v *view, email string) {
	v.t.Helper()
	v.navigate(a.base+"/admin/login", 200)
	v.do(
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), teamPassword),
	)
	adminSubmit(v, "#sign-in")
	require.Equal(v.t, "/admin/forms", adminLocation(v))
}

// apiStatus calls the API with token as a script would and returns the
// status.
func (a *teamApp) apiStatus(t *testing.T, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestOperatorRefusedOnConsents: an operator signs in and sees a menu of
// what their role may open (their forms, the chat); opening the consents
// anyway gets the admin's 403 page, which passes axe-core; their own
// form's inbox opens.
func TestOperatorRefusedOnConsents(t *testing.T) {
	t.Parallel()
	a := newTeamApp(t, "127.0.0.3")
	v := newTab(t)
	a.signIn(v, teamOperator)
	require.Equal(t, []string{"Forms", "Chat"},
		evalJS[[]string](v, `Array.from(document.querySelectorAll('.mainnav a'), function (a) { return a.innerText.trim(); })`))
	require.Contains(t, evalJS[string](v, `document.querySelector('.who').innerText`), "Otto Operator (operator)")
	require.Equal(t, "Kontakt (Otto)", evalJS[string](v, `document.querySelector('#forms-list .form-name').innerText`))

	v.navigate(a.base+"/admin/consents", 403)
	require.Equal(t, "Not allowed · consentforms admin", evalJS[string](v, `document.title`))
	require.Equal(t, "Not allowed", evalJS[string](v, `document.querySelector('main h1').innerText`))
	require.Contains(t, evalJS[string](v, `document.getElementById('page-error').innerText`), "Your role does not allow this.")
	require.False(t, evalJS[bool](v, `!!document.querySelector('#consents-list')`), "no consent is shown")
	axeIfPresent(t, v, "the 403 page of an operator")

	// Their own form's inbox is theirs.
	v.navigate(a.base+"/admin/forms", 200)
	adminSubmit(v, "#forms-list .form-name")
	require.Equal(t, "/admin/forms/"+strconv.FormatInt(a.form.ID, 10)+"/submissions", adminLocation(v))
	v.requireClean()
}

// TestTokenCreatedUsedAndRevokedInTheBrowser: an admin creates an API token
// in the admin, copies it from the page that shows it once, a script uses
// it, the list shows its last use, the admin revokes it, and from the next
// request on it gets 401. The audit trail has both changes.
func TestTokenCreatedUsedAndRevokedInTheBrowser(t *testing.T) {
	t.Parallel()
	a := newTeamApp(t, "127.0.0.4")
	v := newTab(t)
	a.signIn(v, teamAdmin)
	adminSubmit(v, "#nav-tokens")
	require.Equal(t, "/admin/tokens", adminLocation(v))
	v.do(chromedp.SendKeys(chromedp.ID("token-name"), "CRM-Abgleich"))
	v.do(chromedp.Click(chromedp.ID("token-scope-write")))
	resp, err := chromedp.RunResponse(v.ctx, chromedp.Click(chromedp.ID("create-token")))
	require.NoError(t, err)
	require.EqualValues(t, 201, resp.Status)
	token := evalJS[string](v, `document.getElementById('secret-value').value`)
	require.True(t, formbuilder.ValidAPIToken(token), token)
	v.waitJS("admin.js shows the copy button", `!document.getElementById('copy-secret').hidden`)
	axeIfPresent(t, v, "the page that shows a new token once")

	require.Equal(t, 200, a.apiStatus(t, "/api/v1/forms", token), "the new token works")
	adminSubmit(v, "#secret-done")
	require.Equal(t, "/admin/tokens", adminLocation(v))
	require.NotContains(t, evalJS[string](v, `document.body.innerText`), token, "shown once only")
	row := `document.querySelector('#tokens-list tbody tr')`
	require.Equal(t, "CRM-Abgleich", evalJS[string](v, row+`.querySelector('.token-name').innerText`))
	require.NotEqual(t, "never", evalJS[string](v, row+`.querySelector('.token-used').innerText`), "its last use is shown")

	adminSubmit(v, "#tokens-list tbody tr button[id^=revoke-]")
	require.Contains(t, evalJS[string](v, `document.getElementById('page-notice').innerText`), "Token revoked")
	require.Equal(t, "revoked", evalJS[string](v, row+`.querySelector('.token-state').innerText`))
	require.Equal(t, 401, a.apiStatus(t, "/api/v1/forms", token), "a revoked token is refused at once")

	adminSubmit(v, "#nav-audit")
	whats := evalJS[[]string](v, `Array.from(document.querySelectorAll('#audit-list .audit-what'), function (e) { return e.innerText; })`)
	require.Equal(t, []string{"API token: revoke", "API token: create"}, whats)
	axeIfPresent(t, v, "the audit trail")
	v.requireClean()
}

// axeIfPresent checks v with axe-core; without axe-core it only logs, so
// the rest of the test still runs (under CI=true runAxe fails instead).
func axeIfPresent(t *testing.T, v *view, what string) {
	t.Helper()
	if _, err := axeSource(); err != nil && os.Getenv("CI") != "true" {
		t.Logf("axe-core missing: %s not checked", what)
		return
	}
	runAxe(t, v, what)
}

// TestAccessibilityTeamPages checks the people, account, token and audit
// pages with axe-core, with and without errors shown.
func TestAccessibilityTeamPages(t *testing.T) {
	t.Parallel()
	needAxe(t)
	a := newTeamApp(t, "127.0.0.5")
	v := newTab(t)
	a.signIn(v, teamAdmin)
	for _, p := range []string{"/admin/users", "/admin/users/" + strconv.FormatInt(a.operator.ID, 10), "/admin/account",
		"/admin/tokens", "/admin/audit"} {
		v.navigate(a.base+p, 200)
		runAxe(t, v, p)
	}
	// Errors: a token without a name and with an expiry in the past.
	v.navigate(a.base+"/admin/tokens", 200)
	v.do(chromedp.SendKeys(chromedp.ID("token-expires_at"), "-2001-01-01"))
	resp, err := chromedp.RunResponse(v.ctx, chromedp.Click(chromedp.ID("create-token")))
	require.NoError(t, err)
	require.EqualValues(t, 422, resp.Status)
	require.Equal(t, 2, evalJS[int](v, `document.querySelectorAll('#error-summary li').length`))
	runAxe(t, v, "the token form with errors")
	v.navigate(a.base+"/admin/users", 200)
	resp, err = chromedp.RunResponse(v.ctx, chromedp.Click(chromedp.ID("add-user")))
	require.NoError(t, err)
	require.EqualValues(t, 422, resp.Status)
	runAxe(t, v, "the add-person form with errors")
	v.requireClean()
}
