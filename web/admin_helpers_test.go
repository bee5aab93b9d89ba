package web_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// admHost is the host of BaseURL in admin tests; requests are sent to it so
// that the Host header and the Origin of same-origin posts agree.
const (
	admHost     = "cf.example"
	admBase     = "http://" + admHost
	admEmail    = "ada@example.com"
	admPassword = "correct horse battery"
)

var admSecret = []byte("0123456789abcdef0123456789abcdef-admin-tests")

// admEnv is the real app on a fresh SQLite file with one admin user, and a
// browser-like client: a cookie jar and helpers that send the headers a
// same-origin browser sends.
type admEnv struct {
	t     *testing.T
	db    *sqlite.DB
	srv   *web.Server
	clock *hardClock
	user  *formbuilder.User
	jar   map[string]string
	// ip, when set, is sent as X-Forwarded-For (the env trusts the test
	// connection's peer as a proxy).
	ip string
}

func newAdmEnv(t *testing.T, mod ...func(*web.Config)) *admEnv {
	t.Helper()
	clock := &hardClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"), sqlite.WithClock(clock.Now))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	hash, err := password.Hash(admPassword)
	require.NoError(t, err)
	u := &formbuilder.User{Email: admEmail, Name: "Ada Admin", PasswordHash: hash}
	require.NoError(t, db.CreateUser(context.Background(), u))
	cfg := web.Config{
		BaseURL: admBase,
		Secret:  admSecret,
		Now:     clock.Now,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		// app.Test connections come from 0.0.0.0: trusting it as a proxy
		// lets a test choose the client IP with X-Forwarded-For.
		TrustedProxies: []string{"0.0.0.0/32"},
		RateIP:         -1, RateForm: -1, RateIPForm: -1,
	}
	for _, m := range mod {
		m(&cfg)
	}
	srv, err := web.New(cfg, web.Services{
		Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db,
	})
	require.NoError(t, err)
	return &admEnv{t: t, db: db, srv: srv, clock: clock, user: u, jar: map[string]string{}}
}

// do sends req with the jar's cookies and stores the cookies it gets back.
func (e *admEnv) do(req *http.Request) *http.Response {
	e.t.Helper()
	req.Host = admHost
	if e.ip != "" {
		req.Header.Set("X-Forwarded-For", e.ip)
	}
	for k, v := range e.jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := e.srv.App().Test(req, -1)
	require.NoError(e.t, err)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(e.jar, ck.Name)
		} else {
			e.jar[ck.Name] = ck.Value
		}
	}
	return resp
}

// get fetches path and returns the response and its body.
func (e *admEnv) get(path string) (*http.Response, string) {
	e.t.Helper()
	resp := e.do(httptest.NewRequest(http.MethodGet, path, nil))
	return resp, readBody(e.t, resp)
}

// postRaw posts vals as a form with the given extra headers (pairs).
func (e *admEnv) postRaw(path string, vals url.Values, hdr ...string) (*http.Response, string) {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp := e.do(req)
	return resp, readBody(e.t, resp)
}

// sameOrigin are the headers a browser sends with a post from our pages.
var sameOrigin = []string{"Origin", admBase, "Sec-Fetch-Site", "same-origin"}

// post posts vals like a browser on an admin page: same-origin headers and
// the page's CSRF token (unless vals has one).
func (e *admEnv) post(path string, vals url.Values) (*http.Response, string) {
	e.t.Helper()
	if vals == nil {
		vals = url.Values{}
	}
	if _, ok := vals["_csrf"]; !ok {
		vals.Set("_csrf", e.csrf())
	}
	return e.postRaw(path, vals, sameOrigin...)
}

var (
	admCSRFMetaRE  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
	admCSRFInputRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
)

// csrf returns the session's CSRF token as the pages carry it.
func (e *admEnv) csrf() string {
	e.t.Helper()
	resp, body := e.get("/admin/settings")
	require.Equal(e.t, 200, resp.StatusCode, "signed in")
	m := admCSRFMetaRE.FindStringSubmatch(body)
	require.NotNil(e.t, m, "page has a csrf meta tag")
	return m[1]
}

