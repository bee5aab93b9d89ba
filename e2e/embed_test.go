package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// consentState is what the form page shows of one consent box.
type consentState struct {
	Checked     bool   `json:"checked"`
	Expanded    string `json:"expanded"`
	Controls    string `json:"controls"`
	Open        bool   `json:"open"`
	TextVisible bool   `json:"textVisible"`
	ErrorShown  bool   `json:"errorShown"`
	Invalid     string `json:"invalid"`
}

func readConsent(f *view, c *formbuilder.Consent, marker string) consentState {
	f.t.Helper()
	return evalJS[consentState](f, fmt.Sprintf(`(function () {
  var box = document.getElementById('cf-consent-%[1]d');
  var text = document.getElementById('cf-consent-text-%[1]d');
  var err = document.getElementById('cf-consent-error-%[1]d');
  var body = text.querySelector('.cf-consent__body');
  return {
    checked: box.checked,
    expanded: box.getAttribute('aria-expanded') || '',
    controls: box.getAttribute('aria-controls') || '',
    open: text.open,
    textVisible: body.checkVisibility() && document.body.innerText.indexOf(%[2]s) >= 0,
    errorShown: !!err && !err.hidden && err.checkVisibility(),
    invalid: box.getAttribute('aria-invalid') || ''
  };
})()`, c.ID, js(marker)))
}

func boxSel(c *formbuilder.Consent) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf("#cf-consent-%d", c.ID))
}

// toggle changes a box by mouse, or by keyboard (focus and Space).
func toggle(f *view, c *formbuilder.Consent, keyboard bool) {
	f.t.Helper()
	if keyboard {
		f.do(chromedp.Focus(boxSel(c)), chromedp.KeyEvent(" "))
		return
	}
	f.do(chromedp.Click(boxSel(c)))
}

// frameHeight waits until the loader has made the iframe iframeSel of host
// exactly as high as the form page's content, and returns that height.
func frameHeight(host, f *view, iframeSel string) int {
	host.t.Helper()
	var h int
	eventually(host.t, waitTimeout, "the iframe's height follows its content", func() error {
		content := evalJS[float64](f, `document.getElementById('cf-main').getBoundingClientRect().height`)
		styled := evalJS[string](host, `document.querySelector(`+js(iframeSel)+`).style.height`)
		want := fmt.Sprintf("%dpx", int(math.Ceil(content)))
		if content <= 0 || styled != want {
			return fmt.Errorf("iframe height %q, content %vpx", styled, content)
		}
		h = int(math.Ceil(content))
		return nil
	})
	return h
}

