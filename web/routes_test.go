package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publicRoutes are the routes anyone may call without credentials, by
// method and path pattern. A route added anywhere else than /admin and
// /api/v1 must be listed here on purpose, or TestEveryRouteIsClassified
// fails: nothing becomes public by accident.
var publicRoutes = map[string]string{
	"GET /healthz":                       "liveness",
	"GET /favicon.ico":                   "the browser's icon request",
	"GET /f/:key":                        "hosted form",
	"POST /f/:key":                       "submission (rate limited)",
	"OPTIONS /f/:key":                    "CORS preflight of a submission",
	"GET /w/:token":                      "withdrawal page (signed link)",
	"POST /w/:token":                     "withdrawal (signed link, rate limited)",
	"GET /static/:name":                  "form script and styles",
	"GET /embed.js":                      "the loader",
	"GET /.well-known/consentforms-keys": "the public keys that sign receipts and checkpoints",
	"GET /d/:file":                       "a consent's document, named by its SHA-256 (rate limited)",
	"GET /confirm/:token":                "double opt-in confirmation page (signed link)",
	"POST /confirm/:token":               "double opt-in confirmation (signed link, rate limited)",
	"GET /my-consents":                   "self-service: ask for a link by e-mail",
	"POST /my-consents":                  "self-service: the link is mailed if the address is known (rate limited)",
	"GET /my-consents/:token":            "self-service: one's own consents (signed link, one hour)",
	"POST /my-consents/:token":           "self-service: withdraw one of them (signed link, rate limited)",
	"GET /c/:key":                        "chat page",
	"GET /c/:key/consent":                "chat consent text",
	"GET /c/:key/messages":               "chat history (visitor id, rate limited)",
	"POST /c/:key/messages":              "chat message (visitor id, rate limited)",
	"POST /c/:key/consent":               "chat consent answer (visitor id, rate limited)",
	"POST /c/:key/consent/reopen":        "chat consent asked again (visitor id, rate limited)",
	"GET /c/:key/events":                 "chat event stream (visitor id)",
	"GET /admin/login":                   "sign-in page",
	"POST /admin/login":                  "sign-in (throttled)",
	"GET /admin/static/:name":            "admin script and styles for the sign-in page",
	"GET /api/v1/openapi.json":           "the API's description",
}

// staffRoutes are the admin and API routes operators may use besides
// admins, by method and path pattern; every other admin and API route is
// for admins only (httpx.AdminOnly). TestOperatorIsRefusedElsewhere walks
// every route as an operator against this list, so a route opened to
// operators by mistake fails, and so does one closed by mistake.
var staffRoutes = map[string]string{
	"GET /admin":                                     "the start page (a redirect)",
	"POST /admin/logout":                             "signing out",
	"GET /admin/account":                             "one's own account",
	"POST /admin/account":                            "changing one's own name",
	"POST /admin/account/password":                   "changing one's own password",
	"POST /admin/account/language":                   "changing one's own language",
	"GET /admin/forms":                               "the list of their own forms",
	"GET /admin/forms/:id/submissions":               "the inbox of their forms",
	"GET /admin/forms/:id/submissions/export.csv":    "its download",
	"GET /admin/forms/:id/submissions/export.ndjson": "its download",
	"GET /admin/forms/:id/submissions/:sid":          "one submission of their forms",
	"GET /admin/conversations":                       "their conversations",
	"GET /admin/conversations/events":                "live updates of that list",
	"GET /admin/conversations/:id":                   "one of their conversations",
	"GET /admin/conversations/:id/messages":          "its messages (polling)",
	"GET /admin/conversations/:id/events":            "its live updates",
	"POST /admin/conversations/:id/reply":            "answering",
	"POST /admin/conversations/:id/assign":           "taking over or handing on",
	"POST /admin/conversations/:id/read":             "marking read",
	"GET /api/v1/me":                                 "the token's user",
	"PUT /api/v1/me":                                 "changing one's own name and language",
	"POST /api/v1/me/password":                       "changing one's own password",
	"GET /api/v1/forms":                              "the list of their own forms",
	"GET /api/v1/forms/:id/submissions":              "the inbox of their forms",
	"GET /api/v1/forms/:id/submissions/export":       "its download",
	"GET /api/v1/submissions/:id":                    "one submission of their forms",
	"GET /api/v1/conversations":                      "their conversations",
	"GET /api/v1/conversations/:id":                  "one of their conversations",
	"POST /api/v1/conversations/:id/messages":        "answering",
}

var routeParam = regexp.MustCompile(`:[a-z]+`)

