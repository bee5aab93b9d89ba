package web_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdoc"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// consentVals are the editor's fields of a custom English consent.
func consentVals(name string) url.Values {
	return url.Values{"name": {name}, "type": {"custom"}, "text": {"<p>Please read our policy.</p>"},
		"label": {"I agree to the %privacy policy%."}, "language": {"en"}}
}

// docURL is where the app serves d.
func docURL(d *formbuilder.Document) string { return testenv.BaseURL + d.Path() }

// TestConsentEditorDocument: the admin uploads a PDF in the consent editor;
// it is served from /d/SHA256.pdf, linked from the editor, the form and the
// log; saving other changes keeps it, another file makes a new version
// while the old version keeps its file, and removing it is a version too.
func TestConsentEditorDocument(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	v1pdf := testdoc.PDF("Privacy policy, version one")
	resp, body := e.PostMultipart("/admin/consents", consentVals("Privacy"),
		testenv.File{Field: "document", Name: "Datenschutz.pdf", Data: v1pdf})
	loc := testenv.Location(t, resp, http.StatusSeeOther)
	require.Empty(t, body)
	id := consentIDFrom(t, loc)
	co, err := e.DB.FindConsentByID(t.Context(), id)
	require.NoError(t, err)
	d1 := co.Current.Document
	require.NotNil(t, d1, "the version links to the document")
	assert.Equal(t, "Datenschutz.pdf", d1.Name)
	assert.Equal(t, formbuilder.DocPDF, d1.ContentType)
	assert.Equal(t, sha256Hex(v1pdf), d1.SHA256)

	edit := "/admin/consents/" + strconv.FormatInt(id, 10)
	_, body = e.Get(edit)
	assert.Contains(t, body, `id="current-document"`)
	assert.Contains(t, body, `<a href="/d/`+d1.SHA256+`.pdf" target="_blank" rel="noopener" id="current-document-link">Datenschutz.pdf</a>`)
	assert.Contains(t, body, `name="document_keep" value="`+d1.SHA256+`"`)
	assert.Contains(t, body, `enctype="multipart/form-data"`)

	resp, got := e.Get(d1.Path())
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, v1pdf, []byte(got))

	// The form's label links to exactly that file.
	form := e.SeedForm(&formbuilder.Form{Name: "Contact", Fields: []formbuilder.Field{{Key: "email", Label: "E-mail",
		Kind: formbuilder.KindEmail, Required: true}}, Consents: []formbuilder.FormConsent{{ConsentID: id, Required: true}}})
	_, page := e.Get("/f/" + form.Key)
	assert.Contains(t, page, `href="`+docURL(d1)+`" target="_blank" rel="noopener nofollow">privacy policy`)

	// Saving another change keeps the document (a new version for the text).
	vals := consentVals("Privacy")
	vals.Set("text", "<p>Please read our policy carefully.</p>")
	vals.Set("document_keep", d1.SHA256)
	resp, _ = e.PostMultipart(edit, vals)
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-version")
	co, err = e.DB.FindConsentByID(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, 2, co.Current.Number)
	require.NotNil(t, co.Current.Document)
	assert.Equal(t, d1.SHA256, co.Current.Document.SHA256)
	// Saving unchanged content with the same file again adds nothing.
	resp, _ = e.PostMultipart(edit, vals, testenv.File{Field: "document", Name: "again.pdf", Data: v1pdf})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-unchanged")

	// A second PDF: version 3; version 2 keeps the first file, both served.
	v2pdf := testdoc.PDF("Privacy policy, version two")
	resp, _ = e.PostMultipart(edit, vals, testenv.File{Field: "document", Name: "privacy-2026.pdf", Data: v2pdf})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-version")
	vs, err := e.DB.ListConsentVersions(t.Context(), id)
	require.NoError(t, err)
	require.Len(t, vs, 3)
	assert.Equal(t, sha256Hex(v2pdf), vs[0].Document.SHA256)
	assert.Equal(t, d1.SHA256, vs[1].Document.SHA256)
	for _, v := range vs[:2] {
		resp, got := e.Get(v.Document.Path())
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, v.Document.SHA256, sha256Hex([]byte(got)))
	}
	_, body = e.Get(edit + "/versions")
	assert.Contains(t, body, `href="/d/`+d1.SHA256+`.pdf"`)
	assert.Contains(t, body, `href="/d/`+vs[0].Document.SHA256+`.pdf"`)

	// Removing it is a version of its own; the label opens the text again.
	vals.Set("document_keep", vs[0].Document.SHA256)
	vals.Set("document_remove", "1")
	resp, _ = e.PostMultipart(edit, vals)
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-version")
	co, err = e.DB.FindConsentByID(t.Context(), id)
	require.NoError(t, err)
	assert.Nil(t, co.Current.Document)
	assert.Equal(t, 4, co.Current.Number)
	assert.Equal(t, 2, e.Count("consent_documents"), "no document is ever deleted")

	// The audit trail names the document each edit left the consent with.
	events, err := e.DB.ListAudit(t.Context(), formbuilder.AuditFilter{Target: formbuilder.AuditConsent})
	require.NoError(t, err)
	var docs []string
	for _, ev := range events {
		docs = append(docs, ev.Details["document"])
	}
	assert.Contains(t, docs, d1.SHA256)
	assert.Contains(t, docs, vs[0].Document.SHA256)

	// The url-encoded editor of pages without the file input still works.
	vals = consentVals("Plain")
	resp, _ = e.Post("/admin/consents", vals)
	testenv.Location(t, resp, http.StatusSeeOther)
}