// typeInto types text into the input sel of the frame f and waits until the
// input holds it. With two cross-site frames on one page, keys sent to the
// one that does not have the page's focus were sometimes lost under load
// (the phone field stayed empty and the browser refused the send): a click
// first moves the focus there, and a lost attempt is typed again.
func typeInto(f *view, sel, text string) {
	f.t.Helper()
	val := `document.querySelector(` + js(sel) + `).value`
	for attempt := 1; ; attempt++ {
		f.do(chromedp.Click(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
		if evalJS[string](f, val) == text {
			return
		}
		require.Less(f.t, attempt, 3, "typing into %s keeps failing: %q", sel, evalJS[string](f, val))
		f.do(chromedp.Evaluate[chromedp.Void](val + ` = ''`))
	}
}

// formFrame attaches to the form in the iframe iframeSel of host and waits
// until it is shown and the loader has sized the iframe to it: clicks before
// that can land where the form was before the iframe grew.
func formFrame(host *view, iframeSel string) *view {
	host.t.Helper()
	f := host.frame(iframeSel)
	f.waitJS("the form is shown", `document.getElementById('cf-form') && document.getElementById('cf-form').checkVisibility()`)
	frameHeight(host, f, iframeSel)
	return f
}

// flowOptions vary the consent flow between the modes.
type flowOptions struct {
	keyboard    bool   // toggle the box with Space instead of the mouse
	pageURL     string // the host page's URL the record must carry
	afterExpand func() // runs while the consent text is expanded
}

// consentFlow runs issue 3's flow in the embedded form f: the box is ticked
// and its text hidden; unticking shows the text; sending is refused with a
// visible, announced message and stores nothing; ticking again and sending
// succeeds, and the record carries the host page URL, the initial state and
// that the visitor interacted.
func consentFlow(t *testing.T, a *app, host, f *view, iframeSel string, opt flowOptions) {
	t.Helper()
	req, opt2 := a.required, a.optional
	st := readConsent(f, req, requiredMarker)
	require.True(t, st.Checked, "the required consent is ticked by default")
	require.Equal(t, "false", st.Expanded)
	require.Equal(t, fmt.Sprintf("cf-consent-text-%d", req.ID), st.Controls)
	require.False(t, st.Open, "the consent text is folded while ticked")
	require.False(t, st.TextVisible, "the consent text is hidden while ticked")
	require.False(t, readConsent(f, opt2, optionalMarker).Checked, "the optional consent starts unticked")
	h0 := frameHeight(host, f, iframeSel)
	require.Greater(t, h0, 200, "iframe height")

	posts := f.countPosts()
	toggle(f, req, opt.keyboard)
	f.waitJS("unticking expands the text", fmt.Sprintf(`document.getElementById('cf-consent-%d').getAttribute('aria-expanded') === 'true'`, req.ID))
	st = readConsent(f, req, requiredMarker)
	require.False(t, st.Checked)
	require.True(t, st.Open)
	require.True(t, st.TextVisible, "the consent text (its marker sentence) is visible after unticking")
	h1 := frameHeight(host, f, iframeSel)
	require.Greater(t, h1, h0, "the iframe grows with the expanded text")
	if opt.afterExpand != nil {
		opt.afterExpand()
	}

	f.do(
		chromedp.SendKeys(chromedp.CSS("#cf-field-name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS("#cf-field-email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS("#cf-field-message"), "Hello from the browser test."),
		chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")),
	)
	f.waitJS("the refusal is shown", `document.getElementById('cf-error-summary').checkVisibility()`)
	summary := evalJS[string](f, `(function () { var s = document.getElementById('cf-error-summary'); return s.getAttribute('role') + '|' + s.innerText; })()`)
	require.Contains(t, summary, "alert|", "the error summary is announced (role=alert)")
	require.Contains(t, summary, "Please agree to")
	st = readConsent(f, req, requiredMarker)
	require.True(t, st.ErrorShown, "the message is shown at the consent")
	require.Equal(t, "true", st.Invalid)
	require.True(t, st.TextVisible, "the text stays open while refused")
	require.True(t, evalJS[bool](f, fmt.Sprintf(`document.activeElement === document.getElementById('cf-consent-%d')`, req.ID)),
		"focus moves to the box")
	require.Zero(t, posts.count(), "a refused form sends no request")
	a.requireNothingStored(t, a.form)

	toggle(f, req, opt.keyboard)
	f.waitJS("ticking folds the text", fmt.Sprintf(`document.getElementById('cf-consent-%d').getAttribute('aria-expanded') === 'false'`, req.ID))
	st = readConsent(f, req, requiredMarker)
	require.True(t, st.Checked)
	require.False(t, st.Open)
	require.False(t, st.TextVisible)
	require.False(t, st.ErrorShown, "ticking clears the message at the box")
	require.Empty(t, st.Invalid)

	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f.waitJS("the success message is shown", `document.getElementById('cf-success') && document.getElementById('cf-success').checkVisibility()`)
	require.Contains(t, evalJS[string](f, `document.getElementById('cf-success').innerText`), successMessage)
	f.waitJS("the success is announced", `document.getElementById('cf-status').textContent.indexOf(`+js(successMessage)+`) >= 0`)
	require.Equal(t, 1, posts.count(), "one POST, the accepted one")

	recs := a.records(t, a.form)
	require.Len(t, recs, 1, "one record: the optional consent was left unticked")
	requireRecord(t, recs, req, opt.pageURL, true, true)
	require.Equal(t, 1, a.submissions(t, a.form))
	// The success message is shorter than the form: the iframe shrinks.
	require.Less(t, frameHeight(host, f, iframeSel), h0)
}

// requireNoHostStyles checks that the loader added no style sheet or inline
// style to the host page's markup (it sets element.style only on its own
// elements, which a strict style-src allows).
func requireNoHostStyles(host *view) {
	host.t.Helper()
	n := evalJS[int](host, `document.querySelectorAll('style, link[rel=stylesheet]').length`)
	require.Zero(host.t, n, "style sheets injected into the host page")
}

func TestEmbedInline(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	pageURL := a.host + "/inline.html?x=1"
	host.navigate(pageURL, 200)
	f := formFrame(host, "iframe")
	require.Equal(t, "Form", evalJS[string](host, `document.querySelector('iframe').title`))
	require.Equal(t, "inline/"+a.form.Key, evalJS[string](host,
		`document.querySelector('iframe').previousElementSibling.getAttribute('data-consentforms')`),
		"the form stands where the tag stands")
	consentFlow(t, a, host, f, "iframe", flowOptions{pageURL: pageURL, afterExpand: func() {
		if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
			return
		}
		png, err := chromedp.Run(host.ctx, chromedp.Screenshot(chromedp.CSS("iframe")))
		require.NoError(t, err)
		out := filepath.Join("..", "testdata", "e2e", "inline-expanded.png")
		require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
		require.NoError(t, os.WriteFile(out, png, 0o644))
		t.Logf("wrote %s (%d bytes)", out, len(png))
	}})
	requireNoHostStyles(host)
	host.requireClean()
	f.requireClean()
}

const dialogJS = `document.querySelector('[role=dialog]')`

// dialogClosedJS is true when no popup shows (a closed one may stay in the
// DOM, hidden, so that its form keeps what was typed).
const dialogClosedJS = `!` + dialogJS + ` || !` + dialogJS + `.checkVisibility()`

// openPopup clicks the trigger and checks the dialog: shown, modal, named,
// with the focus inside.
func openPopup(host *view) {
	host.t.Helper()
	host.do(chromedp.Click(chromedp.ID("open-form")))
	requirePopup(host)
}

func requirePopup(host *view) {
	host.t.Helper()
	host.waitJS("the popup opens", dialogJS+` && `+dialogJS+`.checkVisibility()`)
	require.Equal(host.t, "true", evalJS[string](host, dialogJS+`.getAttribute('aria-modal')`))
	require.NotEmpty(host.t, evalJS[string](host, dialogJS+`.getAttribute('aria-label')`), "the dialog has a name")
	host.waitJS("focus is inside the popup", dialogJS+`.contains(document.activeElement)`)
}

// requireClosed waits until the popup is gone and the focus is back on the
// trigger.
func requireClosed(host *view, how string) {
	host.t.Helper()
	host.waitJS(how+" closes the popup", dialogClosedJS)
	host.waitJS("focus returns to the trigger after "+how, `document.activeElement === document.getElementById('open-form')`)
}

func TestEmbedClick(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	pageURL := a.host + "/click.html"
	host.navigate(pageURL, 200)
	host.waitJS("the loader binds the trigger", `document.getElementById('open-form').getAttribute('aria-haspopup') === 'dialog'`)
	require.Zero(t, evalJS[int](host, `document.querySelectorAll('iframe').length`), "no iframe before the click")

	// Focus stays inside while open: focusing the host page's link sends it
	// back into the dialog; Tab moves on into the form's iframe, where Esc
	// closes the popup through the form page's message.
	openPopup(host)
	evalJS[chromedp.Void](host, `document.getElementById('elsewhere').focus()`)
	require.True(t, evalJS[bool](host, dialogJS+`.contains(document.activeElement)`), "focus is kept inside the popup")
	f := formFrame(host, "[role=dialog] iframe")
	host.do(chromedp.KeyEvent(kb.Tab))
	host.waitJS("Tab moves into the form", `document.activeElement && document.activeElement.tagName === 'IFRAME'`)
	f.waitJS("the first field has the focus", `document.hasFocus() && document.activeElement === document.getElementById('cf-field-name')`)
	host.do(chromedp.KeyEvent(kb.Escape))
	requireClosed(host, "Esc inside the form")

	openPopup(host)
	host.do(chromedp.KeyEvent(kb.Escape))
	requireClosed(host, "Esc")

	openPopup(host)
	host.do(chromedp.Click(chromedp.CSS(`[role=dialog] button[aria-label="Close"]`)))
	requireClosed(host, "the close button")

	openPopup(host)
	host.do(chromedp.MouseClickXY(5, 5)) // the backdrop, outside the panel
	requireClosed(host, "a click outside")

	openPopup(host)
	require.Equal(t, 1, evalJS[int](host, `document.querySelectorAll('iframe').length`), "one iframe however often it opens")
	consentFlow(t, a, host, f, "[role=dialog] iframe", flowOptions{pageURL: pageURL})
	host.do(chromedp.Click(chromedp.CSS(`[role=dialog] button[aria-label="Close"]`)))
	requireClosed(host, "the close button after sending")
	require.Equal(t, 1, evalJS[int](host, `document.querySelectorAll('script[data-consentforms]').length`))
	requireNoHostStyles(host)
	host.requireClean()
}

func TestEmbedAuto(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	pageURL := a.host + "/auto.html"
	start := time.Now()
	host.navigate(pageURL, 200)
	requirePopup(host)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "the popup waits data-delay=1 second")
	f := formFrame(host, "[role=dialog] iframe")
	consentFlow(t, a, host, f, "[role=dialog] iframe", flowOptions{pageURL: pageURL, keyboard: true})
	// After sending, the focus is on the success message inside the form:
	// Esc there closes the popup.
	host.do(chromedp.KeyEvent(kb.Escape))
	host.waitJS("Esc closes the popup", dialogClosedJS)
	requireNoHostStyles(host)
	host.requireClean()
}

func TestEmbedTwoFormsLoaderTwice(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	pageURL := a.host + "/twice.html"
	host.navigate(pageURL, 200)
	// The load event waits for the async scripts: all three copies of the
	// loader have run by then.
	host.waitJS("the page and its scripts loaded", `document.readyState === 'complete'`)
	require.Equal(t, 3, evalJS[int](host, `document.querySelectorAll('script[src$="/embed.js"]').length`))
	require.Equal(t, 2, evalJS[int](host, `document.querySelectorAll('iframe').length`), "one iframe per tag")
	require.Equal(t, []string{"1", "1"}, evalJS[[]string](host,
		`Array.from(document.querySelectorAll('script[data-consentforms]'), function (s) { return s.getAttribute('data-consentforms-done'); })`))

	f1 := formFrame(host, `iframe[title="Contact form"]`)
	f2 := formFrame(host, `iframe[title="Callback form"]`)
	require.Contains(t, evalJS[string](f2, `document.body.innerText`), "Request a callback")

	typeInto(f1, "#cf-field-name", "Grace Hopper")
	typeInto(f1, "#cf-field-email", "grace@example.com")
	f1.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	typeInto(f2, "#cf-field-phone", "+49 30 1234567")
	f2.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f1.waitJS("form 1 sent", `document.getElementById('cf-success')`)
	f2.waitJS("form 2 sent", `document.getElementById('cf-success')`)

	// Untouched pre-ticked boxes: the log says so.
	requireRecord(t, a.records(t, a.form), a.required, pageURL, true, false)
	requireRecord(t, a.records(t, a.other), a.required, pageURL, true, false)
	require.Equal(t, 1, a.submissions(t, a.form))
	require.Equal(t, 1, a.submissions(t, a.other))
	require.Equal(t, 2, evalJS[int](host, `document.querySelectorAll('iframe').length`))
	host.requireClean()
	f1.requireClean()
	f2.requireClean()
}

func TestEmbedOptionalConsent(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	pageURL := a.host + "/inline.html?optional=1"
	send := func(f *view) {
		f.do(
			chromedp.SendKeys(chromedp.CSS("#cf-field-name"), "Alan Turing"),
			chromedp.SendKeys(chromedp.CSS("#cf-field-email"), "alan@example.com"),
			chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")),
		)
		f.waitJS("the form is sent", `document.getElementById('cf-success')`)
	}

	// Left unticked: only the required consent is recorded.
	host.navigate(pageURL, 200)
	f := formFrame(host, "iframe")
	st := readConsent(f, a.optional, optionalMarker)
	require.False(t, st.Checked)
	require.Equal(t, "true", st.Expanded, "an unticked box shows its text")
	require.True(t, st.TextVisible)
	send(f)
	recs := a.records(t, a.form)
	require.Len(t, recs, 1)
	requireRecord(t, recs, a.required, pageURL, true, false)

	// Ticked by the visitor: recorded with initial state false.
	host.navigate(pageURL, 200)
	f = formFrame(host, "iframe")
	toggle(f, a.optional, false)
	f.waitJS("ticking folds the text", fmt.Sprintf(`document.getElementById('cf-consent-%d').getAttribute('aria-expanded') === 'false'`, a.optional.ID))
	send(f)
	recs = a.records(t, a.form)
	require.Len(t, recs, 3)
	requireRecord(t, recs[1:], a.required, pageURL, true, false)
	requireRecord(t, recs[1:], a.optional, pageURL, false, true)
	require.Equal(t, 2, a.submissions(t, a.form))
	host.requireClean()
}
