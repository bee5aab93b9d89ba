// Package chat holds the real-browser test of the chat widget: a host page
// on another site embeds the chat with the loader, visitors decline and
// accept the consent in headless Chromium, and an operator answers from the
// admin UI in the same browser. It lives apart from package e2e so that the
// two suites share nothing but the program under test.
package chat

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/consentforms/consentforms/internal/testenv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	chromiumPath = "/usr/bin/chromium"
	// waitTimeout bounds one wait; the machine may be busy with other
	// suites, and a pass never comes near it.
	waitTimeout = 45 * time.Second

	operatorEmail    = "operator@example.com"
	operatorPassword = "correct horse battery staple 7"
	consentMarker    = "Gelderland Heron 4471 reads every chat message within the day."
	declinedText     = "Decline me: my number is 0301 7654321"
)

// chatApp is the server on a fresh database with one operator, one consent
// and a channel asking for it, and a host page server on another site.
type chatApp struct {
	db      *sqlite.DB
	srv     *web.Server
	base    string // http://127.0.0.1:PORT, the chat's server
	host    string // http://127.0.0.2:PORT, the customer's site
	consent *formbuilder.Consent
	ch      *formbuilder.Channel
	user    *formbuilder.User
}

func newChatApp(t *testing.T) *chatApp {
	t.Helper()
	ctx := context.Background()
	a := &chatApp{}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	require.NoError(t, err)
	a.db = db
	t.Cleanup(func() { db.Close() })

	// 127.0.0.2 is another site than 127.0.0.1 for Chromium: the chat runs
	// in a cross-site iframe, as on a customer's website.
	hl, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	a.host = "http://" + hl.Addr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a.base = "http://" + ln.Addr().String()

	hash, err := password.Hash(operatorPassword)
	require.NoError(t, err)
	a.user = &formbuilder.User{Email: operatorEmail, Name: "Olivia Operator", PasswordHash: hash}
	require.NoError(t, db.CreateUser(ctx, a.user))
	a.consent = &formbuilder.Consent{Name: "Chat privacy (e2e)", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Language: "en",
		Label: "I agree that my %chat messages are processed% to answer me.",
		Text:  "<p>Example Ltd stores what you write here to answer you.</p><p>" + consentMarker + "</p>"}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, a.consent, content, "e2e"))
	a.ch = &formbuilder.Channel{Name: "Support chat (e2e)", Language: "en", OperatorIDs: []int64{a.user.ID},
		WarnPersonalData: true, ConsentID: a.consent.ID, AllowedOrigins: []string{a.host}}
	require.NoError(t, db.CreateChannel(ctx, a.ch))

	secret := make([]byte, 32)
	_, err = rand.Read(secret)
	require.NoError(t, err)
	srv, err := web.New(web.Config{
		BaseURL: a.base, Secret: secret, Keys: testenv.NewKeys(t), MinFillTime: 0,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, web.Services{
		Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db, Chat: db, Audit: db, Changes: db,
	})
	require.NoError(t, err)
	a.srv = srv
	served := make(chan error, 1)
	go func() { served <- srv.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})

	hs := &http.Server{Handler: http.HandlerFunc(a.serveHost), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { _ = hs.Close() })
	return a
}

