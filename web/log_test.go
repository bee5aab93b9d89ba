package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/storage/postgres"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logPaths are the consent log's routes, with ids that exist after seed.
func logPaths(e *logEnv) (admin, api []string) {
	fa, ca := strconv.FormatInt(e.formA.ID, 10), strconv.FormatInt(e.privacy.ID, 10)
	admin = []string{"/admin/log", "/admin/log/1", "/admin/log/export.csv", "/admin/log/export.ndjson",
		"/admin/forms/" + fa + "/log", "/admin/consents/" + ca + "/log"}
	api = []string{"/api/v1/consent-records", "/api/v1/consent-records/1", "/api/v1/consent-records/export"}
	return admin, api
}

var writeVerbs = []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// TestLogRoutesAreReadOnly walks every registered route: nothing but GET
// (and the HEAD Fiber adds to it) exists under the log's paths, so there
// is no handler that could change or delete an entry.
func TestLogRoutesAreReadOnly(t *testing.T) {
	e := newLogEnv(t)
	var seen int
	for _, r := range e.Srv.App().GetRoutes() {
		if !isLogPath(r.Path) {
			continue
		}
		seen++
		assert.Contains(t, []string{http.MethodGet, http.MethodHead}, r.Method, "route %s %s", r.Method, r.Path)
	}
	assert.GreaterOrEqual(t, seen, 2*9, "the log routes are registered (GET and HEAD each)")
}

func isLogPath(p string) bool {
	return p == "/admin/log" || strings.HasPrefix(p, "/admin/log/") ||
		p == "/api/v1/consent-records" || strings.HasPrefix(p, "/api/v1/consent-records/") ||
		strings.HasSuffix(p, "/:id/log")
}

// TestConsentLogHasNoWriteMethods: neither the interface nor the storage
// implementations offer a method that edits or deletes an entry.
func TestConsentLogHasNoWriteMethods(t *testing.T) {
	typ := reflect.TypeOf((*formbuilder.ConsentLog)(nil)).Elem()
	var names []string
	for i := 0; i < typ.NumMethod(); i++ {
		names = append(names, typ.Method(i).Name)
	}
	assert.ElementsMatch(t, []string{"ListRecords", "FindRecord", "ExportRecords", "Withdraw", "Withdrawn",
		"Confirm", "Confirmed", "Verify"}, names, "only appends (withdrawal, confirmation) and reads")
	// Nor does storage: no method that updates or deletes consent records
	// or the log (other tables, like submissions, have retention deletes).
	editRE := regexp.MustCompile(`^(Delete|Update|Edit|Remove|Replace|Purge|Truncate|Modify|Change|Set|Put|Patch|Rewrite|Reseal)`)
	for _, db := range []reflect.Type{reflect.TypeOf(&sqlite.DB{}), reflect.TypeOf(&postgres.DB{})} {
		for i := 0; i < db.NumMethod(); i++ {
			n := db.Method(i).Name
			if editRE.MatchString(n) && (strings.Contains(n, "Record") || strings.Contains(n, "Log")) {
				t.Errorf("%s has %s, which looks like it edits the consent log", db, n)
			}
		}
	}
}

func TestLogWriteVerbsGet405(t *testing.T) {
	e := newLogEnv(t)
	before := e.seed()
	admin, api := logPaths(e)
	for _, p := range admin {
		for _, m := range writeVerbs {
			resp, body := e.admin(m, p)
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s", m, p)
			assert.Contains(t, resp.Header.Get("Allow"), "GET", "%s %s", m, p)
			assert.NotContains(t, resp.Header.Get("Allow"), m, "%s %s", m, p)
			assert.Contains(t, body, "Method not allowed", "an admin page explains it")
		}
	}
	for _, p := range api {
		for _, m := range writeVerbs {
			resp, body := e.api(m, p)
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s", m, p)
			assert.Contains(t, resp.Header.Get("Allow"), "GET", "%s %s", m, p)
			assert.NotContains(t, resp.Header.Get("Allow"), m, "%s %s", m, p)
			assert.Contains(t, body, `"code":"method_not_allowed"`, "%s %s", m, p)
		}
	}
	assert.Equal(t, before, e.all(), "nothing changed")
	e.verifyOK()
}

func TestLogNeedsSignInAndToken(t *testing.T) {
	e := newLogEnv(t)
	e.seed()
	admin, api := logPaths(e)
	for _, p := range admin {
		// Without the env's session cookie.
		resp, err := e.App().Test(testenv.Request("GET", p, nil), -1)
		require.NoError(t, err)
		testenv.ReadBody(e.T, resp)
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
		assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/admin/login"), p)
	}
	for _, p := range api {
		resp, err := e.App().Test(testenv.Request("GET", p, nil), -1)
		require.NoError(t, err)
		body := testenv.ReadBody(e.T, resp)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
		assert.NotContains(t, body, "@example.com", p)
	}
}