func sha256Hex(b []byte) string { return testenv.SHA256Hex(string(b)) }

// TestConsentEditorRefusesDocuments: a file that is not what it claims,
// or too large, is refused with a 422 naming the document field, and
// nothing is stored; a good file on a page with other errors is not kept
// either, and the page says to choose it again.
func TestConsentEditorRefusesDocuments(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	cases := []struct {
		name, file string
		data       []byte
		msg        string
	}{
		{"png named pdf", "policy.pdf", testdoc.PNG, "must be a PDF, a plain text file (UTF-8) or an HTML page"},
		{"html named pdf", "policy.pdf", []byte(testdoc.HTML), "its content is HTML, not PDF"},
		{"pdf named txt", "policy.txt", testdoc.PDF("x"), "its content is PDF, not plain text"},
		{"empty", "policy.pdf", []byte{}, "is empty"},
		{"too large", "big.pdf", testdoc.Padded("big", formbuilder.MaxDocumentBytes+1), "is larger than 10 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.PostMultipart("/admin/consents", consentVals("Privacy"),
				testenv.File{Field: "document", Name: tc.file, Data: tc.data})
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
			assert.Contains(t, testenv.FieldError(body, "document"), tc.msg)
			assert.Contains(t, body, `href="#document"`, "the error summary links the field")
			assert.Contains(t, body, `id="document" name="document" accept=`)
			assert.Contains(t, body, `aria-invalid="true"`)
			assert.Zero(t, e.Count("consents"))
			assert.Zero(t, e.Count("consent_documents"))
		})
	}
	// A good file is refused with the rest of the page: its other errors
	// (it cannot be kept: choose it again), a link URL besides it, or a
	// kept document that is not stored.
	pdf := []testenv.File{{Field: "document", Name: "policy.pdf", Data: testdoc.PDF("x")}}
	for _, tc := range []struct {
		name        string
		set         url.Values
		files       []testenv.File
		field, want string
	}{
		{"good file, other error", url.Values{"label": {""}}, pdf, "document", "choose policy.pdf again"},
		{"document and link URL", url.Values{"link_url": {"https://example.com/privacy"}}, pdf, "document", "link URL"},
		{"unknown document kept", url.Values{"document_keep": {strings.Repeat("0", 64)}}, nil, "document", "not a stored document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := consentVals("Privacy")
			for k, v := range tc.set {
				vals[k] = v
			}
			resp, body := e.PostMultipart("/admin/consents", vals, tc.files...)
			require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
			assert.Contains(t, testenv.FieldError(body, tc.field), tc.want)
			if tc.set.Has("label") {
				assert.Equal(t, "is required", testenv.FieldError(body, "label"))
			}
			assert.Zero(t, e.Count("consents"))
			assert.Zero(t, e.Count("consent_documents"))
		})
	}
	t.Run("without the CSRF token", func(t *testing.T) {
		vals := consentVals("Privacy")
		vals.Set("_csrf", "forged")
		resp, _ := e.PostMultipart("/admin/consents", vals,
			testenv.File{Field: "document", Name: "policy.pdf", Data: testdoc.PDF("x")})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Zero(t, e.Count("consent_documents"))
	})
}

