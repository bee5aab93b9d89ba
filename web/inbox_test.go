package web_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const xssValue = `<script>alert("x")</script><img src=x onerror=alert(1)>`

func TestInboxListDetailAndEscaping(t *testing.T) {
	e := newInboxEnv(t)
	subs := e.submitN(2)
	bad := e.submit(e.f, map[string][]string{"name": {xssValue}, "email": {"xss@example.com"},
		"message": {"line one\n" + xssValue}, "topics": {"Sales", "Support"}})

	resp, body := e.Get(e.formPath("/submissions"))
	require.Equal(t, 200, resp.StatusCode, body)
	assert.NotContains(t, body, "<script>alert", "values are escaped")
	assert.NotContains(t, body, "<img src=x")
	assert.Contains(t, body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	assert.Contains(t, body, "Contact &lt;us&gt;")
	for _, s := range append(subs, bad) {
		assert.Contains(t, body, fmt.Sprintf(`id="submission-%d"`, s.ID))
	}
	assert.Less(t, strings.Index(body, fmt.Sprintf(`id="submission-%d"`, bad.ID)),
		strings.Index(body, fmt.Sprintf(`id="submission-%d"`, subs[0].ID)), "newest first")

	resp, body = e.Get(e.formPath(fmt.Sprintf("/submissions/%d", bad.ID)))
	require.Equal(t, 200, resp.StatusCode, body)
	assert.NotContains(t, body, "<script>alert")
	assert.NotContains(t, body, "<img src=x")
	for _, want := range []string{
		"Your name", "Topics", "Sales", "Support", "xss@example.com",
		`<pre class="code value">line one` + "\n" + "&lt;script&gt;",
		"https://shop.example/contact?x=&lt;b&gt;", "203.0.113.9", "Mozilla/5.0 &lt;script&gt;",
	} {
		assert.Contains(t, body, want)
	}
	entries, err := e.DB.RecordsOfSubmission(t.Context(), bad.ID)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Contains(t, body, fmt.Sprintf(`href="/admin/log/%d"`, entries[0].ID), "links to the consent log entry")
	assert.Contains(t, body, "Privacy, version 1")

	// Another form's submission under this form's path is not found; so is
	// garbage.
	o := e.submit(e.other, map[string][]string{"email": {"other@example.com"}})
	resp, _ = e.Get(e.formPath(fmt.Sprintf("/submissions/%d", o.ID)))
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = e.Get(e.formPath("/submissions/99999"))
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = e.Get(e.formPath("/submissions/abc"))
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = e.Get("/admin/forms/424242/submissions")
	assert.Equal(t, 404, resp.StatusCode)

	// The form editor and the list link here.
	_, body = e.Get(e.formPath(""))
	assert.Contains(t, body, `href="`+e.formPath("/submissions")+`"`)
	assert.Contains(t, body, `href="`+e.formPath("/deliveries")+`"`)
}

func TestInboxPagesAndSearch(t *testing.T) {
	e := newInboxEnv(t)
	subs := e.submitN(5)
	id := func(i int) string { return fmt.Sprintf(`id="submission-%d"`, subs[i].ID) }

	resp, body := e.Get(e.formPath("/submissions?limit=2"))
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, id(4))
	assert.Contains(t, body, id(3))
	assert.NotContains(t, body, id(2))
	assert.NotContains(t, body, `id="page-newer"`)
	older := testenv.Find(t, body, `href="([^"]+)" id="page-older"`)
	resp, body = e.Get(strings.ReplaceAll(older, "&amp;", "&"))
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, body, id(2))
	assert.Contains(t, body, id(1))
	newer := testenv.Find(t, body, `href="([^"]+)" id="page-newer"`)
	older = testenv.Find(t, body, `href="([^"]+)" id="page-older"`)
	_, body = e.Get(strings.ReplaceAll(older, "&amp;", "&"))
	assert.Contains(t, body, id(0))
	assert.NotContains(t, body, `id="page-older"`, "the last page")
	_, body = e.Get(strings.ReplaceAll(newer, "&amp;", "&"))
	assert.Contains(t, body, id(4), "back to the newest page")

	_, body = e.Get(e.formPath("/submissions?q=note+3"))
	assert.Contains(t, body, id(3))
	assert.NotContains(t, body, id(2))
	assert.Contains(t, body, `href="`+e.formPath("/submissions/export.csv?q=note&#43;3")+`"`, "downloads keep the search")
	_, body = e.Get(e.formPath("/submissions?q=nothing-like-it"))
	assert.Contains(t, body, `id="inbox-empty"`)

	resp, body = e.Get(e.formPath("/submissions?q=" + strings.Repeat("x", 201)))
	assert.Equal(t, 422, resp.StatusCode)
	assert.NotEmpty(t, testenv.FieldError(body, "inbox-q"))
	resp, body = e.Get(e.formPath("/submissions?before=-1"))
	assert.Equal(t, 422, resp.StatusCode)
	assert.Contains(t, testenv.PageError(body), "not valid")
}