var entryRE = regexp.MustCompile(`id="entry-(\d+)"`)

// pageIDs returns the entry ids of an admin list page, in order.
func pageIDs(body string) []int64 {
	var out []int64
	for _, m := range entryRE.FindAllStringSubmatch(body, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		out = append(out, n)
	}
	return out
}

// hrefOf returns the unescaped href of the link with id.
func hrefOf(body, id string) string {
	tag := regexp.MustCompile(`<a [^>]*id="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
	m := regexp.MustCompile(`href="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func reversed(ids []int64) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[len(ids)-1-i] = id
	}
	return out
}

// want returns the ids of recs matching keep, newest first.
func want(recs []*formbuilder.ConsentRecord, keep func(r *formbuilder.ConsentRecord) bool) []int64 {
	var out []int64
	for i := len(recs) - 1; i >= 0; i-- {
		if keep(recs[i]) {
			out = append(out, recs[i].ID)
		}
	}
	return out
}

func TestLogAdminListShowsEntries(t *testing.T) {
	e := newLogEnv(t)
	recs := e.seed()
	resp, body := e.admin("GET", "/admin/log")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, reversed(idsOf(recs)), pageIDs(body), "every entry, newest first")
	first := recs[0]
	row := rowOf(t, body, first.ID)
	assert.Contains(t, row, ">"+first.Time.UTC().Format("2006-01-02 15:04:05")+"</time>")
	assert.Contains(t, row, "Privacy v1")
	assert.Contains(t, row, "=Olga Owner", "the responsible user")
	assert.Contains(t, row, "203.0.113.7")
	assert.Contains(t, row, "Contact A")
	assert.Contains(t, row, "https://shop.example/contact")
	assert.Contains(t, row, "=HYPERLINK@example.com")
	assert.Contains(t, row, "withdrawn later", "the current state: a later entry withdrew it")
	assert.Contains(t, row, "pre-ticked, untouched")

	wd := recs[len(recs)-1]
	require.Equal(t, formbuilder.ActionWithdrawn, wd.Action)
	assert.Contains(t, rowOf(t, body, wd.ID), "withdrawal")
	assert.Contains(t, rowOf(t, body, wd.ID), `href="/admin/log/`+strconv.FormatInt(first.ID, 10)+`"`)

	interacted := recs[1]
	require.True(t, interacted.Interacted)
	assert.NotContains(t, rowOf(t, body, interacted.ID), "pre-ticked")
	assert.NotContains(t, rowOf(t, body, interacted.ID), "withdrawn")

	assert.Equal(t, "/admin/log/export.csv", hrefOf(body, "export-csv"))
	assert.Equal(t, "/admin/log/export.ndjson", hrefOf(body, "export-ndjson"))
	assert.Contains(t, body, `aria-current="page">Received consents`)
}

// rowOf returns the table row of entry id.
func rowOf(t *testing.T, body string, id int64) string {
	t.Helper()
	i := strings.Index(body, entryID(id))
	require.GreaterOrEqual(t, i, 0, "entry %d is listed", id)
	j := strings.Index(body[i:], "</tr>")
	require.Greater(t, j, 0)
	return html.UnescapeString(body[i : i+j])
}