// TestServedDocumentHeaders: a document is served as the type its bytes
// were checked to be, never sniffed, in a CSP sandbox that runs no script
// and loads nothing, inline under its (escaped) name, cached for a year;
// nothing but its exact path finds it.
func TestServedDocumentHeaders(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	store := func(name string, data []byte) *formbuilder.Document {
		d, err := formbuilder.NewDocument("document", name, data)
		require.NoError(t, err)
		co := &formbuilder.Consent{Name: name, Type: formbuilder.ConsentCustom}
		require.NoError(t, e.DB.CreateConsent(ctx, co, formbuilder.ConsentContent{Label: "I agree to %this%.",
			Language: "en", Document: d}, "seed"))
		return d
	}
	pdf := store(`Daten"schutz erklärung;%41.pdf`, testdoc.PDF("Policy"))
	html := store("policy.html", []byte(testdoc.HTML))
	text := store("policy.txt", []byte("Plain policy\n"))

	cases := []struct {
		d    *formbuilder.Document
		ct   string
		disp string
	}{
		{pdf, "application/pdf", `inline; filename="Daten_schutz erkl_rung;_41.pdf"; filename*=UTF-8''Daten%22schutz%20erkl%C3%A4rung%3B%2541.pdf`},
		{html, "text/html; charset=utf-8", `inline; filename="policy.html"; filename*=UTF-8''policy.html`},
		{text, "text/plain; charset=utf-8", `inline; filename="policy.txt"; filename*=UTF-8''policy.txt`},
	}
	for _, tc := range cases {
		resp, body := e.Get(tc.d.Path())
		require.Equal(t, 200, resp.StatusCode, tc.d.Name)
		h := resp.Header
		assert.Equal(t, tc.ct, h.Get("Content-Type"))
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
		csp := h.Get("Content-Security-Policy")
		assert.True(t, strings.HasPrefix(csp, "sandbox;"), csp)
		assert.Contains(t, csp, "default-src 'none'")
		assert.NotContains(t, csp, "allow-", "a sandbox with nothing allowed")
		assert.Equal(t, tc.disp, h.Get("Content-Disposition"))
		assert.Equal(t, "public, max-age=31536000, immutable", h.Get("Cache-Control"))
		assert.Equal(t, `"`+tc.d.SHA256+`"`, h.Get("ETag"))
		assert.Equal(t, tc.d.SHA256, sha256Hex([]byte(body)))

		// The browser's cache asks again at most with its tag: 304.
		resp, body = e.Get(tc.d.Path(), "If-None-Match", `"`+tc.d.SHA256+`"`)
		assert.Equal(t, http.StatusNotModified, resp.StatusCode)
		assert.Empty(t, body)
		resp = e.Do(testenv.Request(http.MethodHead, tc.d.Path(), nil))
		testenv.ReadBody(t, resp)
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, tc.ct, resp.Header.Get("Content-Type"))
	}
	assert.Contains(t, mustGet(t, e, html.Path()), "<script>", "the page is served as uploaded; the sandbox keeps it inert")

	for _, p := range []string{
		"/d/" + pdf.SHA256 + ".html", // another extension
		"/d/" + pdf.SHA256,
		"/d/" + strings.ToUpper(pdf.SHA256) + ".pdf",
		"/d/" + strings.Repeat("0", 64) + ".pdf",
		"/d/" + pdf.SHA256 + ".pdf.pdf",
		"/d/..%2f..%2fetc%2fpasswd",
	} {
		resp, _ := e.Get(p)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		assert.NotContains(t, resp.Header.Get("Cache-Control"), "immutable", p)
	}
	// There is no way to delete or replace a document.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp := e.Do(testenv.Request(m, pdf.Path(), nil))
		testenv.ReadBody(t, resp)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, m)
	}
}