// serveHost is the customer's page: the embed code and nothing else, under
// a CSP that allows only the chat server's script and frames and no style.
func (a *chatApp) serveHost(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/shop/help" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src "+a.base+"; frame-src "+a.base+"; style-src 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop help</title></head>
<body><h1>Help</h1><p>Questions? Use the chat.</p>
<script src="%s/embed.js" data-consentforms="chat/%s" async></script>
</body></html>`, a.base, a.ch.Key)
}

func (a *chatApp) hostPage() string { return a.host + "/shop/help?topic=returns" }

// chatBrowser starts Chromium with a fresh profile, or skips the test
// without one (failing it when CI=true).
func chatBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium on CI: %v", err)
		}
		t.Skipf("skipping browser test: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(chatErrorf))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("start %s: %v", chromiumPath, err)
		}
		t.Skipf("skipping browser test: start %s: %v", chromiumPath, err)
	}
	return ctx
}

// chatErrorf drops a harmless complaint chromedp makes when it attaches to
// an iframe target.
func chatErrorf(format string, args ...any) {
	if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "no top-level frame") {
		fmt.Fprintln(os.Stderr, "chromedp: "+msg)
	}
}

// chatView is one browser target: a tab or the chat's iframe. It records
// exceptions and CSP messages from the console, which fail the test.
type chatView struct {
	t    *testing.T
	ctx  context.Context
	name string
	mu   sync.Mutex
	bad  []string
}

// chatTab opens a tab in a browser context of its own: fresh cookies and
// storage, as a visitor on another computer.
func chatTab(t *testing.T, browser context.Context, name string) *chatView {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(tab), "open tab %s", name)
	ctx, cancelT := context.WithTimeout(tab, 3*time.Minute)
	t.Cleanup(cancelT)
	v := &chatView{t: t, ctx: ctx, name: name}
	v.watch()
	return v
}

func (v *chatView) watch() {
	msgs := chromedp.Console(v.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				v.mu.Lock()
				v.bad = append(v.bad, fmt.Sprintf("%s: %s (%s:%d)", v.name, m, m.URL, m.Line+1))
				v.mu.Unlock()
			}
		}
	}()
	v.t.Cleanup(func() {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, b := range v.bad {
			v.t.Errorf("console: %s", b)
		}
	})
}

func (v *chatView) do(actions ...chromedp.Action[chromedp.Void]) {
	v.t.Helper()
	require.NoError(v.t, chromedp.Do(v.ctx, actions...), v.name)
}

func chatEval[T any](v *chatView, expr string) T {
	v.t.Helper()
	res, err := chromedp.Run(v.ctx, chromedp.Evaluate[T](expr))
	require.NoError(v.t, err, "%s: %s", v.name, expr)
	return res
}

var errNotYet = errors.New("not yet")

// waitJS polls expr until it is truthy.
func (v *chatView) waitJS(what, expr string) {
	v.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, err := chromedp.Run(v.ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errNotYet
			}
			v.t.Fatalf("%s: %s: %v", v.name, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// openChat loads the host page, checks the launcher and opens the chat,
// then attaches to the chat's cross-site iframe, which runs as a target of
// its own.
func openChat(t *testing.T, a *chatApp, tab *chatView) *chatView {
	t.Helper()
	tab.do(chromedp.Navigate(a.hostPage()))
	tab.waitJS("launcher", `document.querySelector('button[aria-controls], button[aria-expanded]')`)
	// No style sheet was injected into the host page, and no frame is made
	// before the visitor asks for the chat.
	assert.Equal(t, 0, chatEval[int](tab, `document.styleSheets.length`))
	assert.Equal(t, 0, chatEval[int](tab, `document.querySelectorAll('iframe').length`))
	assert.Equal(t, "fixed", chatEval[string](tab, `document.querySelector('button[aria-expanded]').style.position`))
	tab.do(chromedp.Click(chromedp.CSS(`button[aria-expanded]`)))
	tab.waitJS("chat iframe", `document.querySelector('iframe') && document.querySelector('button[aria-expanded]').getAttribute('aria-expanded') === 'true'`)
	src := chatEval[string](tab, `document.querySelector('iframe').src`)
	u, err := url.Parse(src)
	require.NoError(t, err)
	assert.Equal(t, a.base+"/c/"+a.ch.Key, u.Scheme+"://"+u.Host+u.Path)
	assert.Equal(t, a.host, u.Query().Get("origin"))
	assert.Equal(t, a.hostPage(), u.Query().Get("page"))
	fid := u.Query().Get("frame")
	var frame *chatView
	deadline := time.Now().Add(waitTimeout)
	for frame == nil {
		infos, err := chromedp.Targets(tab.ctx)
		require.NoError(t, err)
		for _, in := range infos {
			fu, err := url.Parse(in.URL)
			if in.Type == "iframe" && err == nil && fu.Query().Get("frame") == fid {
				fctx, cancel := chromedp.NewContext(tab.ctx, chromedp.WithTargetID(in.TargetID), chromedp.WithDetachOnCancel())
				t.Cleanup(cancel)
				require.NoError(t, chromedp.Do(fctx), "attach to the chat iframe")
				frame = &chatView{t: t, ctx: fctx, name: tab.name + " chat"}
				frame.watch()
				break
			}
		}
		if frame == nil {
			require.False(t, time.Now().After(deadline), "no iframe target for %s", src)
			time.Sleep(50 * time.Millisecond)
		}
	}
	frame.waitJS("chat ready", `document.readyState === 'complete' && !document.getElementById('cf-chat-text').disabled ||
		!document.getElementById('cf-chat-declined').hidden || !document.getElementById('cf-chat-consent').hidden`)
	return frame
}

// send types text into the chat and sends it.
func send(f *chatView, text string) {
	f.t.Helper()
	f.do(chromedp.SendKeys(chromedp.ID("cf-chat-text"), text), chromedp.Click(chromedp.ID("cf-chat-send")))
}

// visitorID reads the id the chat keeps in the iframe's storage.
func (a *chatApp) visitorID(f *chatView) string {
	f.t.Helper()
	id := chatEval[string](f, `localStorage.getItem(`+js("consentforms:chat:"+a.ch.Key)+`) || ''`)
	require.True(f.t, formbuilder.ValidVisitorID(id), "visitor id %q", id)
	return id
}

// post sends a message straight to the visitor API, as a script would.
func (a *chatApp) post(t *testing.T, visitor, text string) (int, string) {
	t.Helper()
	body := `{"visitor_id":` + js(visitor) + `,"text":` + js(text) + `}`
	resp, err := http.Post(a.base+"/c/"+a.ch.Key+"/messages", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// login signs the operator in through the sign-in page.
func login(a *chatApp, op *chatView) {
	op.t.Helper()
	op.do(chromedp.Navigate(a.base+"/admin/login"),
		chromedp.SendKeys(chromedp.ID("email"), operatorEmail),
		chromedp.SendKeys(chromedp.ID("password"), operatorPassword),
		chromedp.Click(chromedp.ID("sign-in")))
	op.waitJS("signed in", `location.pathname.indexOf('/admin/forms') === 0`)
}

func TestChatConsentInTheBrowser(t *testing.T) {
	browser := chatBrowser(t)
	a := newChatApp(t)
	ctx := context.Background()

	// The operator signs in first and watches the conversation list.
	op := chatTab(t, browser, "operator")
	login(a, op)
	op.do(chromedp.Navigate(a.base + "/admin/conversations"))
	op.waitJS("conversation list", `document.getElementById('conversations-region')`)

	// Visitor 1 writes, is asked for consent, and declines.
	host1 := chatTab(t, browser, "visitor 1")
	f1 := openChat(t, a, host1)
	send(f1, declinedText)
	f1.waitJS("consent shown", `!document.getElementById('cf-chat-consent').hidden`)
	assert.Contains(t, chatEval[string](f1, `document.querySelector('.cf-msg--held').textContent`), declinedText)
	assert.True(t, chatEval[bool](f1, `document.getElementById('cf-chat-text').disabled`), "nothing more until answered")
	assert.Equal(t, "I agree that my chat messages are processed to answer me.",
		chatEval[string](f1, `document.getElementById('cf-chat-label').textContent`))
	// The label's %…% part opens the text in place; a link leads to it too.
	assert.False(t, chatEval[bool](f1, `!document.getElementById('cf-chat-consent-text').hidden`))
	f1.do(chromedp.Click(chromedp.ID("cf-chat-toggle")))
	f1.waitJS("text open", `!document.getElementById('cf-chat-consent-text').hidden`)
	assert.Equal(t, "true", chatEval[string](f1, `document.getElementById('cf-chat-toggle').getAttribute('aria-expanded')`))
	assert.Contains(t, chatEval[string](f1, `document.getElementById('cf-chat-consent-text').textContent`), consentMarker)
	assert.Equal(t, a.base+"/c/"+a.ch.Key+"/consent", chatEval[string](f1, `document.getElementById('cf-chat-consent-link').href`))
	visitor1 := a.visitorID(f1)

	f1.do(chromedp.Click(chromedp.ID("cf-chat-decline")))
	f1.waitJS("declined", `!document.getElementById('cf-chat-declined').hidden`)
	assert.Equal(t, 0, chatEval[int](f1, `document.querySelectorAll('.cf-msg--held').length`))
	assert.True(t, chatEval[bool](f1, `document.getElementById('cf-chat-text').disabled`))

	// The message never reached the operators: not in storage, not on the
	// admin pages, not in the operator's open list.
	conv1, err := a.db.FindVisitorConversation(ctx, a.ch.ID, visitor1)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ConvDeclined, conv1.State)
	msgs, err := a.db.ListMessages(ctx, conv1.ID, 0, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs)
	op.do(chromedp.Reload())
	op.waitJS("list reloaded", `document.getElementById('conversations-region')`)
	assert.NotContains(t, chatEval[string](op, `document.body.textContent`), "0301 7654321")
	op.do(chromedp.Navigate(fmt.Sprintf("%s/admin/conversations/%d", a.base, conv1.ID)))
	op.waitJS("not found page", `document.readyState === 'complete'`)
	assert.NotContains(t, chatEval[string](op, `document.body.textContent`), "0301 7654321")

	// A second message is refused by the server: from the page itself and
	// when posted straight to the API with the same visitor id.
	status, err := chromedp.Run(f1.ctx, chromedp.Evaluate[int](`fetch(`+js("/c/"+a.ch.Key+"/messages")+`, {
		method: 'POST', headers: {'Content-Type': 'application/json'},
		body: JSON.stringify({visitor_id: `+js(visitor1)+`, text: 'second try'})}).then(function (r) { return r.status; })`,
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, status)
	code, body := a.post(t, visitor1, "second try, by script")
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, "declined")
	msgs, err = a.db.ListMessages(ctx, conv1.ID, 0, 0)
	require.NoError(t, err)
	assert.Empty(t, msgs, "nothing got through")

	// The conversation survives a reload of the host page.
	f1 = openChat(t, a, host1)
	f1.waitJS("declined after reload", `!document.getElementById('cf-chat-declined').hidden`)
	assert.Equal(t, visitor1, a.visitorID(f1))

	// Visitor 2, in a fresh browser context, accepts.
	op.do(chromedp.Navigate(a.base + "/admin/conversations"))
	op.waitJS("conversation list", `document.getElementById('conversations-region')`)
	host2 := chatTab(t, browser, "visitor 2")
	f2 := openChat(t, a, host2)
	visitor2 := a.visitorID(f2)
	require.NotEqual(t, visitor1, visitor2)
	send(f2, "Hello, where is my parcel?")
	f2.waitJS("consent shown", `!document.getElementById('cf-chat-consent').hidden`)
	f2.do(chromedp.Click(chromedp.ID("cf-chat-accept")))
	f2.waitJS("delivered", `document.querySelector('.cf-msg--visitor[data-id]') && !document.querySelector('.cf-msg--held')`)
	assert.Contains(t, chatEval[string](f2, `document.querySelector('.cf-msg--visitor[data-id]').textContent`), "Hello, where is my parcel?")
	assert.True(t, strings.HasPrefix(chatEval[string](f2, `document.querySelector('.cf-msg--system a').href`), a.base+"/w/"),
		"a withdrawal link follows the acceptance")
	f2.waitJS("composer open", `!document.getElementById('cf-chat-text').disabled`)

	// The operator's open list shows it without a reload.
	conv2, err := a.db.FindVisitorConversation(ctx, a.ch.ID, visitor2)
	require.NoError(t, err)
	op.waitJS("new conversation in the list", fmt.Sprintf(`document.getElementById('conversation-%d')`, conv2.ID))
	assert.Contains(t, chatEval[string](op, fmt.Sprintf(`document.getElementById('conversation-%d').textContent`, conv2.ID)), "1 new")

	// The operator opens it, sees the message, and replies.
	op.do(chromedp.Navigate(fmt.Sprintf("%s/admin/conversations/%d", a.base, conv2.ID)))
	op.waitJS("conversation page", `document.getElementById('conversation-log')`)
	assert.Contains(t, chatEval[string](op, `document.getElementById('conversation-log').textContent`), "Hello, where is my parcel?")
	op.do(chromedp.SendKeys(chromedp.ID("reply"), "It left our warehouse today."), chromedp.Click(chromedp.ID("send-reply")))

	// The reply reaches the visitor without a reload.
	f2.waitJS("reply arrived", `Array.prototype.some.call(document.querySelectorAll('.cf-msg--operator'),
		function (li) { return li.textContent.indexOf('It left our warehouse today.') >= 0; })`)
	// And the visitor's answer reaches the operator's open page.
	send(f2, "Great, thanks! <b>not bold</b>")
	op.waitJS("visitor answer arrived", `document.getElementById('conversation-log').textContent.indexOf('Great, thanks!') >= 0`)
	assert.Equal(t, 0, chatEval[int](op, `document.querySelectorAll('#conversation-log b').length`), "text, never markup")
	assert.Equal(t, 0, chatEval[int](f2, `document.querySelectorAll('#cf-chat-log b').length`))

	// The consent entry is in the log, with the channel as its source.
	recs, err := a.db.ListRecords(ctx, formbuilder.RecordFilter{ChannelID: a.ch.ID})
	require.NoError(t, err)
	require.Len(t, recs, 1, "one consent: visitor 2's; the refusal logged nothing")
	r := recs[0]
	assert.Equal(t, formbuilder.ActionGiven, r.Action)
	assert.Equal(t, "Support chat (e2e)", r.Source)
	assert.Equal(t, a.ch.ID, r.ChannelID)
	assert.Equal(t, a.hostPage(), r.PageURL)
	assert.Equal(t, a.user.ID, r.UserID)
	assert.Equal(t, "Olivia Operator", r.User)
	assert.Equal(t, "127.0.0.1", r.IP)
	assert.Equal(t, a.consent.Current.Hash, r.TextHash)
	conv2, err = a.db.FindConversation(ctx, conv2.ID)
	require.NoError(t, err)
	assert.Equal(t, r.ID, conv2.ConsentRecordID)
	v, err := a.db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, v.OK(), "%+v", v)

	// The log page filtered by the channel shows it to the operator.
	op.do(chromedp.Navigate(fmt.Sprintf("%s/admin/log?channel_id=%d", a.base, a.ch.ID)))
	op.waitJS("log page", `document.readyState === 'complete'`)
	assert.Contains(t, chatEval[string](op, `document.body.textContent`), "Support chat (e2e)")
}

// TestChatPollingFallback: without EventSource (old browsers, proxies that
// break streams) the chat page polls, and an operator's reply still arrives
// without a reload. The page is opened on its own, as the shareable /c/KEY.
func TestChatPollingFallback(t *testing.T) {
	browser := chatBrowser(t)
	a := newChatApp(t)
	ctx := context.Background()
	a.ch.WarnPersonalData = false
	require.NoError(t, a.db.UpdateChannel(ctx, a.ch))

	v := chatTab(t, browser, "visitor")
	// Installed before any script of the page runs.
	_, err := chromedp.Call(v.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: `delete window.EventSource;`})
	require.NoError(t, err)
	v.do(chromedp.Navigate(a.base + "/c/" + a.ch.Key))
	v.waitJS("chat ready", `!document.getElementById('cf-chat-text').disabled`)
	assert.False(t, chatEval[bool](v, `'EventSource' in window`))
	assert.Equal(t, 0, chatEval[int](v, `document.querySelectorAll('#cf-chat-close').length`), "no close button outside the panel")
	send(v, "Anyone there?")
	v.waitJS("delivered", `document.querySelector('.cf-msg--visitor[data-id]')`)
	conv, err := a.db.FindVisitorConversation(ctx, a.ch.ID, a.visitorID(v))
	require.NoError(t, err)

	// Stored by the service itself: no event is published, only the
	// polls can bring it.
	require.NoError(t, a.db.AddOperatorMessage(ctx, &formbuilder.Message{ConversationID: conv.ID, UserID: a.user.ID,
		Text: "Yes, polling works."}))
	v.waitJS("reply by polling", `document.querySelector('.cf-msg--operator') &&
		document.querySelector('.cf-msg--operator').textContent.indexOf('Yes, polling works.') >= 0`)
}