func TestLogAdminFilters(t *testing.T) {
	e := newLogEnv(t)
	recs := e.seed()
	fa, fb := strconv.FormatInt(e.formA.ID, 10), strconv.FormatInt(e.formB.ID, 10)
	news := strconv.FormatInt(e.news.ID, 10)
	day2 := recs[0].Time.UTC().AddDate(0, 0, 1).Format("2006-01-02")
	cases := []struct {
		query string
		keep  func(r *formbuilder.ConsentRecord) bool
	}{
		{"form_id=" + fb, func(r *formbuilder.ConsentRecord) bool { return r.FormID == e.formB.ID }},
		{"consent_id=" + news, func(r *formbuilder.ConsentRecord) bool { return r.ConsentID == e.news.ID }},
		{"consent_id=" + news + "&form_id=" + fa, func(r *formbuilder.ConsentRecord) bool {
			return r.ConsentID == e.news.ID && r.FormID == e.formA.ID
		}},
		{"ip=203.0.113.7", func(r *formbuilder.ConsentRecord) bool { return r.IP == "203.0.113.7" }},
		{"ip=2001:DB8:0::1", func(r *formbuilder.ConsentRecord) bool { return r.IP == "2001:db8::1" }},
		{"q=" + url.QueryEscape("müller"), func(r *formbuilder.ConsentRecord) bool { return strings.Contains(r.Subject, "müller") }},
		{"q=shop.example%2Fb", func(r *formbuilder.ConsentRecord) bool { return strings.Contains(r.PageURL, "shop.example/b") }},
		{"action=withdrawn", func(r *formbuilder.ConsentRecord) bool { return r.Action == formbuilder.ActionWithdrawn }},
		{"since=" + day2, func(r *formbuilder.ConsentRecord) bool { return r.Time.Format("2006-01-02") >= day2 }},
		{"until=" + recs[0].Time.UTC().Format("2006-01-02"), func(r *formbuilder.ConsentRecord) bool {
			return r.Time.Format("2006-01-02") <= recs[0].Time.UTC().Format("2006-01-02")
		}},
		{"since=" + url.QueryEscape(recs[3].Time.Format("2006-01-02T15:04:05.999999999Z07:00")) +
			"&until=" + url.QueryEscape(recs[6].Time.Format("2006-01-02T15:04:05.999999999Z07:00")),
			func(r *formbuilder.ConsentRecord) bool {
				return !r.Time.Before(recs[3].Time) && r.Time.Before(recs[6].Time)
			}},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			ids := want(recs, tc.keep)
			require.NotEmpty(t, ids, "the case selects something")
			require.Less(t, len(ids), len(recs), "the case filters something")
			resp, body := e.admin("GET", "/admin/log?"+tc.query)
			require.Equal(t, 200, resp.StatusCode, body)
			assert.Equal(t, ids, pageIDs(body))
			assert.Contains(t, body, `id="reset-filter"`)
			// The downloads carry the same filter.
			assert.True(t, strings.HasPrefix(hrefOf(body, "export-csv"), "/admin/log/export.csv?"), hrefOf(body, "export-csv"))

			// The API answers the same entries.
			resp, js := e.api("GET", "/api/v1/consent-records?"+tc.query)
			require.Equal(t, 200, resp.StatusCode, js)
			var page apiPage
			require.NoError(t, json.Unmarshal([]byte(js), &page))
			var got []int64
			for _, r := range page.Records {
				got = append(got, r.ID)
			}
			assert.Equal(t, ids, got)
		})
	}

	// The per-form and per-consent pages are the list with that filter fixed.
	resp, body := e.admin("GET", "/admin/forms/"+fb+"/log")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, want(recs, func(r *formbuilder.ConsentRecord) bool { return r.FormID == e.formB.ID }), pageIDs(body))
	assert.Contains(t, html.UnescapeString(body), "Received consents: -Shop, \"B\"")
	assert.NotContains(t, body, `id="filter-form_id"`)
	assert.Equal(t, "/admin/log/export.csv?form_id="+fb, hrefOf(body, "export-csv"))
	resp, body = e.admin("GET", "/admin/consents/"+news+"/log?ip=198.51.100.2")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, want(recs, func(r *formbuilder.ConsentRecord) bool {
		return r.ConsentID == e.news.ID && r.IP == "198.51.100.2"
	}), pageIDs(body))
	resp, _ = e.admin("GET", "/admin/forms/999/log")
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = e.admin("GET", "/admin/consents/999/log")
	assert.Equal(t, 404, resp.StatusCode)

	// No match: a message, not an empty table.
	resp, body = e.admin("GET", "/admin/log?ip=192.0.2.99")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, `id="log-empty"`)
}