func mustGet(t *testing.T, e *testenv.Env, path string) string {
	t.Helper()
	resp, body := e.Get(path)
	require.Equal(t, 200, resp.StatusCode, path)
	return body
}

// TestDocumentDownloadsAreRateLimited: one client fetching documents in a
// loop is stopped; a browser revalidating its copy is not counted.
func TestDocumentDownloadsAreRateLimited(t *testing.T) {
	e := testenv.New(t, testenv.WithConfig(func(c *web.Config) { c.RateDocumentIP = 3 }))
	d, err := formbuilder.NewDocument("document", "p.pdf", testdoc.PDF("x"))
	require.NoError(t, err)
	co := &formbuilder.Consent{Name: "P", Type: formbuilder.ConsentCustom}
	require.NoError(t, e.DB.CreateConsent(t.Context(), co, formbuilder.ConsentContent{Label: "%p%", Language: "en", Document: d}, "seed"))
	e.IP = "198.51.100.7"
	for range 3 {
		resp, _ := e.Get(d.Path())
		require.Equal(t, 200, resp.StatusCode)
	}
	resp, _ := e.Get(d.Path())
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp, _ = e.Get(d.Path(), "If-None-Match", `"`+d.SHA256+`"`)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	e.IP = "198.51.100.8"
	resp, _ = e.Get(d.Path())
	assert.Equal(t, 200, resp.StatusCode, "another client has its own count")
}