func TestInboxDownloads(t *testing.T) {
	e := newInboxEnv(t)
	e.submit(e.f, map[string][]string{"name": {"=cmd|' /C calc'!A0"}, "email": {"a@example.com"},
		"message": {"two\nlines, \"quoted\""}, "topics": {"Sales", "Support"}})
	e.submitN(2)

	resp, body := e.Get(e.formPath("/submissions/export.csv"))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Regexp(t, `attachment; filename="submissions-`+e.f.Key+`-\d{8}T\d{6}Z\.csv"`, resp.Header.Get("Content-Disposition"))
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 4)
	assert.Equal(t, []string{"id", "time", "subject", "page_url", "ip", "name", "email", "message", "topics", "other_values"}, rows[0])
	assert.Equal(t, "'=cmd|' /C calc'!A0", rows[1][5], "formula neutralised")
	assert.Equal(t, "two\nlines, \"quoted\"", rows[1][7])
	assert.Equal(t, "Sales, Support", rows[1][8])

	resp, body = e.Get(e.formPath("/submissions/export.ndjson?q=v1%40"))
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "application/x-ndjson; charset=utf-8", resp.Header.Get("Content-Type"))
	sc := bufio.NewScanner(strings.NewReader(body))
	var n int
	for sc.Scan() {
		var s formbuilder.Submission
		require.NoError(t, json.Unmarshal(sc.Bytes(), &s))
		assert.Equal(t, "v1@example.com", s.Subject)
		n++
	}
	assert.Equal(t, 1, n)

	resp, _ = e.Get(e.formPath("/submissions/export.csv?q=" + strings.Repeat("y", 300)))
	assert.Equal(t, 422, resp.StatusCode, "a bad search fails before the download starts")
}

func TestInboxAPI(t *testing.T) {
	e := newInboxEnv(t)
	subs := e.submitN(3)
	tok := e.APIToken("inbox")

	resp, body := e.API(http.MethodGet, fmt.Sprintf("/api/v1/forms/%d/submissions?limit=2", e.f.ID), tok, "")
	require.Equal(t, 200, resp.StatusCode, body)
	var page struct {
		Submissions []formbuilder.Submission `json:"submissions"`
		NextBefore  *int64                   `json:"next_before"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	require.Len(t, page.Submissions, 2)
	assert.Equal(t, subs[2].ID, page.Submissions[0].ID)
	require.NotNil(t, page.NextBefore)
	resp, body = e.API(http.MethodGet, fmt.Sprintf("/api/v1/forms/%d/submissions?limit=2&before=%d", e.f.ID, *page.NextBefore), tok, "")
	require.Equal(t, 200, resp.StatusCode)
	page.NextBefore = nil
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	require.Len(t, page.Submissions, 1)
	assert.Nil(t, page.NextBefore, "last page")
	assert.Equal(t, []string{"note 0"}, page.Submissions[0].Values["message"])

	resp, body = e.API(http.MethodGet, fmt.Sprintf("/api/v1/submissions/%d", subs[1].ID), tok, "")
	require.Equal(t, 200, resp.StatusCode, body)
	m := testenv.JSON(t, body)
	assert.Equal(t, "v1@example.com", m["submission"].(map[string]any)["subject"])
	consents := m["consents"].([]any)
	require.Len(t, consents, 1)
	c0 := consents[0].(map[string]any)
	assert.Equal(t, float64(subs[1].ID), c0["submission_id"])
	assert.Equal(t, false, c0["withdrawn_later"])
	assert.Equal(t, []any{}, m["deliveries"])

	resp, body = e.API(http.MethodGet, fmt.Sprintf("/api/v1/forms/%d/submissions/export?format=ndjson", e.f.ID), tok, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, 3, strings.Count(body, "\n"))
	resp, body = e.API(http.MethodGet, fmt.Sprintf("/api/v1/forms/%d/submissions/export", e.f.ID), tok, "")
	require.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(body, "id,time,subject,page_url,ip,name,email,message,topics,other_values\n"))

	resp, body = e.API(http.MethodGet, fmt.Sprintf("/api/v1/forms/%d/submissions/export?format=xml", e.f.ID), tok, "")
	assert.Equal(t, 422, resp.StatusCode)
	assert.Contains(t, testenv.JSON(t, body)["error"].(map[string]any)["fields"], "format")
	resp, _ = e.API(http.MethodGet, fmt.Sprintf("/api/v1/forms/%d/submissions", e.f.ID), "", "")
	assert.Equal(t, 401, resp.StatusCode)
	resp, _ = e.API(http.MethodGet, "/api/v1/forms/999/submissions", tok, "")
	assert.Equal(t, 404, resp.StatusCode)
	resp, _ = e.API(http.MethodGet, "/api/v1/submissions/999", tok, "")
	assert.Equal(t, 404, resp.StatusCode)
	resp, body = e.API(http.MethodGet, fmt.Sprintf("/api/v1/forms/%d/submissions?before=x", e.f.ID), tok, "")
	assert.Equal(t, 422, resp.StatusCode, body)
}