func TestLogFilterErrors(t *testing.T) {
	e := newLogEnv(t)
	e.seed()
	bad := map[string]string{
		"since=yesterday":                   "since",
		"until=2026-02-30":                  "until",
		"since=2026-03-05&until=2026-03-01": "until",
		"ip=not-an-ip":                      "ip",
		"form_id=abc":                       "form_id",
		"consent_id=-1":                     "consent_id",
		"before=x":                          "before",
		"action=deleted":                    "action",
		"limit=501":                         "limit",
		"q=" + strings.Repeat("x", 201):     "q",
	}
	for q, field := range bad {
		resp, body := e.admin("GET", "/admin/log?"+q)
		assert.Equal(t, 422, resp.StatusCode, q)
		if field == "before" || field == "limit" {
			assert.Contains(t, body, `id="page-error"`, q)
		} else {
			assert.Contains(t, body, `id="filter-`+field+`-error"`, q)
			assert.Contains(t, body, `href="#filter-`+field+`"`, "the summary links to the input")
		}
		assert.NotContains(t, body, `id="entry-`, q)

		resp, js := e.api("GET", "/api/v1/consent-records?"+q)
		assert.Equal(t, 422, resp.StatusCode, q)
		var er struct {
			Error struct {
				Code   string            `json:"code"`
				Fields map[string]string `json:"fields"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal([]byte(js), &er), js)
		assert.Equal(t, "invalid", er.Error.Code, q)
		assert.Contains(t, er.Error.Fields, field, q)

		resp, _ = e.api("GET", "/api/v1/consent-records/export?"+q)
		assert.Equal(t, 422, resp.StatusCode, q)
		resp, _ = e.admin("GET", "/admin/log/export.csv?"+q)
		assert.Equal(t, 422, resp.StatusCode, q)
	}
	resp, _ := e.api("GET", "/api/v1/consent-records/export?format=xlsx")
	assert.Equal(t, 422, resp.StatusCode)
}

func TestLogAdminPagination(t *testing.T) {
	e := newLogEnv(t)
	recs := e.seed()
	all := reversed(idsOf(recs))
	require.Greater(t, len(all), 7)

	// Older all the way down: every entry once, in order.
	var got []int64
	path := "/admin/log?limit=3"
	var pages []string
	for path != "" {
		resp, body := e.admin("GET", path)
		require.Equal(t, 200, resp.StatusCode, body)
		ids := pageIDs(body)
		require.NotEmpty(t, ids, path)
		require.LessOrEqual(t, len(ids), 3)
		got = append(got, ids...)
		pages = append(pages, path)
		assert.NotContains(t, path, "offset")
		path = hrefOf(body, "page-older")
		if len(pages) == 1 {
			assert.Empty(t, hrefOf(body, "page-newer"), "the first page has nothing newer")
		} else {
			assert.NotEmpty(t, hrefOf(body, "page-newer"), "page %d links to newer ones", len(pages))
			assert.Equal(t, "/admin/log?limit=3", hrefOf(body, "page-newest"))
		}
	}
	assert.Equal(t, all, got)

	// And Newer back up from the last page: the same pages in reverse.
	resp, body := e.admin("GET", pages[len(pages)-1])
	require.Equal(t, 200, resp.StatusCode)
	var up []int64
	up = append(pageIDs(body), up...)
	for next := hrefOf(body, "page-newer"); next != ""; next = hrefOf(body, "page-newer") {
		assert.Contains(t, next, "after=")
		resp, body = e.admin("GET", next)
		require.Equal(t, 200, resp.StatusCode)
		up = append(pageIDs(body), up...)
	}
	assert.Equal(t, all[:3], pageIDs(body), "Newer ends on the newest page")
	assert.Equal(t, all, up)

	// Paging keeps the filter.
	fa := strconv.FormatInt(e.formA.ID, 10)
	resp, body = e.admin("GET", "/admin/log?limit=2&form_id="+fa)
	require.Equal(t, 200, resp.StatusCode)
	older := hrefOf(body, "page-older")
	assert.Contains(t, older, "form_id="+fa)
	_, body = e.admin("GET", older)
	for _, id := range pageIDs(body) {
		r, err := e.DB.FindRecord(context.Background(), id)
		require.NoError(t, err)
		assert.Equal(t, e.formA.ID, r.FormID)
	}
}

// apiPage is the answer of GET /api/v1/consent-records.
type apiPage struct {
	Records []struct {
		formbuilder.ConsentRecord
		PreTickedUntouched bool `json:"pre_ticked_untouched"`
		WithdrawnLater     bool `json:"withdrawn_later"`
	} `json:"records"`
	NextBefore *int64 `json:"next_before"`
}

func TestLogAPIPagesChain(t *testing.T) {
	e := newLogEnv(t)
	recs := e.seed()
	for _, limit := range []int{1, 2, 3, 5, len(recs), 500} {
		var got []int64
		path := "/api/v1/consent-records?limit=" + strconv.Itoa(limit)
		for n := 0; ; n++ {
			require.Less(t, n, 100)
			resp, js := e.api("GET", path)
			require.Equal(t, 200, resp.StatusCode, js)
			assert.Equal(t, "application/json", strings.Split(resp.Header.Get("Content-Type"), ";")[0])
			var page apiPage
			require.NoError(t, json.Unmarshal([]byte(js), &page))
			require.LessOrEqual(t, len(page.Records), limit)
			for _, r := range page.Records {
				got = append(got, r.ID)
			}
			if page.NextBefore == nil {
				break
			}
			require.NotEmpty(t, page.Records, "a page with a next link is not empty")
			assert.Equal(t, page.Records[len(page.Records)-1].ID, *page.NextBefore)
			path = "/api/v1/consent-records?limit=" + strconv.Itoa(limit) + "&before=" + strconv.FormatInt(*page.NextBefore, 10)
		}
		assert.Equal(t, reversed(idsOf(recs)), got, "limit %d: pages chain without overlap or gap", limit)
	}

	// With a text search or a time range the API does not probe for the row
	// beyond a full page (that could scan the rest of the log), so the last
	// page may be followed by an empty one; the chain still has no overlap.
	since := recs[2].Time.Format("2006-01-02T15:04:05.999999999Z07:00")
	for _, q := range []string{"q=example", "since=" + url.QueryEscape(since), "action=given"} {
		wantIDs := want(recs, func(r *formbuilder.ConsentRecord) bool {
			switch {
			case strings.HasPrefix(q, "q="):
				return strings.Contains(r.Subject+r.PageURL, "example")
			case strings.HasPrefix(q, "since="):
				return !r.Time.Before(recs[2].Time)
			}
			return r.Action == formbuilder.ActionGiven
		})
		require.Greater(t, len(wantIDs), 4, q)
		var got []int64
		path := "/api/v1/consent-records?limit=2&" + q
		for n := 0; ; n++ {
			require.Less(t, n, 100)
			resp, js := e.api("GET", path)
			require.Equal(t, 200, resp.StatusCode, js)
			var page apiPage
			require.NoError(t, json.Unmarshal([]byte(js), &page))
			for _, r := range page.Records {
				got = append(got, r.ID)
			}
			if page.NextBefore == nil {
				break
			}
			path = "/api/v1/consent-records?limit=2&" + q + "&before=" + strconv.FormatInt(*page.NextBefore, 10)
		}
		assert.Equal(t, wantIDs, got, q)
	}

	// The fields of an entry, and the derived flags.
	resp, js := e.api("GET", "/api/v1/consent-records?limit=500")
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, js, `"next_before":null`)
	var page apiPage
	require.NoError(t, json.Unmarshal([]byte(js), &page))
	byID := map[int64]int{}
	for i, r := range page.Records {
		byID[r.ID] = i
	}
	for _, r := range recs {
		got := page.Records[byID[r.ID]]
		g := got.ConsentRecord
		g.Time = g.Time.UTC()
		assert.Equal(t, *r, g)
		assert.Equal(t, r.PreTickedUntouched(), got.PreTickedUntouched, "entry %d", r.ID)
		assert.Equal(t, r.ID == recs[0].ID, got.WithdrawnLater, "entry %d", r.ID)
	}

	// An empty log page.
	resp, js = e.api("GET", "/api/v1/consent-records?ip=192.0.2.99")
	require.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"records":[],"next_before":null}`, js)
}

func TestLogDetail(t *testing.T) {
	e := newLogEnv(t)
	recs := e.seed()
	first := recs[0]
	resp, body := e.admin("GET", "/admin/log/"+strconv.FormatInt(first.ID, 10))
	require.Equal(t, 200, resp.StatusCode, body)
	text := html.UnescapeString(body)
	assert.Contains(t, body, `We process your data for <b>answering</b> you.`, "the text is rendered as HTML")
	assert.Contains(t, text, "I agree to the <u>privacy terms</u>.")
	assert.Contains(t, text, e.privacy.Current.Hash)
	assert.Contains(t, body, `id="hash-ok"`)
	assert.Contains(t, text, first.Hash)
	assert.Contains(t, text, first.PrevHash)
	assert.Contains(t, text, `=HYPERLINK("http://evil.example","x")`, "the user agent")
	assert.Contains(t, body, `id="initial-state">ticked`)
	assert.Contains(t, body, `id="interacted">no`)
	assert.Contains(t, body, `id="preticked-notice"`)
	assert.Contains(t, body, `id="withdrawn-notice"`)
	assert.Contains(t, text, "https://shop.example/contact")
	assert.Contains(t, text, strconv.FormatInt(first.SubmissionID, 10))
	assert.Contains(t, text, first.Time.UTC().Format("2006-01-02T15:04:05"))

	wd := recs[len(recs)-1]
	resp, body = e.admin("GET", "/admin/log/"+strconv.FormatInt(wd.ID, 10))
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, `href="/admin/log/`+strconv.FormatInt(first.ID, 10)+`" id="withdraws-link"`)
	assert.Contains(t, body, "192.0.2.50")
	assert.NotContains(t, body, `id="initial-state"`)

	for _, p := range []string{"/admin/log/999", "/admin/log/0", "/admin/log/abc"} {
		resp, _ = e.admin("GET", p)
		assert.Equal(t, 404, resp.StatusCode, p)
	}

	// The API: the record and the version's text and label.
	resp, js := e.api("GET", "/api/v1/consent-records/"+strconv.FormatInt(first.ID, 10))
	require.Equal(t, 200, resp.StatusCode, js)
	var got struct {
		Record struct {
			formbuilder.ConsentRecord
			PreTickedUntouched bool `json:"pre_ticked_untouched"`
			WithdrawnLater     bool `json:"withdrawn_later"`
		} `json:"record"`
		Version struct {
			formbuilder.ConsentVersion
			HashOK bool `json:"hash_ok"`
		} `json:"version"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &got))
	got.Record.Time = got.Record.Time.UTC()
	assert.Equal(t, *first, got.Record.ConsentRecord)
	assert.True(t, got.Record.PreTickedUntouched)
	assert.True(t, got.Record.WithdrawnLater)
	assert.Equal(t, e.privacy.Current.Text, got.Version.Text)
	assert.Equal(t, "I agree to the %privacy terms%.", got.Version.Label)
	assert.Equal(t, first.TextHash, got.Version.Hash)
	assert.True(t, got.Version.HashOK)
	for _, p := range []string{"/api/v1/consent-records/999", "/api/v1/consent-records/x"} {
		resp, js = e.api("GET", p)
		assert.Equal(t, 404, resp.StatusCode, p)
		assert.Contains(t, js, `"code":"not_found"`)
	}
}

// decodeCSV parses a CSV export with a plain CSV reader, checks that every
// cell a spreadsheet would take for a formula is neutralised, and returns
// the entries (through formbuilder's decoder).
func decodeCSV(t *testing.T, data []byte) []*formbuilder.ConsentRecord {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	assert.Equal(t, formbuilder.CSVColumns, rows[0])
	for i, row := range rows[1:] {
		for j, cell := range row {
			if cell == "" {
				continue
			}
			assert.NotContains(t, "=+-@\t\r", cell[:1], "row %d %s: %q", i+1, formbuilder.CSVColumns[j], cell)
		}
	}
	var out []*formbuilder.ConsentRecord
	dec := formbuilder.NewCSVDecoder(bytes.NewReader(data))
	for {
		r, err := dec.Decode()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		out = append(out, r)
	}
}

func decodeNDJSON(t *testing.T, data []byte) []*formbuilder.ConsentRecord {
	t.Helper()
	var out []*formbuilder.ConsentRecord
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r formbuilder.ConsentRecord
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		r.Time = r.Time.UTC()
		out = append(out, &r)
	}
	return out
}

// checkNeutralised checks the raw CSV cells of the formula-like values.
func checkNeutralised(t *testing.T, data []byte) {
	t.Helper()
	s := string(data)
	for _, v := range []string{"'=HYPERLINK@example.com", "'+1@example.com", "'-2@example.com", "'+49 30 1234567",
		"'@SUM(A1:A2)", "'-cmd|' /C calc'!A0", "''apostrophe", "''quote@example.com", "'@Newsletter, monthly",
		"'=Olga Owner"} {
		if !strings.Contains(s, v) {
			// Values with separators or quotes are quoted as a whole.
			assert.Contains(t, s, `"`+v, "cell %q is neutralised", v)
		}
	}
	assert.Contains(t, s, `"'=HYPERLINK(""http://evil.example"",""x"")"`)
	assert.Contains(t, s, `"'-Shop, ""B"""`)
}