// TestLogEntryNamesItsDocument: the entry's detail page, its API answer and
// the exports name the document its version linked to, with a link to
// exactly that file, also after the consent got another one.
func TestLogEntryNamesItsDocument(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	ctx := context.Background()
	d1, err := formbuilder.NewDocument("document", "privacy.pdf", testdoc.PDF("one"))
	require.NoError(t, err)
	co := e.SeedConsentContent("Privacy", formbuilder.ConsentContent{Text: "<p>t</p>", Label: "I agree to the %policy%.",
		Language: "en", Document: d1})
	form := e.SeedForm(&formbuilder.Form{Name: "Contact", Fields: []formbuilder.Field{{Key: "email", Label: "E-mail",
		Kind: formbuilder.KindEmail, Required: true}}, Consents: []formbuilder.FormConsent{{ConsentID: co.ID, Required: true}}})
	submit := func() int64 {
		cid := strconv.FormatInt(co.ID, 10)
		resp, body := e.PostRaw("/f/"+form.Key, url.Values{"_token": {e.RenderToken(form.Key)}, "email": {"a@example.com"},
			"consent_" + cid: {"1"}, "consent_" + cid + "_initial": {"0"}}, "Accept", "application/json")
		require.Equal(t, 201, resp.StatusCode, body)
		return int64(testenv.JSON(t, body)["id"].(float64))
	}
	submit()
	// The second file through the editor, which also drops the cached page.
	two := testdoc.PDF("two")
	resp, _ := e.PostMultipart("/admin/consents/"+strconv.FormatInt(co.ID, 10), url.Values{"name": {"Privacy"},
		"type": {"custom"}, "text": {"<p>t</p>"}, "label": {"I agree to the %policy%."}, "language": {"en"}},
		testenv.File{Field: "document", Name: "privacy-2.pdf", Data: two})
	require.Contains(t, testenv.Location(t, resp, http.StatusSeeOther), "msg=consent-version")
	d2, err := e.DB.FindDocument(ctx, sha256Hex(two))
	require.NoError(t, err)
	submit()
	recs := allEntries(t, e)
	require.Len(t, recs, 2)
	for i, d := range []*formbuilder.Document{d1, d2} {
		rec := recs[i]
		_, body := e.Get("/admin/log/" + strconv.FormatInt(rec.ID, 10))
		assert.Contains(t, body, `<a href="/d/`+d.SHA256+`.pdf" target="_blank" rel="noopener" id="document-link">`+d.Name+`</a>`)
		assert.Contains(t, body, `<code class="hash" id="document-hash">`+d.SHA256+`</code>`)

		tok := e.APIToken("reader" + strconv.Itoa(i))
		resp, body := e.API("GET", "/api/v1/consent-records/"+strconv.FormatInt(rec.ID, 10), tok, "")
		require.Equal(t, 200, resp.StatusCode)
		m := testenv.JSON(t, body)
		r := m["record"].(map[string]any)
		assert.Equal(t, docURL(d), r["document_url"])
		assert.Equal(t, d.SHA256, r["document"].(map[string]any)["sha256"])
		assert.Equal(t, d.Path(), r["document"].(map[string]any)["path"])
		v := m["version"].(map[string]any)
		assert.Equal(t, d.SHA256, v["document"].(map[string]any)["sha256"])
	}
	_, csv := e.Get("/admin/log/export.csv")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	require.Len(t, lines, 3)
	// The document columns follow the hash; the double opt-in ones (empty
	// here) come after them.
	assert.Contains(t, lines[0], ",hash,document_sha256,document_url,confirm_by,confirms_id")
	assert.Contains(t, lines[1], ","+d1.SHA256+","+docURL(d1)+",,")
	assert.Contains(t, lines[2], ","+d2.SHA256+","+docURL(d2)+",,")
	_, nd := e.Get("/admin/log/export.ndjson")
	assert.Contains(t, nd, `"document_url":"`+docURL(d1)+`"`)
	assert.Contains(t, nd, `"document_url":"`+docURL(d2)+`"`)
}

// allEntries reads the whole log, oldest first.
func allEntries(t *testing.T, e *testenv.Env) []*formbuilder.ConsentRecord {
	t.Helper()
	var out []*formbuilder.ConsentRecord
	require.NoError(t, e.DB.ExportRecords(t.Context(), formbuilder.RecordFilter{}, func(r *formbuilder.ConsentRecord) error {
		out = append(out, r)
		return nil
	}))
	return out
}

