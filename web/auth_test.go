package web_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// madeUpToken has the shape of a real session token, so it reaches the
// storage lookup rather than the shape check.
func madeUpToken() string {
	return base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
}

func TestLoginPageMarkupAndHeaders(t *testing.T) {
	e := testenv.New(t)
	resp, body := e.Get("/admin/login")
	require.Equal(t, 200, resp.StatusCode)
	for _, want := range []string{`id="login-form"`, `id="email"`, `name="email"`, `id="password"`,
		`type="password"`, `button type="submit"`, `name="_csrf"`} {
		require.Contains(t, body, want)
	}
	require.Equal(t, "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; frame-src 'self'",
		resp.Header.Get("Content-Security-Policy"))
	require.Equal(t, "same-origin", resp.Header.Get("Referrer-Policy"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	require.NotContains(t, body, "<script>", "no inline scripts")
	require.NotContains(t, body, "style=", "no inline styles")
	require.NotContains(t, body, " onclick", "no inline handlers")
	require.Empty(t, e.Jar["cf_session"], "no session before signing in")
}

func TestLoginSetsSessionCookieAndOpensPages(t *testing.T) {
	e := testenv.New(t)
	resp, _ := e.LoginAttempt(testenv.AdminEmail, testenv.AdminPassword)
	require.Equal(t, "/admin/forms", testenv.Location(t, resp, http.StatusSeeOther))
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "cf_session" {
			ck = c
		}
	}
	require.NotNil(t, ck)
	require.True(t, ck.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, ck.SameSite)
	require.Equal(t, "/admin", ck.Path)
	require.False(t, ck.Secure, "plain http base URL: a Secure cookie would never come back")
	raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	require.NotContains(t, raw, testenv.SHA256Hex(ck.Value), "the cookie is the token, storage has its hash")

	for _, p := range []string{"/admin/forms", "/admin/forms/new", "/admin/consents", "/admin/consents/new", "/admin/settings"} {
		resp, body := e.Get(p)
		require.Equal(t, 200, resp.StatusCode, p)
		require.Contains(t, body, `id="sign-out"`, p)
		require.Contains(t, body, `href="/admin/log"`, p)
		require.Contains(t, body, "Received consents", p)
	}
	resp, _ = e.Get("/admin")
	require.Equal(t, "/admin/forms", testenv.Location(t, resp, http.StatusSeeOther))
}

func TestSessionCookieSecureOverHTTPS(t *testing.T) {
	e := testenv.New(t, testenv.WithConfig(func(c *web.Config) { c.BaseURL = "https://" + testenv.Host }))
	resp, body := e.Get("/admin/login")
	m := csrfInputRE.FindStringSubmatch(body)
	require.NotNil(t, m)
	resp, _ = e.PostRaw("/admin/login", url.Values{"email": {testenv.AdminEmail}, "password": {testenv.AdminPassword}, "_csrf": {m[1]}},
		"Origin", "https://"+testenv.Host, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	found := false
	for _, c := range resp.Cookies() {
		if c.Name == "cf_session" {
			found = true
			require.True(t, c.Secure)
			require.True(t, c.HttpOnly)
		}
	}
	require.True(t, found)
}

func TestUnknownUserGetsSameAnswerAsWrongPassword(t *testing.T) {
	e := testenv.New(t)
	r1, b1 := e.LoginAttempt(testenv.AdminEmail, "wrong password!")
	r2, b2 := e.LoginAttempt("nobody@example.com", "wrong password!")
	require.Equal(t, http.StatusUnauthorized, r1.StatusCode)
	require.Equal(t, r1.StatusCode, r2.StatusCode)
	require.NotEmpty(t, testenv.PageError(b1))
	require.Equal(t, testenv.PageError(b1), testenv.PageError(b2))
	// Apart from the echoed address the pages are identical.
	require.Equal(t, b1, strings.Replace(b2, "nobody@example.com", testenv.AdminEmail, 1))
	require.Empty(t, e.Jar["cf_session"])
}

func TestLoginThrottlePerAccount(t *testing.T) {
	e := testenv.New(t)
	for i := 0; i < 5; i++ {
		e.IP = "198.51.100." + strconv.Itoa(i+1) // different IPs: only the account counts
		resp, _ := e.LoginAttempt(testenv.AdminEmail, "wrong password "+strconv.Itoa(i))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "attempt %d", i+1)
	}
	e.IP = "198.51.100.99"
	resp, body := e.LoginAttempt(testenv.AdminEmail, testenv.AdminPassword)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "6th attempt, even with the right password")
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	// The sliding window (two-bucket estimate, as every limit of the app)
	// lets failures weigh for at most two windows.
	require.True(t, ra >= 1 && ra <= 120, ra)
	require.Contains(t, testenv.PageError(body), "Too many failed sign-in attempts")
	require.Empty(t, e.Jar["cf_session"])

	// Another account from the same IPs is not affected.
	resp, _ = e.LoginAttempt("other@example.com", "whatever pw")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// The window slides: after the wait it named the right password works.
	e.Clock.Add(time.Duration(ra) * time.Second)
	resp, _ = e.LoginAttempt(testenv.AdminEmail, testenv.AdminPassword)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestLoginThrottleUnknownUser(t *testing.T) {
	e := testenv.New(t)
	for i := 0; i < 5; i++ {
		e.IP = "198.51.100." + strconv.Itoa(i+1)
		resp, _ := e.LoginAttempt("ghost@example.com", "pw")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	e.IP = "198.51.100.50"
	resp, _ := e.LoginAttempt("ghost@example.com", "pw")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "unknown users are throttled like known ones")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestLoginThrottlePerIP(t *testing.T) {
	e := testenv.New(t)
	e.IP = "203.0.113.7"
	for i := 0; i < 5; i++ {
		resp, _ := e.LoginAttempt("user"+strconv.Itoa(i)+"@example.com", "pw")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, _ := e.LoginAttempt(testenv.AdminEmail, testenv.AdminPassword)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "6th failure-prone attempt from one IP across accounts")

	// Another IP can still sign in.
	e.IP = "203.0.113.8"
	resp, _ = e.LoginAttempt(testenv.AdminEmail, testenv.AdminPassword)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

// TestLoginThrottleKeysIPv6ByPrefix: one IPv6 client holds a whole /64, so
// a new address per attempt must not buy new attempts.
func TestLoginThrottleKeysIPv6ByPrefix(t *testing.T) {
	e := testenv.New(t)
	for i := 0; i < 5; i++ {
		e.IP = "2001:db8:1:2::" + strconv.FormatInt(int64(i+1), 16)
		resp, _ := e.LoginAttempt("user"+strconv.Itoa(i)+"@example.com", "pw")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	e.IP = "2001:db8:1:2:ffff:ffff:ffff:fff0"
	resp, _ := e.LoginAttempt(testenv.AdminEmail, testenv.AdminPassword)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "another address of the same /64")

	e.IP = "2001:db8:1:3::1"
	resp, _ = e.LoginAttempt(testenv.AdminEmail, testenv.AdminPassword)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the next /64 is another client")
}

func TestMadeUpSessionIsNotAccepted(t *testing.T) {
	e := testenv.New(t)
	for _, tok := range []string{madeUpToken(), "garbage", strings.Repeat("A", 43)} {
		e.Jar = map[string]string{"cf_session": tok}
		resp, _ := e.Get("/admin/forms")
		loc := testenv.Location(t, resp, http.StatusSeeOther)
		require.True(t, strings.HasPrefix(loc, "/admin/login"), loc)
		require.Contains(t, loc, "next=%2Fadmin%2Fforms")
		// A made-up session cannot post either.
		e.Jar = map[string]string{"cf_session": tok}
		resp, _ = e.PostRaw("/admin/forms", url.Values{"name": {"x"}, "language": {"en"}, "_csrf": {"x"}}, testenv.SameOrigin...)
		require.True(t, strings.HasPrefix(testenv.Location(t, resp, http.StatusSeeOther), "/admin/login"))
	}
	forms, err := e.DB.ListForms(t.Context(), formbuilderFilterAll)
	require.NoError(t, err)
	require.Empty(t, forms)

	// Signing in with a client-chosen cookie yields a fresh token: the
	// chosen value is never adopted.
	e.Jar = map[string]string{"cf_session": madeUpToken()}
	e.Login()
	require.NotEqual(t, madeUpToken(), e.Jar["cf_session"])
	resp, _ := e.Get("/admin/forms")
	require.Equal(t, 200, resp.StatusCode)
}

func TestLogoutEndsSessionOnServer(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	old := e.Jar["cf_session"]

	// Logout needs the CSRF token like every post.
	resp, _ := e.PostRaw("/admin/logout", url.Values{}, testenv.SameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _ = e.Post("/admin/logout", nil)
	require.Equal(t, "/admin/login?m=signedout", testenv.Location(t, resp, http.StatusSeeOther))
	require.Empty(t, e.Jar["cf_session"], "cookie cleared")
	_, body := e.Get("/admin/login?m=signedout")
	require.Contains(t, body, "You have been signed out.")

	// The old cookie, replayed, no longer works.
	e.Jar["cf_session"] = old
	resp, _ = e.Get("/admin/forms")
	require.True(t, strings.HasPrefix(testenv.Location(t, resp, http.StatusSeeOther), "/admin/login"))
}

func TestIdleTimeout(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	// Activity keeps the session alive across more than the idle timeout.
	for i := 0; i < 3; i++ {
		e.Clock.Add(20 * time.Minute)
		resp, _ := e.Get("/admin/forms")
		require.Equal(t, 200, resp.StatusCode, "step %d", i)
	}
	e.Clock.Add(31 * time.Minute)
	resp, _ := e.Get("/admin/forms")
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	require.True(t, strings.HasPrefix(loc, "/admin/login?"), loc)
	require.Contains(t, loc, "m=expired")
	_, body := e.Get(loc)
	require.Contains(t, body, "Your session has ended")
	// Expired means deleted: the cookie does not come back to life.
	e.Clock.Add(-31 * time.Minute)
	resp, _ = e.Get("/admin/forms")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestAbsoluteTimeout(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	for elapsed := time.Duration(0); elapsed < 12*time.Hour; elapsed += 25 * time.Minute {
		e.Clock.Add(25 * time.Minute)
		resp, _ := e.Get("/admin/forms")
		if elapsed+25*time.Minute <= 12*time.Hour {
			require.Equal(t, 200, resp.StatusCode, "at %v", elapsed+25*time.Minute)
		}
	}
	e.Clock.Add(25 * time.Minute)
	resp, _ := e.Get("/admin/forms")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "ended after 12 hours however busy")
}

func TestNextParameterAfterLogin(t *testing.T) {
	e := testenv.New(t)
	resp, _ := e.Get("/admin/consents?x=1")
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	next := u.Query().Get("next")
	require.Equal(t, "/admin/consents?x=1", next)

	_, body := e.Get(loc)
	require.Contains(t, body, `name="next" value="/admin/consents?x=1"`)
	m := csrfInputRE.FindStringSubmatch(body)
	resp, _ = e.PostRaw("/admin/login", url.Values{"email": {testenv.AdminEmail}, "password": {testenv.AdminPassword}, "_csrf": {m[1]},
		"next": {next}}, testenv.SameOrigin...)
	require.Equal(t, "/admin/consents?x=1", testenv.Location(t, resp, http.StatusSeeOther))

	// next never leaves the admin.
	for _, bad := range []string{"//evil.example/admin", "https://evil.example", "/admin/../x", "/admin\\@evil", "/f/abc"} {
		e.Jar = map[string]string{}
		_, body := e.Get("/admin/login?next=" + url.QueryEscape(bad))
		m := csrfInputRE.FindStringSubmatch(body)
		resp, _ = e.PostRaw("/admin/login", url.Values{"email": {testenv.AdminEmail}, "password": {testenv.AdminPassword},
			"_csrf": {m[1]}, "next": {bad}}, testenv.SameOrigin...)
		require.Equal(t, "/admin/forms", testenv.Location(t, resp, http.StatusSeeOther), bad)
	}
}

func TestLoginNeedsItsCSRFToken(t *testing.T) {
	e := testenv.New(t)
	// A cross-site page posting credentials (login CSRF): no cookie, no token.
	resp, _ := e.PostRaw("/admin/login", url.Values{"email": {testenv.AdminEmail}, "password": {testenv.AdminPassword}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, e.Jar["cf_session"])
	// With Origin of another site it is refused before anything else.
	e.Get("/admin/login")
	resp, _ = e.PostRaw("/admin/login", url.Values{"email": {testenv.AdminEmail}, "password": {testenv.AdminPassword}},
		"Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	// A wrong token.
	resp, _ = e.PostRaw("/admin/login", url.Values{"email": {testenv.AdminEmail}, "password": {testenv.AdminPassword}, "_csrf": {"nope"}},
		testenv.SameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, e.Jar["cf_session"])
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	tok := e.CSRF()
	vals := func(withToken string) url.Values {
		v := url.Values{"name": {"Evil form"}, "language": {"en"}}
		if withToken != "" {
			v.Set("_csrf", withToken)
		}
		return v
	}
	cases := []struct {
		name string
		vals url.Values
		hdr  []string
	}{
		{"cross-site without token", vals(""), []string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}},
		{"cross-site with the right token", vals(tok), []string{"Origin", "https://evil.example"}},
		{"same-site sibling with token", vals(tok), []string{"Sec-Fetch-Site", "same-site"}},
		{"null origin", vals(tok), []string{"Origin", "null"}},
		{"no headers, no token", vals(""), nil},
		{"same origin, no token", vals(""), testenv.SameOrigin},
		{"same origin, wrong token", vals("wrong-token"), testenv.SameOrigin},
		{"same origin, another session's token", vals(strings.Repeat("x", len(tok))), testenv.SameOrigin},
	}
	for _, tc := range cases {
		resp, body := e.PostRaw("/admin/forms", tc.vals, tc.hdr...)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, tc.name)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", tc.name)
		require.NotEmpty(t, testenv.PageError(body), tc.name)
	}
	forms, err := e.DB.ListForms(t.Context(), formbuilderFilterAll)
	require.NoError(t, err)
	require.Empty(t, forms, "nothing was created")

	// The same post from our own page goes through; so does the token in
	// the header (admin.js) and a post from an old browser without
	// Origin/Sec-Fetch-Site but with the token.
	resp, _ := e.PostRaw("/admin/forms", vals(tok), testenv.SameOrigin...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.PostRaw("/admin/forms", vals(""), "X-CSRF-Token", tok, "Origin", testenv.BaseURL)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.PostRaw("/admin/forms", vals(tok))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestAdminAssets(t *testing.T) {
	e := testenv.New(t)
	_, body := e.Get("/admin/login")
	css := testenv.Find(t, body, `href="(/admin/static/admin\.[0-9a-f]{10}\.css)"`)
	js := testenv.Find(t, body, `src="(/admin/static/admin\.[0-9a-f]{10}\.js)"`)
	for _, p := range []string{css, js} {
		resp, b := e.Get(p)
		require.Equal(t, 200, resp.StatusCode, p)
		require.NotEmpty(t, b)
		require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"))
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag)
		req, _ := http.NewRequest(http.MethodGet, p, nil)
		req.Header.Set("If-None-Match", etag)
		resp = e.Do(req)
		require.Equal(t, http.StatusNotModified, resp.StatusCode)
	}
	resp, _ := e.Get("/admin/static/admin.css")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "public, max-age=300, must-revalidate", resp.Header.Get("Cache-Control"), "the plain name revalidates, as for the widget assets")
	resp, _ = e.Get("/admin/static/nope.js")
	require.Equal(t, 404, resp.StatusCode)
}

// csrfInputRE finds the hidden CSRF token of a form on an admin page.
var csrfInputRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// TestCSRFTokenOnlyFromTheBody: a token in the query string is not accepted
// (c.FormValue would read it there), neither on admin posts nor on the
// sign-in form: a URL ends up in logs, history and Referer headers
// (issue 15: 18).
func TestCSRFTokenOnlyFromTheBody(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	tok := e.CSRF()
	vals := url.Values{"company.name": {""}, "ip_mode": {"full"}}
	resp, body := e.PostRaw("/admin/settings?_csrf="+url.QueryEscape(tok), vals, testenv.SameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	vals.Set("_csrf", tok)
	resp, _ = e.PostRaw("/admin/settings", vals, testenv.SameOrigin...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.PostRaw("/admin/settings", vals, append([]string{"X-CSRF-Token", tok}, testenv.SameOrigin...)...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "the header works too")

	// The sign-in form's token, likewise.
	e2 := testenv.New(t)
	_, page := e2.Get("/admin/login")
	lt := csrfInputRE.FindStringSubmatch(page)[1]
	resp, _ = e2.PostRaw("/admin/login?_csrf="+url.QueryEscape(lt),
		url.Values{"email": {testenv.AdminEmail}, "password": {testenv.AdminPassword}}, testenv.SameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, e2.Jar["cf_session"])
}