func TestLogExportRoundTrip(t *testing.T) {
	e := newLogEnv(t)
	recs := e.seed()
	fb := strconv.FormatInt(e.formB.ID, 10)
	onlyB := func() []*formbuilder.ConsentRecord {
		var out []*formbuilder.ConsentRecord
		for _, r := range recs {
			if r.FormID == e.formB.ID {
				out = append(out, r)
			}
		}
		return out
	}()
	cases := []struct {
		name, path, format string
		send               func(method, path string) (*http.Response, string)
		want               []*formbuilder.ConsentRecord
	}{
		{"admin csv", "/admin/log/export.csv", "csv", e.admin, recs},
		{"admin ndjson", "/admin/log/export.ndjson", "ndjson", e.admin, recs},
		{"admin csv of form B", "/admin/log/export.csv?form_id=" + fb, "csv", e.admin, onlyB},
		{"admin csv of a page keeps the whole filter", "/admin/log/export.csv?before=3&limit=1", "csv", e.admin, recs},
		{"api csv", "/api/v1/consent-records/export", "csv", e.api, recs},
		{"api csv explicit", "/api/v1/consent-records/export?format=csv", "csv", e.api, recs},
		{"api ndjson", "/api/v1/consent-records/export?format=ndjson", "ndjson", e.api, recs},
		{"api ndjson of form B", "/api/v1/consent-records/export?format=ndjson&form_id=" + fb, "ndjson", e.api, onlyB},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.send("GET", tc.path)
			require.Equal(t, 200, resp.StatusCode, body)
			assert.Equal(t, formbuilder.ExportContentType(tc.format), resp.Header.Get("Content-Type"))
			cd := resp.Header.Get("Content-Disposition")
			assert.Regexp(t, `^attachment; filename="consent-log-\d{8}T\d{6}Z\.`+tc.format+`"$`, cd)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Empty(t, resp.Header.Get("Content-Length"), "streamed, not buffered")
			var got []*formbuilder.ConsentRecord
			if tc.format == "csv" {
				got = decodeCSV(t, []byte(body))
				if len(tc.want) == len(recs) {
					checkNeutralised(t, []byte(body))
				}
			} else {
				got = decodeNDJSON(t, []byte(body))
			}
			require.Len(t, got, len(tc.want))
			for i := range tc.want {
				assert.Equal(t, *tc.want[i], *got[i], "entry %d", tc.want[i].ID)
				assert.Equal(t, got[i].Hash, got[i].ComputeHash(), "the exported entry still matches its hash")
			}
		})
	}
	// An export of nothing is a valid, empty file.
	resp, body := e.api("GET", "/api/v1/consent-records/export?ip=192.0.2.99")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, strings.Join(formbuilder.CSVColumns, ",")+"\n", body)
	// HEAD gives the headers only.
	resp, body = e.api("HEAD", "/api/v1/consent-records/export")
	require.Equal(t, 200, resp.StatusCode)
	assert.Empty(t, body)
	assert.Contains(t, resp.Header.Get("Content-Disposition"), "attachment")
}