// TestAPIConsentDocument: the API takes a document as the "document" part
// of a multipart body next to the consent's JSON, keeps one by its hash,
// and refuses what the editor refuses, naming the field.
func TestAPIConsentDocument(t *testing.T) {
	e := testenv.New(t)
	tok := e.APIToken("writer")
	send := func(method, path, js string, files ...testenv.File) (*http.Response, string) {
		t.Helper()
		body, ct := testenv.Multipart(url.Values{"consent": {js}}, files...)
		req := testenv.Request(method, path, bytes.NewReader(body), "Authorization", "Bearer "+tok, "Content-Type", ct)
		resp, err := e.App().Test(req, -1)
		require.NoError(t, err)
		return resp, testenv.ReadBody(t, resp)
	}
	js := `{"name":"Privacy","text":"<p>t</p>","label":"I agree to the %policy%.","language":"en"}`
	pdf := testdoc.PDF("API policy")
	resp, body := send("POST", "/api/v1/consents", js, testenv.File{Field: "document", Name: "policy.pdf", Data: pdf})
	require.Equal(t, 201, resp.StatusCode, body)
	m := testenv.JSON(t, body)
	doc := m["current"].(map[string]any)["document"].(map[string]any)
	assert.Equal(t, sha256Hex(pdf), doc["sha256"])
	assert.Equal(t, "policy.pdf", doc["name"])
	assert.Equal(t, "application/pdf", doc["content_type"])
	assert.EqualValues(t, len(pdf), doc["size"])
	assert.Equal(t, "/d/"+sha256Hex(pdf)+".pdf", doc["path"])
	assert.Equal(t, true, m["version_created"])
	path := "/api/v1/consents/" + strconv.FormatInt(int64(m["id"].(float64)), 10)

	// JSON naming the stored document keeps it: no new version.
	resp, body = e.API("PUT", path, tok, `{"name":"Privacy","text":"<p>t</p>","label":"I agree to the %policy%.",
		"language":"en","document":"`+sha256Hex(pdf)+`"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, false, testenv.JSON(t, body)["version_created"])
	// Leaving it out removes it: a PUT replaces the content.
	resp, body = e.API("PUT", path, tok, js)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, true, testenv.JSON(t, body)["version_created"])
	assert.Nil(t, testenv.JSON(t, body)["current"].(map[string]any)["document"])

	for name, tc := range map[string]struct {
		js    string
		files []testenv.File
		field string
		msg   string
	}{
		"disguised":   {js, []testenv.File{{Field: "document", Name: "policy.pdf", Data: testdoc.PNG}}, "document", "must be a PDF"},
		"too large":   {js, []testenv.File{{Field: "document", Name: "p.pdf", Data: testdoc.Padded("x", formbuilder.MaxDocumentBytes+1)}}, "document", "larger than 10 MiB"},
		"unknown":     {`{"name":"P","label":"%p%","language":"en","document":"` + strings.Repeat("1", 64) + `"}`, nil, "document", "not a stored document"},
		"malformed":   {`{"name":"P","label":"%p%","language":"en","document":"x"}`, nil, "document", "SHA-256"},
		"two of them": {`{"name":"P","label":"%p%","language":"en","document":"` + strings.Repeat("1", 64) + `"}`, []testenv.File{{Field: "document", Name: "p.pdf", Data: pdf}}, "document", "another document"},
	} {
		resp, body := send("POST", "/api/v1/consents", tc.js, tc.files...)
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "%s: %s", name, body)
		assert.Contains(t, testenv.DecodeError(t, body).Error.Fields[tc.field], tc.msg, name)
	}
	resp, body = send("POST", "/api/v1/consents", `{"name":"P","bogus":1}`)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	assert.Equal(t, 1, e.Count("consent_documents"))
	assert.Equal(t, 1, e.Count("consents"))
}

// TestUploadBodyLimit: only the routes that take a document, and only for
// a signed-in admin or a valid API token, read bodies larger than
// BodyLimit; every other request keeps the normal limit, decided from its
// header before fasthttp reads the body (a declared length at once, a
// chunked body as soon as it grows past it, Expect: 100-continue with 417).
func TestUploadBodyLimit(t *testing.T) {
	e := testenv.New(t)
	e.Login()
	base := e.Listen()
	csrf := e.CSRF()
	cookie := "cf_session=" + e.Jar["cf_session"]
	tok := e.APIToken("writer")
	big := testdoc.Padded("Big policy", 5<<20)

	post := func(method, path, ct string, body []byte, hdr ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Origin", base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		require.NoError(t, err)
		return resp, testenv.ReadBody(t, resp)
	}
	// announce sends only the header of a request whose body would have
	// length bytes, and reads the answer: a body refused for its size is
	// refused before any of it is read. (A client that writes it anyway
	// may see the connection reset, see TestBodyLimit.)
	announce := func(method, path string, length int, hdr ...string) (*http.Response, string) {
		t.Helper()
		conn := rawConn(t, base)
		fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=x\r\n"+
			"Accept: application/json\r\nContent-Length: %d\r\n", method, path, testenv.Host, length)
		for i := 0; i+1 < len(hdr); i += 2 {
			if hdr[i+1] != "" {
				fmt.Fprintf(conn, "%s: %s\r\n", hdr[i], hdr[i+1])
			}
		}
		fmt.Fprint(conn, "\r\n")
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		return resp, testenv.ReadBody(t, resp)
	}
	form := func(name string) ([]byte, string) {
		vals := consentVals(name)
		vals.Set("_csrf", csrf)
		return testenv.Multipart(vals, testenv.File{Field: "document", Name: name + ".pdf", Data: big})
	}

	// A signed-in admin uploads 5 MiB through the editor.
	body, ct := form("Signed-in")
	resp, text := post("POST", "/admin/consents", ct, body, "Cookie", cookie)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, text)
	assert.Equal(t, 1, e.Count("consent_documents"))

	// Without a session, or with one that does not exist, the same body is
	// refused before it is read: the route keeps the normal limit.
	for _, c := range []string{"", "cf_session=" + strings.Repeat("A", 43)} {
		resp, text = announce("POST", "/admin/consents", len(body), "Cookie", c)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, text)
		assert.Contains(t, text, "larger than 1024 KiB")
		assert.Contains(t, text, "only a signed-in admin or an API token")
	}
	// A good body just under the normal limit still reaches the route,
	// which sends the visitor to sign in.
	small, sct := testenv.Multipart(consentVals("Small"), testenv.File{Field: "document", Name: "s.pdf", Data: testdoc.PDF("s")})
	resp, _ = post("POST", "/admin/consents", sct, small)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Location"), "/admin/login")
	assert.Equal(t, 1, e.Count("consent_documents"))

	// Other routes keep the normal limit, signed in or not; so do paths
	// Fiber would route to the editor but the check does not know.
	for _, p := range []string{"/admin/forms", "/admin/consents/preview", "/admin/consents/1/update-standard",
		"/admin/consents/", "/ADMIN/consents"} {
		resp, text = announce("POST", p, 2<<20, "Cookie", cookie)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, p)
		assert.Contains(t, text, "larger than 1024 KiB", p)
	}

	// Over the upload limit even a signed-in admin is refused.
	resp, text = announce("POST", "/admin/consents", formbuilder.MaxDocumentBytes+2<<20, "Cookie", cookie)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Contains(t, text, "larger than 11264 KiB")

	// A chunked body to another route is cut off once it passes the limit.
	conn := rawConn(t, base)
	fmt.Fprintf(conn, "POST /admin/settings HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Accept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", testenv.Host, cookie)
	go sendChunks(conn, strings.Repeat("a", 256<<10), 8)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	hresp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	text = testenv.ReadBody(t, hresp)
	require.Equal(t, http.StatusRequestEntityTooLarge, hresp.StatusCode, text)

	// Expect: 100-continue: invited with a session, refused at once without.
	for _, tc := range []struct {
		cookie string
		want   string
	}{{cookie, "HTTP/1.1 100 Continue\r\n"}, {"", "HTTP/1.1 417 Expectation Failed\r\n"}} {
		conn := rawConn(t, base)
		fmt.Fprintf(conn, "POST /admin/consents HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\nContent-Type: multipart/form-data; boundary=x\r\n"+
			"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n", testenv.Host, tc.cookie, 5<<20)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
		line, err := bufio.NewReader(conn).ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, tc.want, line)
	}

	// The API's consent writes: a token may send a document, nobody else.
	body, ct = testenv.Multipart(url.Values{"consent": {`{"name":"API","label":"%p%","language":"en"}`}},
		testenv.File{Field: "document", Name: "api.pdf", Data: testdoc.Padded("API policy", 5<<20)})
	resp, text = post("POST", "/api/v1/consents", ct, body, "Authorization", "Bearer "+tok)
	require.Equal(t, http.StatusCreated, resp.StatusCode, text)
	for _, authz := range []string{"", "Bearer cf_" + strings.Repeat("a", 32)} {
		resp, text = announce("POST", "/api/v1/consents", len(body), "Authorization", authz)
		require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, text)
		assert.Equal(t, "too_large", testenv.DecodeError(t, text).Error.Code)
	}
	assert.Equal(t, 2, e.Count("consent_documents"))
}