// loginAttempt loads the sign-in page (for its token and cookie) and posts
// the credentials.
func (e *admEnv) loginAttempt(email, pw string) (*http.Response, string) {
	e.t.Helper()
	resp, body := e.get("/admin/login")
	require.Equal(e.t, 200, resp.StatusCode)
	m := admCSRFInputRE.FindStringSubmatch(body)
	require.NotNil(e.t, m)
	return e.postRaw("/admin/login", url.Values{"email": {email}, "password": {pw}, "_csrf": {m[1]}}, sameOrigin...)
}

// login signs the admin in and checks it worked.
func (e *admEnv) login() {
	e.t.Helper()
	resp, _ := e.loginAttempt(admEmail, admPassword)
	require.Equal(e.t, http.StatusSeeOther, resp.StatusCode)
	require.NotEmpty(e.t, e.jar["cf_session"])
}

// location returns the redirect target of resp.
func location(t *testing.T, resp *http.Response, status int) string {
	t.Helper()
	require.Equal(t, status, resp.StatusCode)
	return resp.Header.Get("Location")
}

var pageErrorRE = regexp.MustCompile(`(?s)id="page-error">(.*?)</div>`)

// pageError returns the page-wide error message of an admin page.
func pageError(body string) string {
	m := pageErrorRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// fieldError returns the message shown next to input id.
func fieldError(body, id string) string {
	re := regexp.MustCompile(`(?s)<p class="field-error" id="` + regexp.QuoteMeta(id) +
		`-error"><span class="visually-hidden">Error:</span> (.*?)</p>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// seedConsent stores a custom consent directly.
func (e *admEnv) seedConsent(name, text, label string) *formbuilder.Consent {
	e.t.Helper()
	co := &formbuilder.Consent{Name: name, Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Text: text, Label: label, Language: "en"}
	content.Sanitize()
	require.NoError(e.t, content.Validate())
	require.NoError(e.t, e.db.CreateConsent(context.Background(), co, content, "seed"))
	return co
}

// seedForm stores a form directly.
func (e *admEnv) seedForm(f *formbuilder.Form) *formbuilder.Form {
	e.t.Helper()
	if f.Language == "" {
		f.Language = "en"
	}
	require.NoError(e.t, e.db.CreateForm(context.Background(), f))
	return f
}

func (e *admEnv) form(id int64) *formbuilder.Form {
	e.t.Helper()
	f, err := e.db.FindFormByID(context.Background(), id)
	require.NoError(e.t, err)
	return f
}

// apiToken creates an API token the way `consentforms token create` does.
func (e *admEnv) apiToken(name string) string {
	e.t.Helper()
	plain := "cf_" + formbuilder.RandomKey(20)
	tok := &formbuilder.APIToken{Name: name, Hash: sha256Hex(plain)}
	require.NoError(e.t, e.db.CreateToken(context.Background(), tok))
	return plain
}

// api sends a JSON request with the bearer token (empty: none).
func (e *admEnv) api(method, path, token, body string) (*http.Response, string) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Host = admHost
	resp, err := e.srv.App().Test(req, -1)
	require.NoError(e.t, err)
	require.Empty(e.t, resp.Header.Values("Set-Cookie"), "the API never sets cookies")
	return resp, readBody(e.t, resp)
}

// apiJSON decodes an API answer.
func apiJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

// formbuilderFilterAll lists every form, archived ones included.
var formbuilderFilterAll = formbuilder.FormFilter{IncludeArchived: true}

// regexpFind returns the first group of pattern in s, failing when absent.
func regexpFind(t *testing.T, s, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	require.NotNil(t, m, "no match for %s", pattern)
	return m[1]
}

// httpReq builds a request to the test host.
func httpReq(t *testing.T, method, path, body string) *http.Request {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Host = admHost
	return req
}