var withdrawHrefRE = regexp.MustCompile(`/w/[^"<\s]+`)

// TestWithdrawalFlow goes from a JSON submission through the withdrawal
// link to the new entry, as a visitor would.
func TestWithdrawalFlow(t *testing.T) {
	e := newLogEnv(t)
	ctx := context.Background()
	// The public form: render token, then a JSON post.
	req, _ := http.NewRequest("GET", "/f/"+e.formA.Key, nil)
	resp := e.Do(req)
	page := testenv.ReadBody(e.T, resp)
	require.Equal(t, 200, resp.StatusCode)
	m := regexp.MustCompile(`name="_token" value="([^"]+)"`).FindStringSubmatch(page)
	require.NotNil(t, m)
	payload, _ := json.Marshal(map[string]any{
		"token":    html.UnescapeString(m[1]),
		"values":   map[string]any{"email": "visitor@example.com"},
		"consents": map[string]any{strconv.FormatInt(e.privacy.ID, 10): map[string]any{"checked": true, "interacted": true}},
		"page_url": "https://shop.example/contact",
	})
	req, _ = http.NewRequest("POST", "/f/"+e.formA.Key, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	resp = e.Do(req)
	js := testenv.ReadBody(e.T, resp)
	require.Equal(t, 201, resp.StatusCode, js)
	var ok struct {
		WithdrawLinks []struct {
			Label string `json:"label"`
			URL   string `json:"url"`
		} `json:"withdraw_links"`
	}
	require.NoError(t, json.Unmarshal([]byte(js), &ok))
	require.Len(t, ok.WithdrawLinks, 1)
	assert.Equal(t, "I agree to the privacy terms.", ok.WithdrawLinks[0].Label)
	link, err := url.Parse(ok.WithdrawLinks[0].URL)
	require.NoError(t, err)
	assert.Equal(t, testenv.Host, link.Host)
	before := e.all()
	require.Len(t, before, 1)
	orig := *before[0]

	// Opening the link shows what was agreed to and changes nothing.
	req, _ = http.NewRequest("GET", link.Path, nil)
	resp = e.Do(req)
	page = testenv.ReadBody(e.T, resp)
	require.Equal(t, 200, resp.StatusCode, page)
	assert.NotContains(t, page, "Privacy", "the consent's internal name is not for visitors")
	assert.Contains(t, page, "We process your data for <b>answering</b> you.")
	assert.Contains(t, html.UnescapeString(page), "I agree to the privacy terms.")
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	assert.Len(t, e.all(), 1, "GET does not withdraw")

	// A tampered token is not found, and appends nothing.
	for _, bad := range []string{
		strings.Replace(link.Path, "/w/1.", "/w/2.", 1),
		link.Path[:len(link.Path)-2] + "xx",
		"/w/1",
		"/w/" + strconv.FormatInt(orig.ID, 10) + ".",
	} {
		for _, method := range []string{"GET", "POST"} {
			req, _ = http.NewRequest(method, bad, nil)
			resp = e.Do(req)
			testenv.ReadBody(e.T, resp)
			assert.Equal(t, 404, resp.StatusCode, "%s %s", method, bad)
		}
	}
	assert.Len(t, e.all(), 1)

	// Confirming appends a withdrawal entry.
	req, _ = http.NewRequest("POST", link.Path, nil)
	req.RemoteAddr = "192.0.2.77:1234"
	resp = e.Do(req)
	page = testenv.ReadBody(e.T, resp)
	require.Equal(t, 200, resp.StatusCode, page)
	after := e.all()
	require.Len(t, after, 2)
	assert.Equal(t, orig, *after[0], "the original entry is untouched")
	wd := after[1]
	assert.Equal(t, formbuilder.ActionWithdrawn, wd.Action)
	assert.Equal(t, orig.ID, wd.WithdrawsID)
	assert.Equal(t, orig.Subject, wd.Subject)
	assert.Equal(t, orig.ConsentID, wd.ConsentID)
	assert.Equal(t, orig.Hash, wd.PrevHash, "the withdrawal extends the chain")
	e.verifyOK()

	// A second withdrawal (page or JSON) appends nothing and says it is done.
	req, _ = http.NewRequest("POST", link.Path, nil)
	resp = e.Do(req)
	testenv.ReadBody(e.T, resp)
	assert.Equal(t, 200, resp.StatusCode)
	req, _ = http.NewRequest("POST", link.Path, nil)
	req.Header.Set("Accept", "application/json")
	resp = e.Do(req)
	js = testenv.ReadBody(e.T, resp)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, js, `"withdrawn":true`)
	assert.Len(t, e.all(), 2)
	// The withdrawal's own id is no withdrawal link.
	w, err := e.DB.Withdrawn(ctx, []int64{orig.ID})
	require.NoError(t, err)
	assert.True(t, w[orig.ID])

	// The admin list shows the current state.
	_, body := e.admin("GET", "/admin/log")
	assert.Contains(t, rowOf(t, body, orig.ID), "withdrawn later")
	assert.Contains(t, rowOf(t, body, wd.ID), "withdrawal")
}

