package widget

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/consentforms/consentforms/formbuilder"
)

// The browser tests run form.js and embed.js in headless Chromium against a
// small stand-in of the web package that follows the same contract (hidden
// fields, JSON answers, CSP). The form server and the host page have
// different origins (127.0.0.1 and localhost) so origin checks are real.

const (
	redirectKey = "redirectformkey2"
	germanKey   = "germanformkey234"
	// longLabelKey has a consent label with a long URL and a long German
	// compound, words wider than a phone.
	longLabelKey = "longlabelformkey"
	// closedKey may be framed only by the form server itself, as a form
	// whose allowed origins leave the host page out.
	closedKey = "closedformkey234"
)

// longLabel is the label of longLabelKey's first consent.
const longLabel = "I agree that ACME may answer me as described at https://www.example.com/legal/privacy_policy/processing_of_personal_data_sent_through_the_contact_form_2026 " +
	"under the %Datenschutzgrundverordnungsumsetzungsbestimmungen%."

type seenPost struct {
	values      url.Values
	contentType string
	accept      string
}

type stack struct {
	t       *testing.T
	r       *Renderer
	forms   *httptest.Server
	host    *httptest.Server
	hostURL string // http://localhost:port
	mu      sync.Mutex
	posts   []seenPost
}

func (s *stack) postCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts)
}

func (s *stack) lastPost() seenPost {
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(s.t, s.posts)
	return s.posts[len(s.posts)-1]
}

func (s *stack) form(key string) *formbuilder.Form {
	f := fixtureForm("en")
	if key == germanKey {
		f = fixtureForm("de")
		f.Key = germanKey
	}
	f.SuccessMessage = "Thanks, we will be in touch."
	switch key {
	case longLabelKey, closedKey:
		f.Key = key
	}
	if key == longLabelKey {
		c := *f.Consents[0].Consent
		v := *c.Current
		v.Label = longLabel
		c.Current = &v
		f.Consents[0].Consent = &c
	}
	if key == redirectKey {
		f.Key = redirectKey
		f.RedirectURL = s.hostURL + "/thanks"
	}
	return f
}

func newStack(t *testing.T) *stack {
	s := &stack{t: t}
	s.forms = httptest.NewServer(http.HandlerFunc(s.serveForms))
	t.Cleanup(s.forms.Close)
	s.host = httptest.NewServer(http.HandlerFunc(s.serveHost))
	t.Cleanup(s.host.Close)
	s.hostURL = strings.Replace(s.host.URL, "127.0.0.1", "localhost", 1)
	r, err := New(Options{BaseURL: s.forms.URL})
	require.NoError(t, err)
	s.r = r
	return s
}

func (s *stack) serveForms(w http.ResponseWriter, req *http.Request) {
	p := req.URL.Path
	switch {
	case p == "/embed.js" || strings.HasPrefix(p, "/static/"):
		a, ok := s.r.Asset(strings.TrimPrefix(strings.TrimPrefix(p, "/static/"), "/"))
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", a.ContentType)
		w.Write(a.Body)
	case strings.HasPrefix(p, "/f/"):
		s.serveForm(w, req, strings.TrimPrefix(p, "/f/"))
	case strings.HasPrefix(p, "/c/"):
		s.serveChat(w, req, strings.TrimPrefix(p, "/c/"))
	default:
		http.NotFound(w, req)
	}
}

func (s *stack) html(w http.ResponseWriter, code int, body []byte) {
	s.htmlFramedBy(w, code, body, "'self' "+s.hostURL)
}

// htmlFramedBy sends a page that ancestors may frame.
func (s *stack) htmlFramedBy(w http.ResponseWriter, code int, body []byte, ancestors string) {
	// The policy the web package is expected to send: nothing inline.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors "+ancestors)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(body)
}

