package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"github.com/consentforms/consentforms/internal/testenv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// xssHooks replaces alert, confirm, prompt and print in every document and
// frame before any of its scripts run, so a payload that gets to run calls
// the hook instead of opening a dialog. It also records Content-Security-
// Policy refusals of scripts: the CSP is a second line of defence, and a
// refused script means markup got through the first one. The hooks are
// installed through the DevTools protocol, which the pages' CSP does not
// govern.
const xssHooks = `(function () {
  if (window.__cfXSS) { return; }
  var fired = window.__cfXSS = [];
  ['alert', 'confirm', 'prompt', 'print'].forEach(function (name) {
    try {
      Object.defineProperty(window, name, {
        configurable: false, writable: false,
        value: function () { fired.push(name + '(' + Array.prototype.join.call(arguments, ',') + ')'); }
      });
    } catch (e) { fired.push('could not hook ' + name); }
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    var d = e.effectiveDirective || '';
    if (d.indexOf('script') === 0 || d === 'default-src' || d.indexOf('object') === 0) {
      fired.push('CSP refused ' + d + ': ' + (e.blockedURI || 'inline') + ' ' + (e.sample || ''));
    }
  }, true);
})()`

// xssScan looks through a document (and its same-origin frames) for
// markup that only an injection would put there: event handler attributes,
// script URLs, inline or foreign scripts, plugins, <base>, meta refresh.
const xssScan = `(function () {
  var bad = [];
  var urlAttrs = {href: 1, src: 1, action: 1, formaction: 1, 'xlink:href': 1, data: 1, background: 1,
    lowsrc: 1, dynsrc: 1, poster: 1, srcdoc: 1};
  function scan(doc, where) {
    if (doc.defaultView && doc.defaultView.__cfXSS === undefined) { bad.push(where + ': hooks missing'); }
    if (doc.defaultView && doc.defaultView.__cfXSS) {
      doc.defaultView.__cfXSS.forEach(function (f) { bad.push(where + ': ' + f); });
    }
    var all = doc.querySelectorAll('*');
    for (var i = 0; i < all.length; i++) {
      var el = all[i], tag = el.tagName.toLowerCase();
      for (var j = 0; j < el.attributes.length; j++) {
        var a = el.attributes[j], n = a.name.toLowerCase();
        var v = (a.value || '').replace(/[\s\u0000-\u001f]+/g, '').toLowerCase();
        if (n.indexOf('on') === 0) { bad.push(where + ': <' + tag + ' ' + n + '>'); }
        if (urlAttrs[n] && (v.indexOf('javascript:') === 0 || v.indexOf('vbscript:') === 0 ||
            v.indexOf('data:text/html') === 0 || v.indexOf('data:image/svg') === 0)) {
          bad.push(where + ': <' + tag + ' ' + n + '=' + v.slice(0, 60) + '>');
        }
        if (n === 'srcdoc') { bad.push(where + ': <' + tag + ' srcdoc>'); }
      }
      if (tag === 'script') {
        var src = el.getAttribute('src');
        if (!src || new URL(src, doc.baseURI).origin !== location.origin) {
          bad.push(where + ': <script> ' + (src || el.textContent.slice(0, 60)));
        }
      }
      if (tag === 'object' || tag === 'embed' || tag === 'applet' || tag === 'base' || tag === 'frameset') {
        bad.push(where + ': <' + tag + '>');
      }
      if (tag === 'meta' && /refresh|set-cookie|content-security/i.test(el.getAttribute('http-equiv') || '')) {
        bad.push(where + ': <meta http-equiv=' + el.getAttribute('http-equiv') + '>');
      }
      if ((tag === 'iframe' || tag === 'frame') && el.getAttribute('src') &&
          new URL(el.getAttribute('src'), doc.baseURI).origin !== location.origin) {
        bad.push(where + ': foreign <' + tag + ' src=' + el.getAttribute('src').slice(0, 60) + '>');
      }
    }
    var frames = doc.querySelectorAll('iframe');
    for (var k = 0; k < frames.length; k++) {
      try { if (frames[k].contentDocument) { scan(frames[k].contentDocument, where + ' > iframe'); } } catch (e) {}
    }
  }
  scan(document, location.pathname);
  return bad;
})()`