// TestSettingsPagesLinkToTheirLog: the form's and the consent's settings
// pages lead to their received consents.
func TestSettingsPagesLinkToTheirLog(t *testing.T) {
	e := newLogEnv(t)
	fa, ca := strconv.FormatInt(e.formA.ID, 10), strconv.FormatInt(e.privacy.ID, 10)
	resp, body := e.admin("GET", "/admin/forms/"+fa)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "/admin/forms/"+fa+"/log", hrefOf(body, "log-link"))
	resp, body = e.admin("GET", "/admin/consents/"+ca)
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "/admin/consents/"+ca+"/log", hrefOf(body, "log-link"))
}

// failingLog fails an export after `after` entries, like a database error
// half-way through a download, or panics there, like a bug.
type failingLog struct {
	formbuilder.ConsentLog
	after  int
	panics bool
}

func (f failingLog) ExportRecords(ctx context.Context, flt formbuilder.RecordFilter, fn func(*formbuilder.ConsentRecord) error) error {
	n := 0
	return f.ConsentLog.ExportRecords(ctx, flt, func(r *formbuilder.ConsentRecord) error {
		if n == f.after {
			if f.panics {
				panic("export bug (test)")
			}
			return errors.New("disk I/O error (test)")
		}
		n++
		return fn(r)
	})
}

