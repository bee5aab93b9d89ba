package web_test

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publicRoutes are the routes anyone may call without credentials, by
// method and path pattern. A route added anywhere else than /admin and
// /api/v1 must be listed here on purpose, or TestEveryRouteIsClassified
// fails: nothing becomes public by accident.
var publicRoutes = map[string]string{
	"GET /healthz":                "liveness",
	"GET /favicon.ico":            "the browser's icon request",
	"GET /f/:key":                 "hosted form",
	"POST /f/:key":                "submission (rate limited)",
	"OPTIONS /f/:key":             "CORS preflight of a submission",
	"GET /w/:token":               "withdrawal page (signed link)",
	"POST /w/:token":              "withdrawal (signed link, rate limited)",
	"GET /static/:name":           "form script and styles",
	"GET /embed.js":               "the loader",
	"GET /c/:key":                 "chat page",
	"GET /c/:key/consent":         "chat consent text",
	"GET /c/:key/messages":        "chat history (visitor id, rate limited)",
	"POST /c/:key/messages":       "chat message (visitor id, rate limited)",
	"POST /c/:key/consent":        "chat consent answer (visitor id, rate limited)",
	"POST /c/:key/consent/reopen": "chat consent asked again (visitor id, rate limited)",
	"GET /c/:key/events":          "chat event stream (visitor id)",
	"GET /admin/login":            "sign-in page",
	"POST /admin/login":           "sign-in (throttled)",
	"GET /admin/static/:name":     "admin script and styles for the sign-in page",
	"GET /api/v1/openapi.json":    "the API's description",
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