// xssPayloads reads the shared corpus.
func xssPayloads(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "testdata", "xss", "payloads.txt"))
	require.NoError(t, err)
	payloads := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	require.Greater(t, len(payloads), 50)
	return payloads
}

// labelText turns markup into plain text a consent label may hold.
var labelText = strings.NewReplacer("<", "‹", "&", "＆")

func truncRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// oneLine makes s fit a one-line field or a header: no CR, LF or other
// control characters.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// xssApp is a server whose every admin- and visitor-controlled text is a
// payload of the corpus.
type xssApp struct {
	db       *sqlite.DB
	base     string
	email    string
	password string
	payloads []string
	forms    []*formbuilder.Form
	consents []*formbuilder.Consent
	records  []int64    // ids of consent records, to open their detail pages
	subs     [][2]int64 // form id and submission id, for the inbox pages
	withdraw []string   // withdrawal links
	rejected int        // payloads storage refused (refusing is safe too)
}

func newXSSApp(t *testing.T) *xssApp {
	t.Helper()
	ctx := context.Background()
	a := &xssApp{payloads: xssPayloads(t), email: "xss-admin@example.com", password: "correct horse battery staple 42"}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "xss.db"))
	require.NoError(t, err)
	a.db = db
	t.Cleanup(func() { db.Close() })
	p := a.payloads

	hash, err := password.Hash(a.password)
	require.NoError(t, err)
	// The responsible user's name shows in the log.
	u := &formbuilder.User{Email: a.email, Name: truncRunes(oneLine(p[0]), formbuilder.MaxNameLength), PasswordHash: hash}
	require.NoError(t, db.CreateUser(ctx, u))

	for i, payload := range p {
		c := &formbuilder.Consent{Name: truncRunes(payload, formbuilder.MaxNameLength), Type: formbuilder.ConsentCustom}
		// A label is plain text and formbuilder refuses HTML in it, so it
		// carries the payload with look-alikes for "<" and "&" (quotes,
		// javascript: and handler names stay); names and texts carry it as
		// it is.
		label := labelText.Replace(payload)
		if i%2 == 1 {
			// The part between % signs becomes the link to the text.
			label = "I agree to %" + label + "%."
		}
		content := formbuilder.ConsentContent{Language: "en", Label: truncRunes(label, formbuilder.MaxConsentLabel),
			Text: "<p>Consent text " + strconv.Itoa(i) + ".</p>" + payload}
		if i%5 == 0 {
			content.Language = "de"
		}
		content.Sanitize()
		if err := db.CreateConsent(ctx, c, content, truncRunes(oneLine(payload), 100)); err != nil {
			require.Equal(t, formbuilder.EINVALID, formbuilder.ErrorCode(err), "payload %d: %v", i, err)
			a.rejected++
			continue
		}
		a.consents = append(a.consents, c)
	}

	// Forms of MaxFormConsents consents each; every text of the form is a payload.
	for start := 0; start < len(a.consents); start += formbuilder.MaxFormConsents {
		n := start / formbuilder.MaxFormConsents
		pick := func(k int) string { return p[(n*7+k)%len(p)] }
		desc, _ := formbuilder.SanitizeReport(pick(3))
		options := []string{}
		seen := map[string]bool{}
		for k := range 8 {
			o := truncRunes(oneLine(pick(10+k)), 200)
			if strings.TrimSpace(o) != "" && !seen[o] {
				seen[o] = true
				options = append(options, o)
			}
		}
		f := &formbuilder.Form{
			Name:        truncRunes(pick(0), formbuilder.MaxNameLength),
			Title:       truncRunes(pick(1), formbuilder.MaxNameLength),
			Language:    []string{"en", "de"}[n%2],
			Description: desc,
			Fields: []formbuilder.Field{
				{Key: "name", Label: truncRunes(pick(4), formbuilder.MaxLabelLength), Kind: formbuilder.KindName,
					Placeholder: truncRunes(oneLine(pick(5)), 200), Help: truncRunes(pick(6), 200)},
				{Key: "email", Label: truncRunes(pick(7), formbuilder.MaxLabelLength), Kind: formbuilder.KindEmail, Required: true},
				{Key: "message", Label: truncRunes(pick(8), formbuilder.MaxLabelLength), Kind: formbuilder.KindTextarea},
				{Key: "topic", Label: truncRunes(pick(9), formbuilder.MaxLabelLength), Kind: formbuilder.KindSelect, Options: options},
			},
			SubmitLabel:       truncRunes(oneLine(pick(18)), 100),
			SuccessMessage:    truncRunes(pick(19), 500),
			ResponsibleUserID: u.ID,
		}
		for _, c := range a.consents[start:min(start+formbuilder.MaxFormConsents, len(a.consents))] {
			f.Consents = append(f.Consents, formbuilder.FormConsent{ConsentID: c.ID, CheckedByDefault: true, Required: true})
		}
		if err := db.CreateForm(ctx, f); err != nil {
			t.Fatalf("form %d refused: %v", n, err)
		}
		a.forms = append(a.forms, f)
	}

	secret := make([]byte, 32)
	_, err = rand.Read(secret)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &connListener{Listener: ln, conns: map[net.Conn]struct{}{}}
	a.base = "http://" + ln.Addr().String()
	srv, err := web.New(web.Config{
		BaseURL: a.base, Secret: secret, Keys: testenv.NewKeys(t), MinFillTime: 0,
		RateIP: -1, RateForm: -1, RateIPForm: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, web.Services{
		Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db,
		Inbox: db, Outbox: db, Chat: db, Audit: db, Changes: db,
	})
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Listener(cl) }()
	t.Cleanup(func() {
		cl.closeConns()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})

	// Submissions whose values, page URL and user agent are payloads.
	for i, f := range a.forms {
		for k := range 3 {
			a.submit(t, f, p[(i*3+k)%len(p)], i*3+k)
		}
	}
	return a
}

