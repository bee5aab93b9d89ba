package web_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// madeUpToken has the shape of a real session token, so it reaches the
// storage lookup rather than the shape check.
func madeUpToken() string {
	return base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
}

func TestLoginPageMarkupAndHeaders(t *testing.T) {
	e := newAdmEnv(t)
	resp, body := e.get("/admin/login")
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
	require.Empty(t, e.jar["cf_session"], "no session before signing in")
}

func TestLoginSetsSessionCookieAndOpensPages(t *testing.T) {
	e := newAdmEnv(t)
	resp, _ := e.loginAttempt(admEmail, admPassword)
	require.Equal(t, "/admin/forms", location(t, resp, http.StatusSeeOther))
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
	require.NotContains(t, raw, sha256Hex(ck.Value), "the cookie is the token, storage has its hash")

	for _, p := range []string{"/admin/forms", "/admin/forms/new", "/admin/consents", "/admin/consents/new", "/admin/settings"} {
		resp, body := e.get(p)
		require.Equal(t, 200, resp.StatusCode, p)
		require.Contains(t, body, `id="sign-out"`, p)
		require.Contains(t, body, `href="/admin/log"`, p)
		require.Contains(t, body, "Received consents", p)
	}
	resp, _ = e.get("/admin")
	require.Equal(t, "/admin/forms", location(t, resp, http.StatusSeeOther))
}

func TestSessionCookieSecureOverHTTPS(t *testing.T) {
	e := newAdmEnv(t, func(c *web.Config) { c.BaseURL = "https://" + admHost })
	resp, body := e.get("/admin/login")
	m := admCSRFInputRE.FindStringSubmatch(body)
	require.NotNil(t, m)
	resp, _ = e.postRaw("/admin/login", url.Values{"email": {admEmail}, "password": {admPassword}, "_csrf": {m[1]}},
		"Origin", "https://"+admHost, "Sec-Fetch-Site", "same-origin")
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
	e := newAdmEnv(t)
	r1, b1 := e.loginAttempt(admEmail, "wrong password!")
	r2, b2 := e.loginAttempt("nobody@example.com", "wrong password!")
	require.Equal(t, http.StatusUnauthorized, r1.StatusCode)
	require.Equal(t, r1.StatusCode, r2.StatusCode)
	require.NotEmpty(t, pageError(b1))
	require.Equal(t, pageError(b1), pageError(b2))
	// Apart from the echoed address the pages are identical.
	require.Equal(t, b1, strings.Replace(b2, "nobody@example.com", admEmail, 1))
	require.Empty(t, e.jar["cf_session"])
}

