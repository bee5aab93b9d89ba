package web_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cspDirective returns the value of one directive of a CSP header.
func cspDirective(csp, name string) (string, bool) {
	for _, d := range strings.Split(csp, ";") {
		d = strings.TrimSpace(d)
		if d == name {
			return "", true
		}
		if strings.HasPrefix(d, name+" ") {
			return strings.TrimSpace(d[len(name):]), true
		}
	}
	return "", false
}

func requireDirective(t *testing.T, csp, name, want string) {
	t.Helper()
	got, ok := cspDirective(csp, name)
	require.True(t, ok, "CSP %q has no %s", csp, name)
	require.Equal(t, want, got, "CSP %s", name)
}

// requireNoUnsafeScript fails on a CSP that lets injected markup run code.
func requireStrictScripts(t *testing.T, csp string) {
	t.Helper()
	for _, name := range []string{"script-src", "default-src"} {
		v, ok := cspDirective(csp, name)
		if !ok {
			continue
		}
		for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"} {
			for _, src := range strings.Fields(v) {
				require.NotEqual(t, bad, src, "%s allows %s", name, bad)
			}
		}
	}
	_, hasScript := cspDirective(csp, "script-src")
	_, hasDefault := cspDirective(csp, "default-src")
	require.True(t, hasScript || hasDefault, "CSP %q does not restrict scripts", csp)
	requireDirective(t, csp, "base-uri", "'none'")
	v, ok := cspDirective(csp, "object-src")
	if ok {
		require.Equal(t, "'none'", v)
	} else {
		requireDirective(t, csp, "default-src", "'none'")
	}
}

func TestHeadersAdmin(t *testing.T) {
	e := newHardEnv(t, nil)
	resp := e.Do(httptest.NewRequest("GET", "/admin/login", nil))
	testenv.ReadBody(t, resp)
	require.Equal(t, 200, resp.StatusCode)
	csp := resp.Header.Get("Content-Security-Policy")
	requireDirective(t, csp, "frame-ancestors", "'none'")
	requireStrictScripts(t, csp)
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	// The CSRF check of Fiber's middleware and our own same-origin check
	// need the Referer of same-origin posts.
	require.Equal(t, "same-origin", resp.Header.Get("Referrer-Policy"))
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))

	// Error pages and redirects under /admin carry the same headers.
	for _, path := range []string{"/admin/forms", "/admin/nope"} {
		resp := e.Do(httptest.NewRequest("GET", path, nil))
		testenv.ReadBody(t, resp)
		requireDirective(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors", "'none'")
	}
}