// submit posts one submission of f carrying payload as JSON and records
// its record ids and withdrawal links.
func (a *xssApp) submit(t *testing.T, f *formbuilder.Form, payload string, n int) {
	t.Helper()
	resp, err := http.Get(a.base + "/f/" + f.Key)
	require.NoError(t, err)
	pageBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	const marker = `name="_token" value="`
	i := bytes.Index(pageBytes, []byte(marker))
	require.GreaterOrEqual(t, i, 0)
	rest := pageBytes[i+len(marker):]
	tok := string(rest[:bytes.IndexByte(rest, '"')])

	consents := map[string]bool{}
	for _, fc := range f.Consents {
		consents[strconv.FormatInt(fc.ConsentID, 10)] = true
	}
	values := map[string]any{
		"name":    truncRunes(oneLine(payload), 200),
		"email":   fmt.Sprintf("visitor%d@example.com", n),
		"message": payload,
		"topic":   f.Fields[3].Options[n%len(f.Fields[3].Options)],
	}
	post := func(values map[string]any, pageURL string) (*http.Response, []byte) {
		body, _ := json.Marshal(map[string]any{"token": tok, "values": values, "consents": consents, "page_url": pageURL})
		req, _ := http.NewRequest("POST", a.base+"/f/"+f.Key, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", truncRunes(oneLine(payload), 400))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, b := post(values, "https://shop.example/contact?q="+truncRunes(payload, 1500))
	if resp.StatusCode == 422 {
		// The payload is not a valid name or URL: refusing it is safe;
		// keep it where free text is allowed.
		values["name"] = "Visitor"
		resp, b = post(values, "https://shop.example/contact")
	}
	require.Equal(t, 201, resp.StatusCode, "%s", b)
	var res struct {
		ID            int64 `json:"id"`
		WithdrawLinks []struct {
			URL string `json:"url"`
		} `json:"withdraw_links"`
	}
	require.NoError(t, json.Unmarshal(b, &res))
	a.subs = append(a.subs, [2]int64{f.ID, res.ID})
	for _, l := range res.WithdrawLinks {
		a.withdraw = append(a.withdraw, l.URL)
	}
	recs, err := a.db.ListRecords(context.Background(), formbuilder.RecordFilter{Limit: 1})
	require.NoError(t, err)
	if len(recs) > 0 {
		a.records = append(a.records, recs[0].ID)
	}
}

// xssTab is a browser tab with the hooks installed and dialogs recorded.
type xssTab struct {
	t       *testing.T
	ctx     context.Context
	mu      sync.Mutex
	dialogs []string
	checked int
}

func newXSSTab(t *testing.T) *xssTab {
	t.Helper()
	x := &xssTab{t: t, ctx: needBrowser(t)}
	_, err := chromedp.Call(x.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: xssHooks})
	require.NoError(t, err)
	opened := make(chan struct{}, 16)
	require.NoError(t, chromedp.Listen(x.ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			x.mu.Lock()
			x.dialogs = append(x.dialogs, string(d.Type)+": "+d.Message+" at "+d.URL)
			x.mu.Unlock()
			select {
			case opened <- struct{}{}:
			default:
			}
		}
	}))
	// A dialog blocks the page until it is answered; answer from another
	// goroutine (a listener must not send commands).
	go func() {
		for {
			select {
			case <-x.ctx.Done():
				return
			case <-opened:
				_, _ = chromedp.Call(x.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}
		}
	}()
	return x
}

