package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// waitTimeout bounds one wait for the page. Everything happens on loopback,
// but the tests run in parallel tabs of one browser on 2 shared cores, where
// a render can take many seconds; a pass never waits this long.
const waitTimeout = 45 * time.Second

// cspProbe records Content-Security-Policy violations of a document. It is
// installed through the DevTools protocol, which the page's CSP does not
// govern, so the host page itself still has no script of its own.
const cspProbe = `(function () {
  if (window.__cfViolations) { return; }
  var v = window.__cfViolations = [];
  document.addEventListener('securitypolicyviolation', function (e) {
    v.push(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')');
  });
})()`

// view is one browser target under test: a tab or a cross-site iframe.
// It collects console errors, exceptions and CSP violations; a test fails on
// exceptions and violations.
type view struct {
	t    *testing.T
	ctx  context.Context
	name string

	mu       sync.Mutex
	problems []string // exceptions and CSP violations
	notes    []string // other console errors and warnings, logged
}

// newTab opens a tab with the CSP probe and the console watcher.
func newTab(t *testing.T) *view {
	t.Helper()
	v := &view{t: t, ctx: needBrowser(t), name: "tab"}
	_, err := chromedp.Call(v.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: cspProbe})
	require.NoError(t, err)
	v.watchConsole()
	t.Cleanup(v.report)
	return v
}

func (v *view) watchConsole() {
	msgs := chromedp.Console(v.ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			line := fmt.Sprintf("%s: %s (%s:%d)", v.name, m, m.URL, m.Line+1)
			v.mu.Lock()
			switch {
			case m.IsException(), isCSPMessage(m.Text):
				v.problems = append(v.problems, line)
			case strings.HasSuffix(m.URL, "/favicon.ico"):
				// The browser asks every origin for one; none is served.
			case m.Type == chromedp.ConsoleError, m.Type == chromedp.ConsoleWarning:
				v.notes = append(v.notes, line)
			}
			v.mu.Unlock()
		}
	}()
}

func isCSPMessage(s string) bool {
	return strings.Contains(s, "Content Security Policy") || strings.Contains(s, "Content-Security-Policy")
}

// report runs when the test ends: console problems fail it.
func (v *view) report() {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, n := range v.notes {
		v.t.Logf("console: %s", n)
	}
	for _, p := range v.problems {
		v.t.Errorf("console: %s", p)
	}
}

// requireClean fails on CSP violations the current document saw, and on
// console problems so far.
func (v *view) requireClean() {
	v.t.Helper()
	got := evalJS[[]string](v, `window.__cfViolations || []`)
	require.Empty(v.t, got, "%s: Content-Security-Policy violations", v.name)
	v.mu.Lock()
	problems := append([]string(nil), v.problems...)
	v.mu.Unlock()
	require.Empty(v.t, problems, "%s: console problems", v.name)
}

// do runs actions and fails the test on an error.
func (v *view) do(actions ...chromedp.Action[chromedp.Void]) {
	v.t.Helper()
	require.NoError(v.t, chromedp.Do(v.ctx, actions...), v.name)
}

// navigate loads url and fails unless it answers with status.
func (v *view) navigate(url string, status int64) {
	v.t.Helper()
	resp, err := chromedp.Run(v.ctx, chromedp.NavigateResponse(url))
	require.NoError(v.t, err, "navigate to %s", url)
	require.Equal(v.t, status, resp.Status, "status of %s", url)
}

// evalJS evaluates expr in v and decodes the result.
func evalJS[T any](v *view, expr string) T {
	v.t.Helper()
	res, err := chromedp.Run(v.ctx, chromedp.Evaluate[T](expr))
	require.NoError(v.t, err, "%s: evaluate %s", v.name, shortText(expr))
	return res
}

// waitJS polls expr in v until it is truthy.
func (v *view) waitJS(what, expr string) {
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
			// What the page shows makes a timeout in CI readable.
			text, _ := chromedp.Run(v.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
			v.t.Fatalf("%s: %s: %v; the page shows: %s", v.name, what, err, shortText(text))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// frame attaches to the cross-site iframe that the element iframeSel of the
// tab v shows. Such an iframe runs as a target of its own, so its DOM is not
// part of the tab's; the loader's frame id in its URL identifies the target.
func (v *view) frame(iframeSel string) *view {
	v.t.Helper()
	v.waitJS("iframe "+iframeSel, `document.querySelector(`+js(iframeSel)+`) && document.querySelector(`+js(iframeSel)+`).src`)
	src := evalJS[string](v, `document.querySelector(`+js(iframeSel)+`).src`)
	u, err := url.Parse(src)
	require.NoError(v.t, err)
	fid := u.Query().Get("frame")
	require.NotEmpty(v.t, fid, "iframe URL %s has no frame id", src)
	tab := chromedp.FromContext(v.ctx).Target.TargetID
	id := v.waitTarget("iframe target for "+src, func(in *target.Info) bool {
		fu, err := url.Parse(in.URL)
		// Chromium 148 (Debian 12's) leaves ParentID empty; the frame id
		// in the URL is random per iframe, so it alone identifies it.
		return in.Type == "iframe" && (in.ParentID == tab || in.ParentID == "") && err == nil && fu.Query().Get("frame") == fid
	})
	fctx, cancel := chromedp.NewContext(v.ctx, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel())
	v.t.Cleanup(cancel)
	f := &view{t: v.t, ctx: fctx, name: "iframe " + iframeSel}
	require.NoError(v.t, chromedp.Do(fctx), "attach to the iframe")
	f.watchConsole()
	v.t.Cleanup(f.report)
	f.waitJS("form page loaded", `document.readyState === 'complete'`)
	evalJS[chromedp.Void](f, cspProbe)
	return f
}

// waitTarget waits until the browser has a target that match accepts and
// returns its id.
func (v *view) waitTarget(what string, match func(*target.Info) bool) target.ID {
	v.t.Helper()
	var id target.ID
	eventually(v.t, waitTimeout, what, func() error {
		infos, err := chromedp.Targets(v.ctx)
		if err != nil {
			return err
		}
		for _, in := range infos {
			if match(in) {
				id = in.TargetID
				return nil
			}
		}
		return errNotYet
	})
	return id
}

// postCounter counts the POST requests a target sends.
type postCounter struct {
	mu sync.Mutex
	n  int
}

func (p *postCounter) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// countPosts starts counting the POST requests of v to the form server.
func (v *view) countPosts() *postCounter {
	pc := &postCounter{}
	events := chromedp.Events(v.ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			if ev.Request.Method == "POST" {
				pc.mu.Lock()
				pc.n++
				pc.mu.Unlock()
			}
		}
	}()
	return pc
}
