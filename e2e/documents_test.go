package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdoc"
	"github.com/stretchr/testify/require"
)

// TestAdminUploadsPolicyDocument is issue 18's browser test: an admin
// uploads a PDF in the consent editor; the visitor's label link opens
// exactly that file in a new tab, without a handle on the form's window;
// the log entry names its hash. A second PDF makes a new version: the old
// entry still links to the old file, the form to the new one, and both
// files are served.
func TestAdminUploadsPolicyDocument(t *testing.T) {
	t.Parallel()
	a := newAdminAppAt(t, "127.0.0.6")
	ctx := context.Background()
	dir := t.TempDir()
	writePDF := func(name, text string) (string, []byte) {
		b := testdoc.PDF(text)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p, b
	}
	path1, pdf1 := writePDF("datenschutz.pdf", "Datenschutzerklaerung, Fassung 1")
	path2, pdf2 := writePDF("datenschutz-2027.pdf", "Datenschutzerklaerung, Fassung 2")
	sha1, sha2 := docHash(t, pdf1), docHash(t, pdf2)
	url1, url2 := a.base+"/d/"+sha1+".pdf", a.base+"/d/"+sha2+".pdf"

	v := newTab(t)
	adminSignIn(v, a)

	// The consent with its policy as an uploaded PDF.
	v.navigate(a.base+"/admin/consents/new", 200)
	v.do(
		chromedp.SendKeys(chromedp.ID("name"), "Datenschutz (documents e2e)"),
		chromedp.SendKeys(chromedp.ID("text"), "<p>Bitte lesen Sie unsere Datenschutzerklärung.</p>"),
		chromedp.SendKeys(chromedp.ID("label"), "Ich stimme der %Datenschutzerklärung% zu."),
		chromedp.SetUploadFiles(chromedp.ID("document"), []string{path1}),
	)
	adminSelect(v, "#language", "de")
	adminSubmit(v, "#save-consent")
	require.Contains(t, adminLocation(v), "msg=consent-created")
	consentID := adminIDFrom(v, "/admin/consents/")
	require.Equal(t, "/d/"+sha1+".pdf", evalJS[string](v, `document.getElementById('current-document-link').getAttribute('href')`))
	co, err := a.db.FindConsentByID(ctx, consentID)
	require.NoError(t, err)
	require.NotNil(t, co.Current.Document)
	require.Equal(t, sha1, co.Current.Document.SHA256)
	require.Equal(t, "datenschutz.pdf", co.Current.Document.Name)

	form := &formbuilder.Form{Name: "Kontakt (documents e2e)", Language: "de",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: consentID, CheckedByDefault: false, Required: true}}}
	require.NoError(t, a.db.CreateForm(ctx, form))

	// The visitor's label link opens the PDF in a new tab.
	visitor := newTab(t)
	visit := func(wantURL string) int64 {
		t.Helper()
		visitor.navigate(a.base+"/f/"+form.Key, 200)
		link := `document.querySelector('#cf-form .cf-consent__link')`
		require.Equal(t, wantURL, evalJS[string](visitor, link+`.href`))
		require.Equal(t, "_blank", evalJS[string](visitor, link+`.target`))
		require.Contains(t, evalJS[string](visitor, link+`.rel`), "noopener")
		opened := openedTab(visitor, func() { visitor.do(chromedp.Click(chromedp.CSS("#cf-form .cf-consent__link"))) }, wantURL)
		opened.waitJS("the document loaded", `document.readyState === 'complete'`)
		require.Equal(t, "application/pdf", evalJS[string](opened, `document.contentType`))
		require.True(t, evalJS[bool](opened, `window.opener === null`), "the document has no handle on the form's window")

		visitor.do(
			chromedp.SendKeys(chromedp.ID("cf-field-email"), "grace@example.com"),
			chromedp.Click(chromedp.ID("cf-consent-"+strconv.FormatInt(consentID, 10))),
			chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")),
		)
		visitor.waitJS("the success page", `document.getElementById('cf-success')`)
		recs, err := a.db.ListRecords(ctx, formbuilder.RecordFilter{FormID: form.ID, Limit: 1})
		require.NoError(t, err)
		require.Len(t, recs, 1)
		return recs[0].ID
	}
	first := visit(url1)

	// The log entry names the document's hash and links exactly that file.
	entry := func(id int64, sha string) {
		t.Helper()
		v.navigate(a.base+"/admin/log/"+strconv.FormatInt(id, 10), 200)
		require.Equal(t, sha, evalJS[string](v, `document.getElementById('document-hash').innerText`))
		require.Equal(t, "/d/"+sha+".pdf", evalJS[string](v, `document.getElementById('document-link').getAttribute('href')`))
	}
	entry(first, sha1)

	// A second PDF: a new version.
	v.navigate(a.base+"/admin/consents/"+strconv.FormatInt(consentID, 10), 200)
	v.do(chromedp.SetUploadFiles(chromedp.ID("document"), []string{path2}))
	adminSubmit(v, "#save-consent")
	require.Contains(t, adminLocation(v), "msg=consent-version")
	require.Equal(t, "/d/"+sha2+".pdf", evalJS[string](v, `document.getElementById('current-document-link').getAttribute('href')`))
	co, err = a.db.FindConsentByID(ctx, consentID)
	require.NoError(t, err)
	require.Equal(t, 2, co.Current.Number)
	require.Equal(t, sha2, co.Current.Document.SHA256)

	second := visit(url2)
	entry(second, sha2)
	entry(first, sha1) // the old entry still links to the old file

	for u, want := range map[string][]byte{url1: pdf1, url2: pdf2} {
		resp, err := http.Get(u)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, u)
		require.Equal(t, want, body, "%s is served byte for byte", u)
	}
	vr, err := a.db.Verify(ctx)
	require.NoError(t, err)
	require.True(t, vr.OK(), "%+v", vr)
	v.requireClean()
	visitor.requireClean()
}

// docHash is the SHA-256 a document is stored under.
func docHash(t *testing.T, b []byte) string {
	t.Helper()
	d, err := formbuilder.NewDocument("document", "x.pdf", b)
	require.NoError(t, err)
	return d.SHA256
}

// openedTab runs click, which opens url in a new tab, and returns that tab.
// A link with rel=noopener gives the new tab no opener, so it is found by
// its URL among the browser's targets.
func openedTab(v *view, click func(), url string) *view {
	v.t.Helper()
	before := map[target.ID]bool{}
	infos, err := chromedp.Targets(v.ctx)
	require.NoError(v.t, err)
	for _, in := range infos {
		before[in.TargetID] = true
	}
	click()
	id := v.waitTarget("a new tab at "+url, func(in *target.Info) bool {
		return in.Type == "page" && !before[in.TargetID] && in.URL == url
	})
	ctx, cancel := chromedp.NewContext(v.ctx, chromedp.WithTargetID(id))
	v.t.Cleanup(cancel)
	require.NoError(v.t, chromedp.Do(ctx), "attach to the new tab")
	return &view{t: v.t, ctx: ctx, name: "tab " + url}
}