// settle waits for the document to finish loading and for the error and
// load events of broken images and the like to have fired.
func (x *xssTab) settle() {
	x.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		done, err := chromedp.Run(x.ctx, chromedp.Evaluate[bool](`document.readyState === 'complete' && !window.__cfSubmitting`))
		if err == nil && done {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	require.NoError(x.t, chromedp.Do(x.ctx, chromedp.Sleep(150*time.Millisecond)))
}

// findings returns what the hooks, the dialog listener and the DOM scan
// saw on the current page, and forgets the dialogs.
func (x *xssTab) findings(what string) []string {
	x.t.Helper()
	x.settle()
	bad, err := chromedp.Run(x.ctx, chromedp.Evaluate[[]string](xssScan))
	require.NoError(x.t, err, "%s: scan", what)
	x.mu.Lock()
	bad = append(bad, x.dialogs...)
	x.dialogs = nil
	x.mu.Unlock()
	return bad
}

// check fails the test when the current page ran an injected script or
// holds injected markup.
func (x *xssTab) check(what string) {
	x.t.Helper()
	if bad := x.findings(what); len(bad) > 0 {
		x.t.Errorf("%s: injected script or markup:\n  %s", what, strings.Join(bad, "\n  "))
	}
	x.checked++
}

// open navigates and checks the page.
func (x *xssTab) open(url string, status int64) {
	x.t.Helper()
	resp, err := chromedp.Run(x.ctx, chromedp.NavigateResponse(url))
	require.NoError(x.t, err, "navigate to %s", url)
	require.Equal(x.t, status, resp.Status, "status of %s", url)
	x.check(url)
}

// eval runs JavaScript that starts a navigation (a form submit), and waits
// for the new document.
func (x *xssTab) navigateBy(js string) {
	x.t.Helper()
	_, err := chromedp.Run(x.ctx, chromedp.Evaluate[bool](`window.__cfSubmitting = true; `+js+`; true`))
	require.NoError(x.t, err)
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		gone, err := chromedp.Run(x.ctx, chromedp.Evaluate[bool](`!window.__cfSubmitting && document.readyState === 'complete'`))
		if err == nil && gone {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	x.t.Fatal("the page did not navigate")
}

// TestXSSCorpus pushes the XSS corpus through consent names, labels and
// texts, form texts, field labels, placeholders, help and options, and
// submitted values, page URLs and user agents, then renders every place
// they show in headless Chromium: the hosted form (plain and embedded, with
// the texts expanded and re-rendered with errors), the success and
// withdrawal pages, the admin lists and detail pages, and the exports. No
// script may run and no injected markup may appear.
func TestXSSCorpus(t *testing.T) {
	x := newXSSTab(t)
	requireProbeWorks(t, x)
	a := newXSSApp(t)
	t.Logf("%d payloads: %d consents, %d forms, %d withdrawal links; %d payloads refused by validation",
		len(a.payloads), len(a.consents), len(a.forms), len(a.withdraw), a.rejected)
	require.GreaterOrEqual(t, len(a.consents), len(a.payloads)*9/10, "most payloads are stored, so they are rendered")

	// The hosted form.
	for i, f := range a.forms {
		variants := []string{""}
		if i%3 == 0 {
			// The iframe variant differs in chrome only, not in texts.
			variants = append(variants, "?embed=1")
		}
		for _, q := range variants {
			x.open(a.base+"/f/"+f.Key+q, 200)
			// Untick every box: the consent texts open in place.
			_, err := chromedp.Run(x.ctx, chromedp.Evaluate[int](`(function () {
			  var n = 0;
			  document.querySelectorAll('input[type=checkbox][name^="consent_"]').forEach(function (b) {
			    if (b.checked) { b.click(); n++; } });
			  return n; })()`))
			require.NoError(t, err)
			x.check(f.Key + q + " with the consent texts open")
		}
	}

	// Re-rendered with errors: every value is a payload and the required
	// consents are not ticked. form.submit() skips the widget's own check,
	// as a browser without JavaScript would.
	for i, f := range a.forms[:min(3, len(a.forms))] {
		x.open(a.base+"/f/"+f.Key, 200)
		p := a.payloads[(i*11+5)%len(a.payloads)]
		x.navigateBy(`(function () {
		  var p = ` + js(p) + `;
		  document.querySelectorAll('input[type=text], input:not([type]), textarea, input[type=email], input[type=tel]').forEach(function (el) {
		    if (el.name && el.name.charAt(0) !== '_' && el.name !== 'website') { el.value = p; } });
		  document.querySelectorAll('input[type=checkbox][name^="consent_"]').forEach(function (b) { b.checked = false; });
		  document.querySelector('form').submit();
		})()`)
		x.check(f.Key + " re-rendered with errors")
		body, err := chromedp.Run(x.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		require.NoError(t, err)
		require.NotEmpty(t, body)
	}

	// The success page shows the form's success message.
	f := a.forms[0]
	x.open(a.base+"/f/"+f.Key, 200)
	x.navigateBy(`(function () {
	  document.querySelector('input[name=email]').value = 'ok@example.com';
	  document.querySelectorAll('input[type=checkbox][name^="consent_"]').forEach(function (b) { b.checked = true; });
	  document.querySelector('form').submit();
	})()`)
	x.check("success page")

	// Withdrawal pages show consent names and texts.
	for i := 0; i < len(a.withdraw); i += max(1, len(a.withdraw)/8) {
		x.open(a.withdraw[i], 200)
	}

	// The admin: sign in through the login form.
	x.open(a.base+"/admin/login", 200)
	x.navigateBy(`(function () {
	  document.querySelector('input[name=email]').value = ` + js(a.email) + `;
	  document.querySelector('input[name=password]').value = ` + js(a.password) + `;
	  document.querySelector('input[name=password]').form.submit();
	})()`)
	loc, err := chromedp.Run(x.ctx, chromedp.Location())
	require.NoError(t, err)
	require.NotContains(t, loc, "/admin/login", "signed in")
	x.check("after sign-in")

	pages := []string{"/admin/forms", "/admin/consents", "/admin/log", "/admin/settings"}
	for _, f := range a.forms[:min(3, len(a.forms))] {
		id := strconv.FormatInt(f.ID, 10)
		pages = append(pages, "/admin/forms/"+id, "/admin/forms/"+id+"/embed", "/admin/forms/"+id+"/preview",
			"/admin/forms/"+id+"/log", "/admin/forms/"+id+"/fields/1", "/admin/forms/"+id+"/fields/4")
	}
	for i := 0; i < len(a.consents); i += max(1, len(a.consents)/6) {
		id := strconv.FormatInt(a.consents[i].ID, 10)
		pages = append(pages, "/admin/consents/"+id, "/admin/consents/"+id+"/versions", "/admin/consents/"+id+"/log")
	}
	for i := 0; i < len(a.records); i += max(1, len(a.records)/6) {
		pages = append(pages, "/admin/log/"+strconv.FormatInt(a.records[i], 10))
	}
	// The submissions inbox shows the submitted values themselves.
	for i := 0; i < len(a.subs); i += max(1, len(a.subs)/6) {
		fid := strconv.FormatInt(a.subs[i][0], 10)
		pages = append(pages, "/admin/forms/"+fid+"/submissions",
			"/admin/forms/"+fid+"/submissions/"+strconv.FormatInt(a.subs[i][1], 10))
	}
	for _, p := range pages {
		x.open(a.base+p, 200)
	}

	// The exports are downloads (Content-Disposition: attachment), which a
	// browser saves instead of showing. Fetch them with the admin's session,
	// check the headers, then show the bytes as text/plain from another
	// server: whatever the cells hold, nothing may run.
	exports := map[string][]byte{}
	inbox := "/admin/forms/" + strconv.FormatInt(a.forms[0].ID, 10) + "/submissions"
	for path, ctype := range map[string]string{"/admin/log/export.csv": "text/csv", "/admin/log/export.ndjson": "application/x-ndjson",
		inbox + "/export.csv": "text/csv", inbox + "/export.ndjson": "application/x-ndjson"} {
		type fetched struct {
			Status int    `json:"status"`
			Type   string `json:"type"`
			Disp   string `json:"disp"`
			Sniff  string `json:"sniff"`
			Body   string `json:"body"`
		}
		// fetch() from the signed-in admin page: same origin, with the
		// session cookie, and the answer is data, never a document.
		res, err := chromedp.Run(x.ctx, chromedp.Evaluate[fetched](`fetch(`+js(path)+`).then(function (r) {
		  return r.text().then(function (b) {
		    return {status: r.status, type: r.headers.get('Content-Type'), disp: r.headers.get('Content-Disposition'),
		      sniff: r.headers.get('X-Content-Type-Options'), body: b};
		  });
		})`, chromedp.EvalAwaitPromise))
		require.NoError(t, err, path)
		require.Equal(t, 200, res.Status, "%s: %.300s", path, res.Body)
		require.True(t, strings.HasPrefix(res.Type, ctype), "%s: Content-Type %q", path, res.Type)
		require.True(t, strings.HasPrefix(res.Disp, "attachment"), "%s: Content-Disposition %q", path, res.Disp)
		require.Contains(t, res.Disp, "filename=")
		require.Equal(t, "nosniff", res.Sniff, path)
		require.Contains(t, res.Body, "visitor0@example.com", "%s has the records", path)
		exports[path] = []byte(res.Body)
	}
	x.check("admin page after the export downloads")
	plain := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(exports[r.URL.Path])
	})}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = plain.Serve(pl) }()
	t.Cleanup(func() { _ = plain.Close() })
	for path := range exports {
		x.open("http://"+pl.Addr().String()+path, 200)
		txt, err := chromedp.Run(x.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		require.NoError(t, err)
		require.Contains(t, txt, "visitor0@example.com", "the export is shown as text")
	}
	t.Logf("checked %d page states", x.checked)
}