func (s *stack) serveForm(w http.ResponseWriter, req *http.Request, key string) {
	f := s.form(key)
	q := req.URL.Query()
	if req.Method == http.MethodGet {
		out, err := s.r.FormPage(f, PageState{Embed: q.Get("embed") == "1", Origin: q.Get("origin"), PageURL: q.Get("page"), Token: "tok"})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if key == closedKey {
			s.htmlFramedBy(w, 200, out, "'self'")
			return
		}
		s.html(w, 200, out)
		return
	}
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	s.mu.Lock()
	s.posts = append(s.posts, seenPost{values: req.PostForm, contentType: req.Header.Get("Content-Type"), accept: req.Header.Get("Accept")})
	s.mu.Unlock()
	in := formbuilder.SubmissionInput{Values: map[string][]string{}, Consents: map[int64]formbuilder.ConsentInput{}, PageURL: req.PostForm.Get("_page_url")}
	for k, v := range req.PostForm {
		if !strings.HasPrefix(k, "_") && !strings.HasPrefix(k, "consent_") && k != "website" {
			in.Values[k] = v
		}
	}
	for _, fc := range f.Consents {
		n := "consent_" + strconv.FormatInt(fc.ConsentID, 10)
		vid, _ := strconv.ParseInt(req.PostForm.Get(n+"_version"), 10, 64)
		ci := formbuilder.ConsentInput{Checked: req.PostForm.Get(n) == "1", VersionID: vid}
		if req.PostForm.Get(n+"_interacted") == "1" {
			ci.Touched = formbuilder.TouchChanged
		}
		in.Consents[fc.ConsentID] = ci
	}
	_, recs, err := formbuilder.ValidateSubmission(f, in)
	wantsJSON := strings.Contains(req.Header.Get("Accept"), "application/json")
	embed := req.PostForm.Get("_embed") == "1"
	if err != nil {
		if wantsJSON {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(422)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
				"code": formbuilder.ErrorCode(err), "message": formbuilder.ErrorMessage(err),
				"fields": LocalizeErrors(f, formbuilder.ErrorFieldMsgs(err)),
			}})
			return
		}
		st := PageState{Embed: embed, Errors: formbuilder.ErrorFieldMsgs(err), Values: in.Values, Consents: map[int64]bool{}}
		for id, c := range in.Consents {
			st.Consents[id] = c.Checked
		}
		out, rerr := s.r.FormPage(f, st)
		require.NoError(s.t, rerr)
		s.html(w, 422, out)
		return
	}
	var links []WithdrawLink
	for _, rec := range recs {
		links = append(links, WithdrawLink{Label: LabelText(f.Consents[0].Consent.Current.Label), URL: s.forms.URL + "/w/" + strconv.FormatInt(rec.ConsentID, 10)})
	}
	if wantsJSON {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"message": f.SuccessMessage, "withdraw_links": links, "redirect_url": f.RedirectURL})
		return
	}
	out, err := s.r.SuccessPage(f, SuccessState{Embed: embed, Withdraws: links})
	require.NoError(s.t, err)
	s.html(w, 200, out)
}