// TestEveryRouteIsClassified walks every route of the assembled app and
// sends each one that is not public a request without credentials: admin
// routes must send the browser to the sign-in page, API routes must answer
// 401. A route under neither prefix and not in publicRoutes fails, so every
// route is in exactly one class and none relies on another part having
// registered a middleware first.
func TestEveryRouteIsClassified(t *testing.T) {
	e := testenv.New(t)
	seen := map[string]bool{}
	var admin, api int
	for _, r := range e.App().GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == "CONNECT" || r.Method == "TRACE" {
			continue // HEAD is GET's twin; Fiber adds no others
		}
		key := r.Method + " " + r.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		if _, ok := publicRoutes[key]; ok {
			continue
		}
		path := routeParam.ReplaceAllString(r.Path, "1")
		req := testenv.Request(r.Method, path, strings.NewReader(""))
		if r.Method != http.MethodGet {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		// A bounded wait: an event stream open by mistake would never end.
		resp, err := e.App().Test(req, 5000)
		require.NoError(t, err, key)
		body := testenv.ReadBody(t, resp)
		switch {
		case r.Path == "/admin" || strings.HasPrefix(r.Path, "/admin/"):
			admin++
			assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "%s without a session: %.200s", key, body)
			assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/admin/login"),
				"%s without a session goes to the sign-in page, not %q", key, resp.Header.Get("Location"))
		case strings.HasPrefix(r.Path, "/api/v1/"):
			api++
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s without a token: %.200s", key, body)
			assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", key)
		default:
			t.Errorf("%s is in no class: put it under /admin or /api/v1, or list it in publicRoutes", key)
		}
	}
	for key := range publicRoutes {
		assert.True(t, seen[key], "public route %s is listed but not registered", key)
	}
	// Sanity: the walk reached the routes it is about.
	assert.Greater(t, admin, 50, "admin routes walked")
	assert.Greater(t, api, 20, "API routes walked")
	var keys []string
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%d routes: %d admin, %d API, %d public", len(keys), admin, api, len(publicRoutes))
}

// TestOperatorIsRefusedElsewhere walks every admin and API route as an
// operator (signed in, and with a read-write token) with path ids that
// name the operator's own form, channel and conversation: a route of
// staffRoutes must let them in (its answer is anything but 403), every
// other one must refuse with 403: the admin's 403 page, or the API's JSON
// error. The menu hiding links proves nothing; this walks the server.
func TestOperatorIsRefusedElsewhere(t *testing.T) {
	e := newTeamEnv(t)
	t.Cleanup(func() { _ = e.Srv.Shutdown(context.Background()) }) // ends the event streams
	e.LoginAs(e.operator.Email)
	csrf := e.CSRF()
	seen := map[string]bool{}
	var logout string
	var refused, allowed int
	for _, r := range e.App().GetRoutes(true) {
		key := r.Method + " " + r.Path
		isAdmin := r.Path == "/admin" || strings.HasPrefix(r.Path, "/admin/")
		isAPI := strings.HasPrefix(r.Path, "/api/v1/")
		if seen[key] || r.Method == http.MethodHead || r.Method == "CONNECT" || r.Method == "TRACE" ||
			!isAdmin && !isAPI {
			continue
		}
		seen[key] = true
		if _, open := publicRoutes[key]; open {
			continue
		}
		if key == "POST /admin/logout" {
			logout = key // last: it ends the session the walk uses
			continue
		}
		path := routeParam.ReplaceAllString(r.Path, "1")
		var req *http.Request
		if isAdmin {
			body := url.Values{"_csrf": {csrf}}.Encode()
			req = testenv.Request(r.Method, path, strings.NewReader(body), testenv.SameOrigin...)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range e.Jar {
				req.AddCookie(&http.Cookie{Name: k, Value: v})
			}
		} else {
			req = testenv.Request(r.Method, path, strings.NewReader("{}"), "Authorization", "Bearer "+e.opToken,
				"Content-Type", "application/json")
		}
		// Event streams stay open when they are let in: a short wait
		// tells them from a refusal, which answers at once.
		wait := 5000
		if strings.HasSuffix(r.Path, "/events") {
			wait = 300
		}
		resp, err := e.App().Test(req, wait)
		_, staff := staffRoutes[key]
		if err != nil {
			require.True(t, staff && strings.HasSuffix(r.Path, "/events"), "%s: %v", key, err)
			allowed++
			continue
		}
		body := testenv.ReadBody(t, resp)
		if staff {
			allowed++
			assert.NotEqual(t, http.StatusForbidden, resp.StatusCode, "%s is for operators too: %.300s", key, body)
			assert.False(t, strings.HasPrefix(resp.Header.Get("Location"), "/admin/login"), "%s keeps the operator signed in", key)
			continue
		}
		refused++
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "%s is for admins only: %.300s", key, body)
		if isAdmin {
			assert.Contains(t, body, "<title>Not allowed · consentforms admin</title>", key)
			assert.Contains(t, body, "Your role does not allow this.", key)
		} else {
			assert.Equal(t, formbuilder.EFORBIDDEN, testenv.DecodeError(t, body).Error.Code, key)
		}
	}
	for key := range staffRoutes {
		assert.True(t, seen[key], "staff route %s is listed but not registered", key)
	}
	require.NotEmpty(t, logout)
	resp, _ := e.Post("/admin/logout", url.Values{"_csrf": {csrf}})
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Greater(t, refused, 60, "admin-only routes walked")
	assert.Equal(t, len(staffRoutes)-1, allowed, "staff routes walked (logout apart)")
	t.Logf("as an operator: %d routes refused, %d allowed", refused, allowed+1)
}