// requireProbeWorks shows the probe a page that is vulnerable on purpose,
// once without a CSP (the payloads run and call the hooks) and once with a
// strict one (the browser refuses them): it must report both, or a passing
// corpus test would prove nothing.
func requireProbeWorks(t *testing.T, x *xssTab) {
	t.Helper()
	canary := `<!doctype html><title>canary</title><p>hello <img src="/missing.png" onerror="alert('img')">` +
		`<script>confirm('inline')</script><a href="javascript:alert(1)">link</a>`
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/strict" {
			w.Header().Set("Content-Security-Policy", "default-src 'none'")
		}
		if r.URL.Path == "/missing.png" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, canary)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()

	_, err = chromedp.Run(x.ctx, chromedp.NavigateResponse(base+"/open"))
	require.NoError(t, err)
	got := strings.Join(x.findings("canary"), "\n")
	require.Contains(t, got, "alert(img)", "the hooks catch a script that ran")
	require.Contains(t, got, "confirm(inline)")
	require.Contains(t, got, "onerror", "the scan finds event handlers")
	require.Contains(t, got, "javascript:", "the scan finds script URLs")

	_, err = chromedp.Run(x.ctx, chromedp.NavigateResponse(base+"/strict"))
	require.NoError(t, err)
	got = strings.Join(x.findings("canary under CSP"), "\n")
	require.Contains(t, got, "CSP refused", "a script refused by the CSP still counts")
	require.NotContains(t, got, "alert(img)")
}