// serveChat serves the chat page of the German fixtureChannel (its consent
// label wraps in the panel) and as much of the visitor API as shows the
// consent step: the visitor's first message is held, awaiting consent.
func (s *stack) serveChat(w http.ResponseWriter, req *http.Request, path string) {
	ch := fixtureChannel("de")
	q := req.URL.Query()
	switch path {
	case ch.Key:
		out, err := s.r.ChatPage(ch, ChatPageState{Embed: q.Get("embed") == "1", Origin: q.Get("origin"), PageURL: q.Get("page")})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		s.html(w, 200, out)
	case ch.Key + "/messages":
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"state":"awaiting_consent","held":"Hello, is anyone there?","messages":[]}`))
	case ch.Key + "/events":
		// No stream: chat.js falls back to polling.
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, req)
	}
}

func (s *stack) serveHost(w http.ResponseWriter, req *http.Request) {
	src := s.forms.URL + "/embed.js"
	key := fixtureForm("en").Key
	var body string
	switch req.URL.Path {
	case "/inline":
		// Two forms, the loader three times, and a chat tag (one launcher,
		// no iframe before it is opened).
		body = `<h1>Host</h1>
<script src="` + src + `" data-consentforms="inline/` + key + `" async></script>
<p id="between">between</p>
<script src="` + src + `" data-consentforms="inline/` + key + `" data-title="Second form" async></script>
<script src="` + src + `" data-consentforms="chat/chankey" async></script>`
	case "/click":
		body = `<button type="button" id="before">before</button>
<script src="` + src + `" data-consentforms="click/` + key + `" async></script>
<button type="button" id="open">Contact us</button>`
	case "/auto":
		body = `<script src="` + src + `" data-consentforms="auto/` + key + `" data-delay="0.2" async></script>`
	case "/auto-always", "/auto-7d", "/auto-weekly":
		freq := strings.TrimPrefix(req.URL.Path, "/auto-")
		body = `<script src="` + src + `" data-consentforms="auto/` + key + `" data-delay="0.2" data-frequency="` + freq + `" async></script>`
	case "/trigger-hash":
		// As the Embed page writes it: a selector, away from the tag.
		body = `<script src="` + src + `" data-consentforms="click/` + key + `" data-trigger="#contact-button" async></script>
<p>Questions?</p>
<button type="button" id="contact-button">Contact us</button>`
	case "/trigger-missing":
		body = `<script src="` + src + `" data-consentforms="click/` + key + `" data-trigger="#no-such-button" async></script>
<button type="button" id="contact-button">Contact us</button>`
	case "/closed":
		// One form refuses this host; the other form and the chat do not.
		body = `<script src="` + src + `" data-consentforms="inline/` + closedKey + `" async></script>
<script src="` + src + `" data-consentforms="inline/` + key + `" async></script>
<script src="` + src + `" data-consentforms="chat/` + fixtureChannel("de").Key + `" async></script>`
	case "/click-long":
		body = `<script src="` + src + `" data-consentforms="click/` + longLabelKey + `" async></script>
<button type="button" id="open">Contact us</button>`
	case "/chat":
		body = `<h1>Help</h1>
<script src="` + src + `" data-consentforms="chat/` + fixtureChannel("de").Key + `" async></script>`
	case "/thanks":
		body = `<h1 id="thanks">Thanks</h1>`
	default:
		http.NotFound(w, req)
		return
	}
	// A strict host policy: the loader must need no inline script or style.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src "+s.forms.URL+"; frame-src "+s.forms.URL+"; style-src 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, "<!doctype html><html lang=\"en\"><head><title>Host</title></head><body>%s</body></html>", body)
}

var (
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	browserStop = func() {}
)

// TestMain stops the shared browser after all tests.
func TestMain(m *testing.M) {
	code := m.Run()
	browserStop()
	os.Exit(code)
}

// browser returns the headless Chromium shared by all browser tests (it is
// started once: starting it is most of their run time); tabs are cheap.
func browser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is required in CI")
		}
		t.Skip("chromium not installed")
	}
	browserOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
			chromedp.DisableGPU, chromedp.WindowSize(1024, 900))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, cancelBrowser := chromedp.NewContext(actx)
		browserStop = func() { cancelBrowser(); cancelAlloc() }
		browserCtx, browserErr = bctx, chromedp.Do(bctx)
	})
	require.NoError(t, browserErr)
	return browserCtx
}

// tab opens a new tab that fails the test on any script exception or
// console error (CSP violations included).
func tab(t *testing.T, bctx context.Context) context.Context {
	t.Helper()
	ctx, _ := watchedTab(t, bctx)
	return ctx
}

// console is what a tab's pages wrote to the console: warnings, and
// problems (exceptions, errors) that fail the test unless expected.
type console struct {
	mu       sync.Mutex
	warnings []string
	problems []string
	expected []string
}

// warned returns the console.warn calls so far.
func (c *console) warned() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.warnings...)
}

// expect lets errors containing text pass: the ones a test provokes.
func (c *console) expect(text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expected = append(c.expected, text)
}

// unexpected returns the problems no expect call covers.
func (c *console) unexpected() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range c.problems {
		if !slices.ContainsFunc(c.expected, func(e string) bool { return strings.Contains(p, e) }) {
			out = append(out, p)
		}
	}
	return out
}

// watchedTab is tab, and also gives the tab's console.
func watchedTab(t *testing.T, bctx context.Context) (context.Context, *console) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx)
	t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel2)
	c := &console{}
	require.NoError(t, chromedp.Listen(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			c.problems = append(c.problems, "exception: "+e.ExceptionDetails.Text+" "+describe(e.ExceptionDetails.Exception))
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				c.problems = append(c.problems, string(e.Entry.Source)+": "+e.Entry.Text)
			}
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeWarning && len(e.Args) > 0 {
				var text string
				if json.Unmarshal(e.Args[0].Value, &text) != nil {
					text = describe(e.Args[0])
				}
				c.warnings = append(c.warnings, text)
			}
		}
	}))
	t.Cleanup(func() {
		assert.Empty(t, c.unexpected(), "browser reported problems")
	})
	return ctx, c
}

func describe(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	return o.Description
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	require.NoError(t, err, js)
	return v
}

func waitJS(t *testing.T, ctx context.Context, js string) {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	require.NoError(t, err, "waiting for %s", js)
}

type boxState struct {
	Checked    bool   `json:"checked"`
	Expanded   string `json:"expanded"`
	Open       bool   `json:"open"`
	Interacted string `json:"interacted"`
	Active     string `json:"active"`
}

func consentState(t *testing.T, ctx context.Context, id string) boxState {
	t.Helper()
	js := `JSON.stringify({checked: document.getElementById('cf-consent-` + id + `').checked,
		expanded: document.getElementById('cf-consent-` + id + `').getAttribute('aria-expanded'),
		open: document.getElementById('cf-consent-text-` + id + `').open,
		interacted: document.forms[0].elements['consent_` + id + `_interacted'].value,
		active: document.activeElement.id})`
	var st boxState
	require.NoError(t, json.Unmarshal([]byte(eval[string](t, ctx, js)), &st))
	return st
}

// errorView is what a visitor sees of one input's error: the message next to
// it, its ARIA state, and the error summary.
type errorView struct {
	Shown       bool     `json:"shown"`
	Invalid     string   `json:"invalid"`
	DescribedBy string   `json:"describedby"`
	Summary     bool     `json:"summary"`
	Items       []string `json:"items"`
}

func shownError(t *testing.T, ctx context.Context, errorID, inputID string) errorView {
	t.Helper()
	js := `(function () {
		var s = document.getElementById('cf-error-summary');
		var el = document.getElementById('` + inputID + `');
		return JSON.stringify({shown: document.getElementById('` + errorID + `').checkVisibility(),
			invalid: el.getAttribute('aria-invalid') || '',
			describedby: el.getAttribute('aria-describedby') || '',
			summary: s.checkVisibility(),
			items: Array.from(s.querySelectorAll('li'), function (li) { return li.textContent; })});
	})()`
	var v errorView
	require.NoError(t, json.Unmarshal([]byte(eval[string](t, ctx, js)), &v))
	return v
}

// axState is the accessible name and expanded state Chromium exposes for the
// element selected by css, as a screen reader gets them.
func axState(t *testing.T, ctx context.Context, css string) (name, expanded string) {
	t.Helper()
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		obj, err := cdp.Call(ctx, tg, runtime.Evaluate, runtime.EvaluateParams{Expression: `document.querySelector(` + strconv.Quote(css) + `)`})
		if err != nil {
			return err
		}
		if obj.Result == nil || obj.Result.ObjectID == "" {
			return fmt.Errorf("no element %s", css)
		}
		no := false
		ax, err := cdp.Call(ctx, tg, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: obj.Result.ObjectID, FetchRelatives: &no})
		if err != nil {
			return err
		}
		if len(ax.Nodes) == 0 {
			return fmt.Errorf("no accessibility node for %s", css)
		}
		n := ax.Nodes[0]
		if n.Name != nil {
			if err := json.Unmarshal(n.Name.Value, &name); err != nil {
				return err
			}
		}
		for _, p := range n.Properties {
			if p.Name == accessibility.PropertyNameExpanded {
				expanded = string(p.Value.Value)
			}
		}
		return nil
	}))
	return name, expanded
}

// fillValid fills every required field so only the consent decides.
func fillValid(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx,
		chromedp.SendKeys(chromedp.ID("cf-field-name"), "Ada"),
		chromedp.SendKeys(chromedp.ID("cf-field-email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.ID("cf-field-message"), "Hello"),
		chromedp.Click(chromedp.ID("cf-field-contact_pref-0")),
		chromedp.Click(chromedp.ID("cf-field-interests-0")),
	)
}

func TestBrowserFormPage(t *testing.T) {
	bctx := browser(t)
	s := newStack(t)
	formURL := s.forms.URL + "/f/" + fixtureForm("en").Key

	t.Run("unticking opens the text, ticking folds it", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(formURL), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		assert.Equal(t, boxState{Checked: true, Expanded: "false", Open: false, Interacted: "0", Active: ""}, consentState(t, ctx, "3"))

		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")))
		assert.Equal(t, boxState{Checked: false, Expanded: "true", Open: true, Interacted: "1", Active: "cf-consent-3"}, consentState(t, ctx, "3"))
		assert.True(t, eval[bool](t, ctx, `document.querySelector('#cf-consent-text-3 .cf-consent__body').getBoundingClientRect().height > 0`), "text visible")

		// Space on the focused native box ticks it again; focus stays.
		do(t, ctx, chromedp.KeyEvent(" "))
		assert.Equal(t, boxState{Checked: true, Expanded: "false", Open: false, Interacted: "1", Active: "cf-consent-3"}, consentState(t, ctx, "3"))

		// The label's link opens the text without changing the box.
		do(t, ctx, chromedp.Click(chromedp.CSS("#cf-consent-3 + label a")))
		waitJS(t, ctx, `document.getElementById('cf-consent-3').getAttribute('aria-expanded') === 'true'`)
		st := consentState(t, ctx, "3")
		assert.True(t, st.Checked)
		assert.True(t, st.Open)

		// The host page URL falls back to this page when not embedded.
		assert.Equal(t, formURL, eval[string](t, ctx, `document.forms[0].elements._page_url.value`))
		assert.True(t, eval[bool](t, ctx, `document.forms[0].noValidate`), "JS takes over validation")
	})

	t.Run("submit without the required consent is refused", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(formURL), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		fillValid(t, ctx)
		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")), chromedp.Click(chromedp.CSS("button[type=submit]")))
		waitJS(t, ctx, `!document.getElementById('cf-consent-error-3').hidden`)
		before := s.postCount()
		do(t, ctx, chromedp.Sleep(200*time.Millisecond))
		assert.Equal(t, before, s.postCount(), "nothing may be sent")
		msg := "Please agree to “processing of my personal data” to send the form."
		assert.Equal(t, msg, eval[string](t, ctx, `document.querySelector('#cf-consent-error-3 .cf-error__text').textContent`))
		assert.Equal(t, "cf-consent-3", eval[string](t, ctx, `document.activeElement.id`))
		assert.Equal(t, "true", eval[string](t, ctx, `document.getElementById('cf-consent-3').getAttribute('aria-invalid')`))
		assert.Contains(t, eval[string](t, ctx, `document.getElementById('cf-consent-3').getAttribute('aria-describedby')`), "cf-consent-error-3")
		assert.False(t, eval[bool](t, ctx, `document.getElementById('cf-error-summary').hidden`))
		assert.Contains(t, eval[string](t, ctx, `document.getElementById('cf-error-summary').textContent`), msg)

		// Ticking clears the error; sending then goes through with fetch.
		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")))
		assert.True(t, eval[bool](t, ctx, `document.getElementById('cf-consent-error-3').hidden`))
		assert.Equal(t, "", eval[string](t, ctx, `document.getElementById('cf-consent-3').getAttribute('aria-invalid') || ''`))
		do(t, ctx, chromedp.Click(chromedp.CSS("button[type=submit]")))
		waitJS(t, ctx, `!!document.getElementById('cf-success')`)
		p := s.lastPost()
		assert.Equal(t, "application/x-www-form-urlencoded;charset=UTF-8", p.contentType)
		assert.Equal(t, "application/json", p.accept)
		for k, want := range map[string]string{
			"consent_3": "1", "consent_3_initial": "1", "consent_3_interacted": "1", "consent_3_version": "31",
			"consent_7": "", "consent_7_initial": "0", "consent_7_interacted": "0", "consent_7_version": "71",
			"_embed": "0", "_token": "tok", "_page_url": formURL, "website": "", "interests": "Forms", "campaign": "spring",
		} {
			assert.Equal(t, want, p.values.Get(k), k)
		}
		assert.Equal(t, "cf-success", eval[string](t, ctx, `document.activeElement.id`))
		assert.Contains(t, eval[string](t, ctx, `document.getElementById('cf-success').textContent`), "Thanks, we will be in touch.")
		assert.Equal(t, s.forms.URL+"/w/3", eval[string](t, ctx, `document.querySelector('#cf-success a').href`))
		assert.Nil(t, eval[any](t, ctx, `document.querySelector('form')`))
	})

	t.Run("server errors show at the fields and in the summary", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(formURL), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		fillValid(t, ctx)
		// Passes the browser's checks; only the server knows it is wrong.
		do(t, ctx, chromedp.SendKeys(chromedp.ID("cf-field-phone"), "12"), chromedp.Click(chromedp.CSS("button[type=submit]")))
		waitJS(t, ctx, `!document.getElementById('cf-error-summary').hidden`)
		assert.Equal(t, "cf-error-summary", eval[string](t, ctx, `document.activeElement.id`))
		assert.Equal(t, "Phone is not a valid phone number", eval[string](t, ctx, `document.querySelector('#cf-error-summary li').textContent`))
		assert.Equal(t, "Phone is not a valid phone number", eval[string](t, ctx, `document.querySelector('#cf-error-phone .cf-error__text').textContent`))
		assert.Equal(t, "true", eval[string](t, ctx, `document.getElementById('cf-field-phone').getAttribute('aria-invalid')`))
		// The summary link moves focus to the field.
		do(t, ctx, chromedp.Click(chromedp.CSS("#cf-error-summary a")))
		assert.Equal(t, "cf-field-phone", eval[string](t, ctx, `document.activeElement.id`))
		assert.Equal(t, "Send", eval[string](t, ctx, `document.querySelector('button[type=submit]').textContent`))
	})

	t.Run("required checkbox group is checked in the browser", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(formURL), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		before := s.postCount()
		do(t, ctx,
			chromedp.SendKeys(chromedp.ID("cf-field-name"), "Ada"),
			chromedp.SendKeys(chromedp.ID("cf-field-email"), "ada@example.com"),
			chromedp.SendKeys(chromedp.ID("cf-field-message"), "Hello"),
			chromedp.Click(chromedp.ID("cf-field-contact_pref-0")),
			chromedp.Click(chromedp.CSS("button[type=submit]")))
		waitJS(t, ctx, `!document.getElementById('cf-error-interests').hidden`)
		assert.Equal(t, "Interests is required", eval[string](t, ctx, `document.querySelector('#cf-error-interests .cf-error__text').textContent`))
		assert.Equal(t, "cf-field-interests-0", eval[string](t, ctx, `document.activeElement.id`))
		assert.Equal(t, before, s.postCount())
	})

	t.Run("ticking a refused consent takes its error back at once", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(formURL), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		fillValid(t, ctx)
		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")), chromedp.Click(chromedp.CSS("button[type=submit]")))
		waitJS(t, ctx, `!document.getElementById('cf-consent-error-3').hidden`)
		msg := "Please agree to “processing of my personal data” to send the form."
		assert.Equal(t, errorView{Shown: true, Invalid: "true", DescribedBy: "cf-consent-error-3", Summary: true, Items: []string{msg}},
			shownError(t, ctx, "cf-consent-error-3", "cf-consent-3"))

		// Fixed: gone from the box and the summary, with no send in between;
		// the summary had nothing else, so it goes too.
		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")))
		fixed := errorView{Items: []string{}}
		assert.Equal(t, fixed, shownError(t, ctx, "cf-consent-error-3", "cf-consent-3"))
		assert.False(t, eval[bool](t, ctx, `document.querySelector('[data-cf-consent="3"]').classList.contains('cf-consent--error')`))

		// Unticked again: no new error before the next send.
		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")), chromedp.Sleep(100*time.Millisecond))
		assert.Equal(t, fixed, shownError(t, ctx, "cf-consent-error-3", "cf-consent-3"))
		do(t, ctx, chromedp.Click(chromedp.CSS("button[type=submit]")))
		waitJS(t, ctx, `!document.getElementById('cf-consent-error-3').hidden`)
		assert.Equal(t, errorView{Shown: true, Invalid: "true", DescribedBy: "cf-consent-error-3", Summary: true, Items: []string{msg}},
			shownError(t, ctx, "cf-consent-error-3", "cf-consent-3"))
	})

	t.Run("errors of the server's re-render are taken back too", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(formURL), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		// Name and interests left out, the consent unticked: a plain post,
		// as without JavaScript, gets the page back with three errors.
		do(t, ctx,
			chromedp.SendKeys(chromedp.ID("cf-field-email"), "ada@example.com"),
			chromedp.SendKeys(chromedp.ID("cf-field-message"), "Hello"),
			chromedp.Click(chromedp.ID("cf-field-contact_pref-0")),
			chromedp.Click(chromedp.ID("cf-consent-3")))
		resp, err := chromedp.RunResponse(ctx, chromedp.Evaluate[chromedp.Void](`HTMLFormElement.prototype.submit.call(document.forms[0])`))
		require.NoError(t, err)
		require.Equal(t, int64(422), resp.Status)
		do(t, ctx, chromedp.WaitVisible(chromedp.ID("cf-consent-error-3")))
		consent := "Please agree to “processing of my personal data” to send the form."
		assert.Equal(t, errorView{Shown: true, Invalid: "true", DescribedBy: "cf-consent-error-3", Summary: true,
			Items: []string{"Name is required", "Interests is required", consent}},
			shownError(t, ctx, "cf-consent-error-3", "cf-consent-3"))

		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")))
		assert.Equal(t, errorView{Summary: true, Items: []string{"Name is required", "Interests is required"}},
			shownError(t, ctx, "cf-consent-error-3", "cf-consent-3"))
		// A required group is fixed by ticking one of its boxes.
		do(t, ctx, chromedp.Click(chromedp.ID("cf-field-interests-1")))
		assert.Equal(t, errorView{Summary: true, Items: []string{"Name is required"}},
			shownError(t, ctx, "cf-error-interests", "cf-field-interests-0"))
		assert.Equal(t, "", eval[string](t, ctx, `document.getElementById('cf-field-interests-1').getAttribute('aria-invalid') || ''`))
		assert.Equal(t, "cf-hint-interests", eval[string](t, ctx, `document.querySelector('[data-cf-field=interests] fieldset').getAttribute('aria-describedby')`),
			"the hint stays linked")
		// The name is for the server to judge again: its error stays.
		assert.Equal(t, "true", eval[string](t, ctx, `document.getElementById('cf-field-name').getAttribute('aria-invalid')`))
	})

	for _, c := range []struct{ lang, key, show, hide string }{
		{"en", fixtureForm("en").Key, "Read the consent text", "Hide the consent text"},
		{"de", germanKey, "Einwilligungstext lesen", "Einwilligungstext ausblenden"},
	} {
		t.Run("the text toggle says what it does ("+c.lang+")", func(t *testing.T) {
			ctx := tab(t, bctx)
			do(t, ctx, chromedp.Navigate(s.forms.URL+"/f/"+c.key), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
			toggle := func(id string) string {
				return eval[string](t, ctx, `document.querySelector('#cf-consent-text-`+id+` > summary').innerText`)
			}
			expanded := func(id string) string {
				return eval[string](t, ctx, `document.getElementById('cf-consent-`+id+`').getAttribute('aria-expanded')`)
			}
			summary3 := "#cf-consent-text-3 > summary"
			// As rendered: 3 is ticked (text folded), 7 is not (text open).
			assert.Equal(t, c.show, toggle("3"))
			assert.Equal(t, "false", expanded("3"))
			assert.Equal(t, c.hide, toggle("7"))
			assert.Equal(t, "true", expanded("7"))
			name, exp := axState(t, ctx, summary3)
			assert.Equal(t, c.show, name)
			assert.Equal(t, "false", exp)

			do(t, ctx, chromedp.Click(chromedp.CSS(summary3)))
			waitJS(t, ctx, `document.getElementById('cf-consent-3').getAttribute('aria-expanded') === 'true'`)
			assert.Equal(t, c.hide, toggle("3"))
			name, exp = axState(t, ctx, summary3)
			assert.Equal(t, c.hide, name)
			assert.Equal(t, "true", exp)

			do(t, ctx, chromedp.Click(chromedp.CSS(summary3)))
			waitJS(t, ctx, `document.getElementById('cf-consent-3').getAttribute('aria-expanded') === 'false'`)
			assert.Equal(t, c.show, toggle("3"))
			name, _ = axState(t, ctx, summary3)
			assert.Equal(t, c.show, name)

			// Unticking opens the text, ticking folds it: the caption follows.
			do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")))
			assert.Equal(t, c.hide, toggle("3"))
			assert.Equal(t, "true", expanded("3"))
			do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")))
			assert.Equal(t, c.show, toggle("3"))
			assert.Equal(t, "false", expanded("3"))
			// So does the label's link.
			do(t, ctx, chromedp.Click(chromedp.CSS("#cf-consent-3 + label a")))
			assert.Equal(t, c.hide, toggle("3"))
			assert.Equal(t, "true", expanded("3"))
		})
	}

	t.Run("redirect after success", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(s.forms.URL+"/f/"+redirectKey), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		fillValid(t, ctx)
		_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("button[type=submit]")))
		require.NoError(t, err)
		assert.Equal(t, s.hostURL+"/thanks", eval[string](t, ctx, `location.href`))
	})

	t.Run("without JavaScript the form is a plain POST", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
		do(t, ctx, chromedp.Navigate(formURL), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		fillValid(t, ctx)
		before := s.postCount()
		// Unticked, the box's required attribute stops the browser itself.
		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")), chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.Sleep(300*time.Millisecond))
		assert.Equal(t, before, s.postCount())
		// The text is reachable with the native disclosure.
		do(t, ctx, chromedp.Click(chromedp.CSS("#cf-consent-text-3 summary")))
		assert.True(t, eval[bool](t, ctx, `document.getElementById('cf-consent-text-3').open`))
		assert.Equal(t, "Hide the consent text", eval[string](t, ctx, `document.querySelector('#cf-consent-text-3 summary').innerText`), "the caption follows without JS")

		do(t, ctx, chromedp.Click(chromedp.ID("cf-consent-3")))
		_, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS("button[type=submit]")))
		require.NoError(t, err)
		do(t, ctx, chromedp.WaitVisible(chromedp.ID("cf-success")))
		p := s.lastPost()
		assert.Equal(t, "application/x-www-form-urlencoded", p.contentType)
		assert.NotContains(t, p.accept, "application/json")
		assert.Equal(t, "1", p.values.Get("consent_3"))
		assert.Equal(t, "0", p.values.Get("consent_3_interacted"), "no JS, no interaction flag: the server infers it")
		assert.Equal(t, []string{"Forms"}, p.values["interests"])
	})
}

// dialogOpen is true while the popup is shown; closed, it stays in the DOM
// hidden so the form keeps what was typed.
const dialogOpen = `(function () {
	var d = document.querySelector('[role=dialog]');
	return !!d && d.style.display !== 'none';
})()`

func TestBrowserEmbed(t *testing.T) {
	bctx := browser(t)
	s := newStack(t)

	t.Run("inline forms resize and ignore foreign messages", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(s.hostURL+"/inline"))
		waitJS(t, ctx, `(function () {
			var f = document.querySelectorAll('iframe');
			return f.length === 2 && f[0].style.height !== '320px' && f[1].style.height !== '320px';
		})()`)
		// Loaded three times, two forms: no duplicates; the chat shows one
		// launcher and makes its iframe only when opened.
		assert.Equal(t, 2, eval[int](t, ctx, `document.querySelectorAll('iframe').length`))
		assert.Equal(t, "between", eval[string](t, ctx, `document.querySelectorAll('iframe')[0].nextElementSibling.id`))
		assert.Equal(t, "Second form", eval[string](t, ctx, `document.querySelectorAll('iframe')[1].title`))
		assert.Equal(t, "1", eval[string](t, ctx, `document.querySelector('script[data-consentforms^=chat]').getAttribute('data-consentforms-done')`))
		assert.Equal(t, 1, eval[int](t, ctx, `document.querySelectorAll('button[aria-expanded]').length`))

		src, err := url.Parse(eval[string](t, ctx, `document.querySelector('iframe').src`))
		require.NoError(t, err)
		q := src.Query()
		assert.Equal(t, s.forms.URL+"/f/"+fixtureForm("en").Key, src.Scheme+"://"+src.Host+src.Path)
		assert.Equal(t, "1", q.Get("embed"))
		assert.Equal(t, s.hostURL, q.Get("origin"))
		assert.Equal(t, s.hostURL+"/inline", q.Get("page"))
		assert.NotEmpty(t, q.Get("frame"))
		assert.Equal(t, "lazy", eval[string](t, ctx, `document.querySelector('iframe').loading`))

		h, err := strconv.Atoi(strings.TrimSuffix(eval[string](t, ctx, `document.querySelector('iframe').style.height`), "px"))
		require.NoError(t, err)
		assert.Greater(t, h, 800, "the iframe grew to the form's height")

		// A message from anyone but the iframe's window and origin is ignored.
		eval[any](t, ctx, `window.postMessage({type: 'consentforms:height', height: 7}, '*'), null`)
		do(t, ctx, chromedp.Sleep(200*time.Millisecond))
		assert.Equal(t, strconv.Itoa(h)+"px", eval[string](t, ctx, `document.querySelector('iframe').style.height`))
	})

	t.Run("click opens a modal dialog with a focus trap", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(s.hostURL+"/click"), chromedp.WaitVisible(chromedp.ID("open")))
		waitJS(t, ctx, `document.getElementById('open').getAttribute('aria-haspopup') === 'dialog'`)
		do(t, ctx, chromedp.Click(chromedp.ID("open")))
		waitJS(t, ctx, dialogOpen)
		dlg := `document.querySelector('[role=dialog]')`
		assert.Equal(t, "true", eval[string](t, ctx, dlg+`.getAttribute('aria-modal')`))
		assert.Equal(t, "Form", eval[string](t, ctx, dlg+`.getAttribute('aria-label')`))
		assert.Equal(t, "Close", eval[string](t, ctx, `document.activeElement.getAttribute('aria-label')`))
		assert.Equal(t, "hidden", eval[string](t, ctx, `document.body.style.overflow`))
		waitJS(t, ctx, dlg+`.querySelector('iframe').style.height !== '320px'`)

		// Focus that leaves the dialog is brought back.
		eval[any](t, ctx, `document.getElementById('before').focus(), null`)
		assert.Equal(t, "Close", eval[string](t, ctx, `document.activeElement.getAttribute('aria-label')`))
		// Shift+Tab from the close button wraps round to the form.
		do(t, ctx, chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
		assert.Equal(t, "IFRAME", eval[string](t, ctx, `document.activeElement.tagName`))

		// Esc closes and gives focus back to the trigger.
		eval[any](t, ctx, dlg+`.querySelector('button').focus(), null`)
		do(t, ctx, chromedp.KeyEvent(kb.Escape))
		waitJS(t, ctx, "!"+dialogOpen)
		assert.Equal(t, "open", eval[string](t, ctx, `document.activeElement.id`))
		assert.Equal(t, "", eval[string](t, ctx, `document.body.style.overflow`))

		// A click on the overlay outside the form closes it too.
		do(t, ctx, chromedp.Click(chromedp.ID("open")))
		waitJS(t, ctx, dialogOpen)
		do(t, ctx, chromedp.MouseClickXY(3, 3))
		waitJS(t, ctx, "!"+dialogOpen)

		// And the close button.
		do(t, ctx, chromedp.Click(chromedp.ID("open")))
		waitJS(t, ctx, dialogOpen)
		do(t, ctx, chromedp.Click(chromedp.CSS(`[role=dialog] button[aria-label=Close]`)))
		waitJS(t, ctx, "!"+dialogOpen)
		assert.Equal(t, 1, eval[int](t, ctx, `document.querySelectorAll('iframe').length`), "the form is kept for the next opening")
	})

	t.Run("auto opens after the delay", func(t *testing.T) {
		ctx := tab(t, bctx)
		do(t, ctx, chromedp.Navigate(s.hostURL+"/auto"))
		waitJS(t, ctx, dialogOpen)
	})

	t.Run("data-trigger names the element with or without #", func(t *testing.T) {
		ctx, warned := watchedTab(t, bctx)
		do(t, ctx, chromedp.Navigate(s.hostURL+"/trigger-hash"), chromedp.WaitVisible(chromedp.ID("contact-button")))
		waitJS(t, ctx, `document.getElementById('contact-button').getAttribute('aria-haspopup') === 'dialog'`)
		do(t, ctx, chromedp.Click(chromedp.ID("contact-button")))
		waitJS(t, ctx, dialogOpen)
		assert.Empty(t, warned.warned())
	})

	t.Run("a missing trigger is one console warning", func(t *testing.T) {
		ctx, warned := watchedTab(t, bctx)
		do(t, ctx, chromedp.Navigate(s.hostURL+"/trigger-missing"), chromedp.WaitVisible(chromedp.ID("contact-button")))
		waitJS(t, ctx, `document.querySelector('script[data-consentforms]').hasAttribute('data-consentforms-done')`)
		do(t, ctx, chromedp.Click(chromedp.ID("contact-button")), chromedp.Sleep(300*time.Millisecond))
		assert.False(t, eval[bool](t, ctx, dialogOpen))
		assert.Equal(t, []string{`consentforms click/` + fixtureForm("en").Key +
			`: no element with id "no-such-button" (data-trigger) opens the form.`}, warned.warned())
	})

	t.Run("a host the form does not allow is one console warning", func(t *testing.T) {
		ctx, warned := watchedTab(t, bctx)
		// Chromium's own report, in words for developers of browsers.
		warned.expect("violates the following Content Security Policy directive: \"frame-ancestors 'self'\"")
		do(t, ctx, chromedp.Navigate(s.hostURL+"/closed"))
		waitJS(t, ctx, `!!document.querySelector('button[aria-expanded]')`)
		do(t, ctx, chromedp.Click(chromedp.CSS("button[aria-expanded]")))
		waitJS(t, ctx, `document.querySelectorAll('iframe').length === 3`)
		require.Eventually(t, func() bool { return len(warned.warned()) > 0 }, 20*time.Second, 50*time.Millisecond,
			"a refused frame must be reported")
		// The chat opened after the forms loaded: give it its 5 s too.
		do(t, ctx, chromedp.Sleep(1500*time.Millisecond))
		assert.Equal(t, []string{`consentforms inline/` + closedKey + `: nothing loaded from ` + s.forms.URL +
			`. Is ` + s.hostURL + ` among the allowed origins?`}, warned.warned())
	})

	t.Run("auto opens as often as data-frequency says", func(t *testing.T) {
		ctx, warned := watchedTab(t, bctx)
		// opens loads path and reports whether the popup opened: its
		// delay is 0.2 s, so a second is long enough to tell.
		opens := func(ctx context.Context, path string) bool {
			t.Helper()
			do(t, ctx, chromedp.Navigate(s.hostURL+path))
			waitJS(t, ctx, `document.querySelector('script[data-consentforms]').hasAttribute('data-consentforms-done')`)
			do(t, ctx, chromedp.Sleep(time.Second))
			return eval[bool](t, ctx, dialogOpen)
		}
		assert.True(t, opens(ctx, "/auto-always"))
		assert.True(t, opens(ctx, "/auto-always"), "always: every page view")

		assert.True(t, opens(ctx, "/auto"))
		assert.False(t, opens(ctx, "/auto"), "session, the default: once per tab")
		other := tab(t, bctx)
		assert.True(t, opens(other, "/auto"), "a new tab is a new session")

		assert.True(t, opens(ctx, "/auto-7d"))
		assert.False(t, opens(ctx, "/auto-7d"))
		assert.False(t, opens(other, "/auto-7d"), "7d: not again in any tab for seven days")
		eval[any](t, ctx, `localStorage.setItem('consentforms:auto:`+fixtureForm("en").Key+`', String(Date.now() - 7 * 864e5 - 1000)), null`)
		assert.True(t, opens(ctx, "/auto-7d"), "after seven days it opens again")
		assert.Empty(t, warned.warned())

		third, warned3 := watchedTab(t, bctx)
		assert.True(t, opens(third, "/auto-weekly"), "an unknown frequency is taken as session")
		assert.Equal(t, []string{`consentforms auto/` + fixtureForm("en").Key +
			`: data-frequency="weekly" is not always, session or days like 7d; using session.`}, warned3.warned())
		assert.False(t, opens(third, "/auto-weekly"))
	})
}