// TestExportErrorAbortsTheDownload: once the first bytes are out the status
// cannot change, so a failure mid-stream must not end like a complete file.
// A panic in the export (which runs outside the request's recover) is
// handled the same way and leaves the server serving.
func TestExportErrorAbortsTheDownload(t *testing.T) {
	for _, panics := range []bool{false, true} {
		t.Run(map[bool]string{false: "error", true: "panic"}[panics], func(t *testing.T) {
			e := newLogEnv(t)
			e.seed()
			var logs syncBuffer
			cfg := e.Cfg
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			svc := testenv.Services(e.DB)
			svc.Log = failingLog{ConsentLog: e.DB, after: 3, panics: panics}
			srv, err := web.New(cfg, svc)
			require.NoError(t, err)
			// A real listener: app.Test's in-memory connection cannot be closed.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			go srv.Listener(ln)
			t.Cleanup(func() { srv.Shutdown(context.Background()) })
			base := "http://" + ln.Addr().String()

			get := func(path string) ([]byte, error) {
				req, _ := http.NewRequest("GET", base+path, nil)
				req.Header.Set("Authorization", "Bearer "+e.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				require.Equal(t, 200, resp.StatusCode)
				return io.ReadAll(resp.Body)
			}
			_, err = get("/api/v1/consent-records/export?format=ndjson")
			require.Error(t, err, "the client sees a broken download, not a short file")
			assert.Contains(t, logs.String(), "consent log export aborted")
			if panics {
				assert.Contains(t, logs.String(), "export bug (test)", "the panic is logged")
				assert.Contains(t, logs.String(), "log_test.go", "with its stack")
			}

			// The same server streams a complete export when nothing fails.
			body, err := get("/api/v1/consent-records/export?format=ndjson&action=withdrawn")
			require.NoError(t, err)
			assert.Len(t, decodeNDJSON(t, body), 1)
		})
	}
}