func TestLoginThrottlePerAccount(t *testing.T) {
	e := newAdmEnv(t)
	for i := 0; i < 5; i++ {
		e.ip = "198.51.100." + strconv.Itoa(i+1) // different IPs: only the account counts
		resp, _ := e.loginAttempt(admEmail, "wrong password "+strconv.Itoa(i))
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "attempt %d", i+1)
	}
	e.ip = "198.51.100.99"
	resp, body := e.loginAttempt(admEmail, admPassword)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "6th attempt, even with the right password")
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.True(t, ra >= 1 && ra <= 60, ra)
	require.Contains(t, pageError(body), "Too many failed sign-in attempts")
	require.Empty(t, e.jar["cf_session"])

	// Another account from the same IPs is not affected.
	resp, _ = e.loginAttempt("other@example.com", "whatever pw")
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	// The window slides: a minute later the right password works.
	e.clock.Add(61 * time.Second)
	resp, _ = e.loginAttempt(admEmail, admPassword)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestLoginThrottleUnknownUser(t *testing.T) {
	e := newAdmEnv(t)
	for i := 0; i < 5; i++ {
		e.ip = "198.51.100." + strconv.Itoa(i+1)
		resp, _ := e.loginAttempt("ghost@example.com", "pw")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	e.ip = "198.51.100.50"
	resp, _ := e.loginAttempt("ghost@example.com", "pw")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "unknown users are throttled like known ones")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

func TestLoginThrottlePerIP(t *testing.T) {
	e := newAdmEnv(t)
	e.ip = "203.0.113.7"
	for i := 0; i < 5; i++ {
		resp, _ := e.loginAttempt("user"+strconv.Itoa(i)+"@example.com", "pw")
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, _ := e.loginAttempt(admEmail, admPassword)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "6th failure-prone attempt from one IP across accounts")

	// Another IP can still sign in.
	e.ip = "203.0.113.8"
	resp, _ = e.loginAttempt(admEmail, admPassword)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestMadeUpSessionIsNotAccepted(t *testing.T) {
	e := newAdmEnv(t)
	for _, tok := range []string{madeUpToken(), "garbage", strings.Repeat("A", 43)} {
		e.jar = map[string]string{"cf_session": tok}
		resp, _ := e.get("/admin/forms")
		loc := location(t, resp, http.StatusSeeOther)
		require.True(t, strings.HasPrefix(loc, "/admin/login"), loc)
		require.Contains(t, loc, "next=%2Fadmin%2Fforms")
		// A made-up session cannot post either.
		e.jar = map[string]string{"cf_session": tok}
		resp, _ = e.postRaw("/admin/forms", url.Values{"name": {"x"}, "language": {"en"}, "_csrf": {"x"}}, sameOrigin...)
		require.True(t, strings.HasPrefix(location(t, resp, http.StatusSeeOther), "/admin/login"))
	}
	forms, err := e.db.ListForms(t.Context(), formbuilderFilterAll)
	require.NoError(t, err)
	require.Empty(t, forms)

	// Signing in with a client-chosen cookie yields a fresh token: the
	// chosen value is never adopted.
	e.jar = map[string]string{"cf_session": madeUpToken()}
	e.login()
	require.NotEqual(t, madeUpToken(), e.jar["cf_session"])
	resp, _ := e.get("/admin/forms")
	require.Equal(t, 200, resp.StatusCode)
}

func TestLogoutEndsSessionOnServer(t *testing.T) {
	e := newAdmEnv(t)
	e.login()
	old := e.jar["cf_session"]

	// Logout needs the CSRF token like every post.
	resp, _ := e.postRaw("/admin/logout", url.Values{}, sameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp, _ = e.post("/admin/logout", nil)
	require.Equal(t, "/admin/login?m=signedout", location(t, resp, http.StatusSeeOther))
	require.Empty(t, e.jar["cf_session"], "cookie cleared")
	_, body := e.get("/admin/login?m=signedout")
	require.Contains(t, body, "You have been signed out.")

	// The old cookie, replayed, no longer works.
	e.jar["cf_session"] = old
	resp, _ = e.get("/admin/forms")
	require.True(t, strings.HasPrefix(location(t, resp, http.StatusSeeOther), "/admin/login"))
}

func TestIdleTimeout(t *testing.T) {
	e := newAdmEnv(t)
	e.login()
	// Activity keeps the session alive across more than the idle timeout.
	for i := 0; i < 3; i++ {
		e.clock.Add(20 * time.Minute)
		resp, _ := e.get("/admin/forms")
		require.Equal(t, 200, resp.StatusCode, "step %d", i)
	}
	e.clock.Add(31 * time.Minute)
	resp, _ := e.get("/admin/forms")
	loc := location(t, resp, http.StatusSeeOther)
	require.True(t, strings.HasPrefix(loc, "/admin/login?"), loc)
	require.Contains(t, loc, "m=expired")
	_, body := e.get(loc)
	require.Contains(t, body, "Your session has ended")
	// Expired means deleted: the cookie does not come back to life.
	e.clock.Add(-31 * time.Minute)
	resp, _ = e.get("/admin/forms")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestAbsoluteTimeout(t *testing.T) {
	e := newAdmEnv(t)
	e.login()
	for elapsed := time.Duration(0); elapsed < 12*time.Hour; elapsed += 25 * time.Minute {
		e.clock.Add(25 * time.Minute)
		resp, _ := e.get("/admin/forms")
		if elapsed+25*time.Minute <= 12*time.Hour {
			require.Equal(t, 200, resp.StatusCode, "at %v", elapsed+25*time.Minute)
		}
	}
	e.clock.Add(25 * time.Minute)
	resp, _ := e.get("/admin/forms")
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "ended after 12 hours however busy")
}

func TestNextParameterAfterLogin(t *testing.T) {
	e := newAdmEnv(t)
	resp, _ := e.get("/admin/consents?x=1")
	loc := location(t, resp, http.StatusSeeOther)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	next := u.Query().Get("next")
	require.Equal(t, "/admin/consents?x=1", next)

	_, body := e.get(loc)
	require.Contains(t, body, `name="next" value="/admin/consents?x=1"`)
	m := admCSRFInputRE.FindStringSubmatch(body)
	resp, _ = e.postRaw("/admin/login", url.Values{"email": {admEmail}, "password": {admPassword}, "_csrf": {m[1]},
		"next": {next}}, sameOrigin...)
	require.Equal(t, "/admin/consents?x=1", location(t, resp, http.StatusSeeOther))

	// next never leaves the admin.
	for _, bad := range []string{"//evil.example/admin", "https://evil.example", "/admin/../x", "/admin\\@evil", "/f/abc"} {
		e.jar = map[string]string{}
		_, body := e.get("/admin/login?next=" + url.QueryEscape(bad))
		m := admCSRFInputRE.FindStringSubmatch(body)
		resp, _ = e.postRaw("/admin/login", url.Values{"email": {admEmail}, "password": {admPassword},
			"_csrf": {m[1]}, "next": {bad}}, sameOrigin...)
		require.Equal(t, "/admin/forms", location(t, resp, http.StatusSeeOther), bad)
	}
}

func TestLoginNeedsItsCSRFToken(t *testing.T) {
	e := newAdmEnv(t)
	// A cross-site page posting credentials (login CSRF): no cookie, no token.
	resp, _ := e.postRaw("/admin/login", url.Values{"email": {admEmail}, "password": {admPassword}})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, e.jar["cf_session"])
	// With Origin of another site it is refused before anything else.
	e.get("/admin/login")
	resp, _ = e.postRaw("/admin/login", url.Values{"email": {admEmail}, "password": {admPassword}},
		"Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	// A wrong token.
	resp, _ = e.postRaw("/admin/login", url.Values{"email": {admEmail}, "password": {admPassword}, "_csrf": {"nope"}},
		sameOrigin...)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, e.jar["cf_session"])
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	e := newAdmEnv(t)
	e.login()
	tok := e.csrf()
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
		{"same origin, no token", vals(""), sameOrigin},
		{"same origin, wrong token", vals("wrong-token"), sameOrigin},
		{"same origin, another session's token", vals(strings.Repeat("x", len(tok))), sameOrigin},
	}
	for _, tc := range cases {
		resp, body := e.postRaw("/admin/forms", tc.vals, tc.hdr...)
		require.Equal(t, http.StatusForbidden, resp.StatusCode, tc.name)
		require.Contains(t, resp.Header.Get("Content-Type"), "text/html", tc.name)
		require.NotEmpty(t, pageError(body), tc.name)
	}
	forms, err := e.db.ListForms(t.Context(), formbuilderFilterAll)
	require.NoError(t, err)
	require.Empty(t, forms, "nothing was created")

	// The same post from our own page goes through; so does the token in
	// the header (admin.js) and a post from an old browser without
	// Origin/Sec-Fetch-Site but with the token.
	resp, _ := e.postRaw("/admin/forms", vals(tok), sameOrigin...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.postRaw("/admin/forms", vals(""), "X-CSRF-Token", tok, "Origin", admBase)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = e.postRaw("/admin/forms", vals(tok))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func TestAdminAssets(t *testing.T) {
	e := newAdmEnv(t)
	_, body := e.get("/admin/login")
	css := regexpFind(t, body, `href="(/admin/static/admin\.[0-9a-f]{10}\.css)"`)
	js := regexpFind(t, body, `src="(/admin/static/admin\.[0-9a-f]{10}\.js)"`)
	for _, p := range []string{css, js} {
		resp, b := e.get(p)
		require.Equal(t, 200, resp.StatusCode, p)
		require.NotEmpty(t, b)
		require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"))
		etag := resp.Header.Get("ETag")
		require.NotEmpty(t, etag)
		req, _ := http.NewRequest(http.MethodGet, p, nil)
		req.Header.Set("If-None-Match", etag)
		resp = e.do(req)
		require.Equal(t, http.StatusNotModified, resp.StatusCode)
	}
	resp, _ := e.get("/admin/static/admin.css")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "public, max-age=300, must-revalidate", resp.Header.Get("Cache-Control"), "the plain name revalidates, as for the widget assets")
	resp, _ = e.get("/admin/static/nope.js")
	require.Equal(t, 404, resp.StatusCode)
}