func TestHeadersFormPage(t *testing.T) {
	e := newHardEnv(t, nil)
	for _, q := range []string{"", "?embed=1"} {
		// Form A may be framed by its allowed origin only.
		resp := e.Do(httptest.NewRequest("GET", "/f/"+e.formA.Key+q, nil))
		testenv.ReadBody(t, resp)
		require.Equal(t, 200, resp.StatusCode)
		csp := resp.Header.Get("Content-Security-Policy")
		requireDirective(t, csp, "frame-ancestors", "'self' https://shop.example")
		requireStrictScripts(t, csp)
		require.Empty(t, resp.Header.Get("X-Frame-Options"), "X-Frame-Options cannot list origins and would block the iframe")
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))

		// Form B lists no origins: any site may embed it.
		resp = e.Do(httptest.NewRequest("GET", "/f/"+e.formB.Key+q, nil))
		testenv.ReadBody(t, resp)
		requireDirective(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors", "*")
		require.Empty(t, resp.Header.Get("X-Frame-Options"))
	}

	// The page shown after a refused or an accepted post is framed the same way.
	vals := e.validForm(e.RenderToken(e.formA.Key), "h@example.com")
	vals.Del("email")
	req := httptest.NewRequest("POST", "/f/"+e.formA.Key, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := e.Do(req)
	testenv.ReadBody(t, resp)
	require.Equal(t, 422, resp.StatusCode)
	requireDirective(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors", "'self' https://shop.example")
	require.Empty(t, resp.Header.Get("X-Frame-Options"))

	vals = e.validForm(e.RenderToken(e.formA.Key), "h@example.com")
	vals.Set("_embed", "1")
	req = httptest.NewRequest("POST", "/f/"+e.formA.Key, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp = e.Do(req)
	testenv.ReadBody(t, resp)
	require.Equal(t, 200, resp.StatusCode)
	requireDirective(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors", "'self' https://shop.example")
	require.Empty(t, resp.Header.Get("X-Frame-Options"))
}

func TestHeadersEmbedJS(t *testing.T) {
	e := newHardEnv(t, nil)
	resp := e.Do(httptest.NewRequest("GET", "/embed.js", nil))
	body := testenv.ReadBody(t, resp)
	require.Equal(t, 200, resp.StatusCode)
	require.NotEmpty(t, body)
	require.Equal(t, "cross-origin", resp.Header.Get("Cross-Origin-Resource-Policy"), "host pages on any origin load the loader")
	require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))
}

func TestCORS(t *testing.T) {
	e := newHardEnv(t, nil)
	preflight := func(key, origin string) *http.Response {
		req := httptest.NewRequest("OPTIONS", "/f/"+key, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp := e.Do(req)
		testenv.ReadBody(t, resp)
		require.Less(t, resp.StatusCode, 500)
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"), "never with credentials")
		return resp
	}
	// Form A allows https://shop.example only.
	resp := preflight(e.formA.Key, "https://shop.example")
	require.Equal(t, "https://shop.example", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
	require.Contains(t, strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type")
	require.Contains(t, resp.Header.Get("Vary"), "Origin")
	for _, o := range []string{"https://evil.example", "http://shop.example", "https://shop.example.evil.example", "null", "https://shop.example:444"} {
		resp = preflight(e.formA.Key, o)
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "origin %s", o)
	}
	// Form B allows any origin, without credentials.
	resp = preflight(e.formB.Key, "https://anywhere.example")
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))

	// Actual posts.
	resp = e.postJSON(e.formA.Key, e.validJSON(e.RenderToken(e.formA.Key), "c1@example.com"), "Origin", "https://shop.example")
	testenv.ReadBody(t, resp)
	require.Equal(t, 201, resp.StatusCode)
	require.Equal(t, "https://shop.example", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))

	for _, o := range []string{"https://evil.example", "null", "https://shop.example.evil.example"} {
		resp = e.postJSON(e.formA.Key, e.validJSON(e.RenderToken(e.formA.Key), "c2@example.com"), "Origin", o)
		body := testenv.ReadBody(t, resp)
		require.Equal(t, 403, resp.StatusCode, "origin %s: %s", o, body)
		require.Equal(t, "forbidden", testenv.DecodeError(t, body).Error.Code)
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))
	}
	// The form's own server (the hosted page, the iframe) may always post.
	resp = e.postJSON(e.formA.Key, e.validJSON(e.RenderToken(e.formA.Key), "c3@example.com"), "Origin", testenv.BaseURL)
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))

	resp = e.postJSON(e.formB.Key, `{"token":"`+e.RenderToken(e.formB.Key)+`","values":{"email":"c4@example.com"},"consents":{"`+
		strconv.FormatInt(e.consent.ID, 10)+`":true}}`, "Origin", "https://anywhere.example")
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))

	subs, _ := e.counts()
	require.Equal(t, 3, subs, "the refused cross-origin posts stored nothing")
}

// Everything else a visitor can reach says nosniff and is not framable by
// other sites unless it is a form.
func TestHeadersErrorPages(t *testing.T) {
	e := newHardEnv(t, nil)
	for _, path := range []string{"/f/aaaaaaaaaaaaaaaa", "/w/1.bad", "/nope"} {
		resp := e.Do(httptest.NewRequest("GET", path, nil))
		testenv.ReadBody(t, resp)
		require.Equal(t, 404, resp.StatusCode, path)
		require.NotEmpty(t, resp.Header.Get("Content-Security-Policy"), path)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))
	}
}

// TestHSTS: with an https public URL every answer, of every audience and
// for unknown paths too, carries Strict-Transport-Security for a year with
// subdomains; over plain http (local use) none does (issue 15: 17).
func TestHSTS(t *testing.T) {
	for _, base := range []string{"https://" + testenv.Host, testenv.BaseURL} {
		e := newHardEnv(t, func(c *web.Config) { c.BaseURL = base })
		for _, p := range []string{"/healthz", "/f/" + e.formA.Key, "/embed.js", "/admin/login", "/admin/forms",
			"/api/v1/openapi.json", "/api/v1/forms", "/no/such/path"} {
			resp, _ := e.Get(p)
			if strings.HasPrefix(base, "https") {
				assert.Equal(t, "max-age=31536000; includeSubDomains", resp.Header.Get("Strict-Transport-Security"), p)
			} else {
				assert.Empty(t, resp.Header.Get("Strict-Transport-Security"), p)
			}
		}
	}
}
