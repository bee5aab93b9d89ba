package widget

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The layout checks run in Chromium at the width of a small phone and of a
// desktop. They assert boxes (nothing wider than the page, one visible copy
// of a message, a sentence as many lines tall as its text) rather than
// compare whole screenshots, which change with every font; only the chat
// launcher, which has no text, is compared with a golden image.
//
// WIDGET_SCREENSHOTS=DIR saves a screenshot of every checked view in DIR,
// to look at.
var layoutWidths = []int64{320, 1280}

// atWidths runs check once per layout width, each time in a new tab whose
// window is width × 800 CSS pixels at scale 1.
func atWidths(t *testing.T, bctx context.Context, check func(t *testing.T, ctx context.Context, width int64)) {
	for _, w := range layoutWidths {
		t.Run(strconv.FormatInt(w, 10), func(t *testing.T) {
			ctx := tab(t, bctx)
			do(t, ctx, chromedp.EmulateViewport(w, 800))
			check(t, ctx, w)
		})
	}
}

// screenshot saves what the tab's viewport shows as DIR/name.png when
// WIDGET_SCREENSHOTS=DIR is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("WIDGET_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// frameOf attaches to the iframe sel of the tab ctx. The form server and
// the host page are different sites, so the iframe runs as a target of its
// own; the loader's frame id in its URL identifies it.
func frameOf(t *testing.T, ctx context.Context, sel string) context.Context {
	t.Helper()
	waitJS(t, ctx, `!!document.querySelector(`+strconv.Quote(sel)+`)`)
	u, err := url.Parse(eval[string](t, ctx, `document.querySelector(`+strconv.Quote(sel)+`).src`))
	require.NoError(t, err)
	fid := u.Query().Get("frame")
	require.NotEmpty(t, fid)
	var id target.ID
	require.Eventually(t, func() bool {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			return false
		}
		for _, in := range infos {
			if fu, err := url.Parse(in.URL); in.Type == "iframe" && err == nil && fu.Query().Get("frame") == fid {
				id = in.TargetID
				return true
			}
		}
		return false
	}, 15*time.Second, 25*time.Millisecond, "iframe target of %s", u)
	fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id), chromedp.WithDetachOnCancel())
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(fctx))
	waitJS(t, fctx, `document.readyState === 'complete'`)
	return fctx
}

// sideways is how many CSS pixels the document sticks out past its width:
// more than 0 gives the page, or the iframe showing it, a horizontal
// scrollbar.
const sideways = `document.documentElement.scrollWidth - document.documentElement.clientWidth`

// visibleCopies counts the places where text is seen on screen: text nodes
// containing it whose box, clipped by every ancestor that hides overflow,
// keeps more than one pixel square. A visually hidden live region (1 × 1,
// clipped) does not count.
func visibleCopies(t *testing.T, ctx context.Context, text string) int {
	t.Helper()
	return eval[int](t, ctx, `(function (text) {
		var n = 0;
		var walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		while (walk.nextNode()) {
			var node = walk.currentNode;
			if (node.data.indexOf(text) < 0 || !node.parentElement.checkVisibility({visibilityProperty: true})) {
				continue;
			}
			var range = document.createRange();
			range.selectNodeContents(node);
			var r = range.getBoundingClientRect();
			var left = r.left, top = r.top, right = r.right, bottom = r.bottom;
			for (var el = node.parentElement; el; el = el.parentElement) {
				var cs = getComputedStyle(el);
				if (cs.overflow !== 'visible' || cs.clipPath !== 'none') {
					var b = el.getBoundingClientRect();
					left = Math.max(left, b.left); top = Math.max(top, b.top);
					right = Math.min(right, b.right); bottom = Math.min(bottom, b.bottom);
				}
			}
			if (right - left > 1 && bottom - top > 1) {
				n++;
			}
		}
		return n;
	})(`+strconv.Quote(text)+`)`)
}

// TestBrowserSuccessMessageOnce: after a send the thanks appear once on
// screen; the live region that announces them is for screen readers only.
func TestBrowserSuccessMessageOnce(t *testing.T) {
	bctx := browser(t)
	s := newStack(t)
	const thanks = "Thanks, we will be in touch."
	atWidths(t, bctx, func(t *testing.T, ctx context.Context, w int64) {
		do(t, ctx, chromedp.Navigate(s.forms.URL+"/f/"+fixtureForm("en").Key), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
		fillValid(t, ctx)
		do(t, ctx, chromedp.Click(chromedp.CSS("button[type=submit]")))
		waitJS(t, ctx, `document.getElementById('cf-status').textContent === `+strconv.Quote(thanks))
		screenshot(t, ctx, fmt.Sprintf("success-%d", w))
		assert.Equal(t, 1, visibleCopies(t, ctx, thanks))
		assert.Equal(t, 0, eval[int](t, ctx, sideways))
	})
}

// TestBrowserNetworkErrorShown: with the status region out of sight, a
// failed connection is shown in the error summary.
func TestBrowserNetworkErrorShown(t *testing.T) {
	bctx := browser(t)
	s := newStack(t)
	ctx := tab(t, bctx)
	do(t, ctx, chromedp.Navigate(s.forms.URL+"/f/"+fixtureForm("en").Key), chromedp.WaitVisible(chromedp.ID("cf-consent-3")))
	fillValid(t, ctx)
	// The server goes away: the send fails as it would offline.
	s.forms.Config.SetKeepAlivesEnabled(false)
	s.forms.CloseClientConnections()
	require.NoError(t, s.forms.Listener.Close())
	do(t, ctx, chromedp.Click(chromedp.CSS("button[type=submit]")))
	waitJS(t, ctx, `!document.getElementById('cf-error-summary').hidden`)
	msg := texts["en"]["network_error"]
	assert.Equal(t, []string{msg}, eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#cf-error-summary li'), function (li) { return li.textContent; })`))
	assert.Equal(t, 1, visibleCopies(t, ctx, msg))
	assert.Equal(t, "cf-error-summary", eval[string](t, ctx, `document.activeElement.id`))
}

// TestBrowserLongConsentLabel: a label with a long URL and a long compound
// wraps inside the popup, also when its error repeats it, and nothing
// scrolls sideways.
func TestBrowserLongConsentLabel(t *testing.T) {
	bctx := browser(t)
	s := newStack(t)
	atWidths(t, bctx, func(t *testing.T, ctx context.Context, w int64) {
		do(t, ctx, chromedp.Navigate(s.hostURL+"/click-long"), chromedp.WaitVisible(chromedp.ID("open")))
		waitJS(t, ctx, `document.getElementById('open').getAttribute('aria-haspopup') === 'dialog'`)
		do(t, ctx, chromedp.Click(chromedp.ID("open")))
		waitJS(t, ctx, dialogOpen)
		f := frameOf(t, ctx, "[role=dialog] iframe")
		waitJS(t, f, `!!document.getElementById('cf-consent-3')`)
		// The iframe fits the panel, and the form fits the iframe.
		panel := `document.querySelector('[role=dialog] iframe').parentElement`
		assert.Equal(t, 0, eval[int](t, ctx, panel+`.scrollWidth - `+panel+`.clientWidth`), "popup panel")
		assert.Equal(t, 0, eval[int](t, f, sideways), "form in the popup")
		labelFits := `(function () {
			var l = document.querySelector('label[for=cf-consent-3]').getBoundingClientRect();
			var f = document.getElementById('cf-form').getBoundingClientRect();
			return l.left >= f.left && l.right <= f.right + 0.5;
		})()`
		assert.True(t, eval[bool](t, f, labelFits), "label inside the form")
		waitJS(t, ctx, `document.querySelector('[role=dialog] iframe').style.height !== '320px'`)
		// The popup scrolls: bring the consent into view for a look.
		showConsent := func() {
			top := eval[float64](t, f, `document.querySelector('[data-cf-consent="3"]').getBoundingClientRect().top`)
			eval[any](t, ctx, panel+`.scrollTop = `+strconv.FormatFloat(top-60, 'f', 0, 64)+`, null`)
		}
		showConsent()
		screenshot(t, ctx, fmt.Sprintf("long-label-%d", w))

		// Unticked and sent: the error quotes the label. Clicked by
		// script: the form is taller than the window, and a mouse
		// event for an iframe scrolled out of sight may miss.
		eval[any](t, f, `document.getElementById('cf-consent-3').click(), document.querySelector('button[type=submit]').click(), null`)
		waitJS(t, f, `!document.getElementById('cf-consent-error-3').hidden`)
		assert.Equal(t, 0, eval[int](t, f, sideways), "form with the error")
		assert.True(t, eval[bool](t, f, labelFits))
		assert.True(t, eval[bool](t, f, `(function () {
			var e = document.getElementById('cf-consent-error-3').getBoundingClientRect();
			var s = document.getElementById('cf-error-summary').getBoundingClientRect();
			var f = document.getElementById('cf-form').getBoundingClientRect();
			return e.right <= f.right + 0.5 && s.right <= f.right + 0.5;
		})()`), "the error and the summary inside the form")
		showConsent()
		screenshot(t, ctx, fmt.Sprintf("long-label-error-%d", w))
	})
}

// chatLabel measures the chat's consent label: its height, and the height
// the same words take as plain text in a paragraph of the same width.
type chatLabel struct {
	Height float64 `json:"height"`
	Prose  float64 `json:"prose"`
}

// TestBrowserChatConsentLabel: the chat's consent label reads as one
// sentence, its link part flowing with the rest, and the link still opens
// the text.
func TestBrowserChatConsentLabel(t *testing.T) {
	bctx := browser(t)
	s := newStack(t)
	atWidths(t, bctx, func(t *testing.T, ctx context.Context, w int64) {
		do(t, ctx, chromedp.Navigate(s.hostURL+"/chat"))
		waitJS(t, ctx, `!!document.querySelector('button[aria-expanded]')`)
		do(t, ctx, chromedp.Click(chromedp.CSS("button[aria-expanded]")))
		f := frameOf(t, ctx, "iframe")
		waitJS(t, f, `!document.getElementById('cf-chat-consent').hidden`)
		var got chatLabel
		require.NoError(t, json.Unmarshal([]byte(eval[string](t, f, `(function () {
			var label = document.getElementById('cf-chat-label');
			var plain = document.createElement('p');
			plain.className = label.className;
			plain.textContent = label.textContent;
			label.parentNode.insertBefore(plain, label);
			var prose = plain.getBoundingClientRect().height;
			plain.remove();
			return JSON.stringify({height: label.getBoundingClientRect().height, prose: prose});
		})()`)), &got))
		lines := eval[float64](t, f, `parseFloat(getComputedStyle(document.getElementById('cf-chat-label')).lineHeight)`)
		assert.Greater(t, got.Prose, 1.5*lines, "the label wraps at this width, or the check proves nothing")
		assert.InDelta(t, got.Prose, got.Height, 1, "the label is as tall as its words as plain text")
		assert.Equal(t, 0, eval[int](t, f, sideways))
		screenshot(t, ctx, fmt.Sprintf("chat-consent-%d", w))

		do(t, f, chromedp.Click(chromedp.ID("cf-chat-toggle")))
		waitJS(t, f, `!document.getElementById('cf-chat-consent-text').hidden`)
		assert.Equal(t, "true", eval[string](t, f, `document.getElementById('cf-chat-toggle').getAttribute('aria-expanded')`))
		assert.Equal(t, "", eval[string](t, f, `location.hash`), "the toggle does not navigate")
	})
}

// TestBrowserChatLauncherIcon: the launcher shows a drawn speech bubble,
// not an emoji that needs a font; it looks like testdata/widget/chat-launcher.png
// at every width (-update rewrites that file).
func TestBrowserChatLauncherIcon(t *testing.T) {
	bctx := browser(t)
	s := newStack(t)
	golden := filepath.Join("..", "testdata", "widget", "chat-launcher.png")
	atWidths(t, bctx, func(t *testing.T, ctx context.Context, w int64) {
		do(t, ctx, chromedp.Navigate(s.hostURL+"/chat"))
		btn := `document.querySelector('button[aria-expanded]')`
		waitJS(t, ctx, "!!"+btn)
		assert.Equal(t, "", eval[string](t, ctx, btn+`.textContent`), "no text to draw with a font")
		assert.Equal(t, "Chat", eval[string](t, ctx, btn+`.getAttribute('aria-label')`))
		assert.True(t, eval[bool](t, ctx, `(function () {
			var b = `+btn+`.getBoundingClientRect();
			var svg = `+btn+`.querySelector('svg[aria-hidden=true]');
			if (!svg || !svg.querySelector('path')) { return false; }
			var i = svg.getBoundingClientRect();
			return i.width === 28 && i.height === 28 &&
				Math.abs((i.left + i.right) / 2 - (b.left + b.right) / 2) <= 0.5 &&
				Math.abs((i.top + i.bottom) / 2 - (b.top + b.bottom) / 2) <= 0.5;
		})()`), "a 28 px icon in the middle of the button")
		got, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("button[aria-expanded]")))
		require.NoError(t, err)
		if *update {
			require.NoError(t, os.WriteFile(golden, got, 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "missing golden image; run go test ./widget/ -run TestBrowserChatLauncherIcon -update")
		if diff := imageDiff(t, want, got); diff > 0.01 {
			out := filepath.Join(t.TempDir(), "chat-launcher.png")
			require.NoError(t, os.WriteFile(out, got, 0o644))
			t.Errorf("the launcher differs from %s in %.1f%% of its pixels; it looks like %s", golden, 100*diff, out)
		}
	})
}

// imageDiff returns the share of pixels of two PNGs that differ by more
// than a little in some channel (anti-aliasing may move a little); images
// of different sizes differ everywhere.
func imageDiff(t *testing.T, a, b []byte) float64 {
	t.Helper()
	ia, err := png.Decode(bytes.NewReader(a))
	require.NoError(t, err)
	ib, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	r := ia.Bounds()
	if r.Size() != ib.Bounds().Size() {
		return 1
	}
	off := ib.Bounds().Min.Sub(r.Min)
	differ := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if pixelDiffers(ia, ib, image.Pt(x, y), off) {
				differ++
			}
		}
	}
	return float64(differ) / float64(r.Dx()*r.Dy())
}

func pixelDiffers(ia, ib image.Image, p, off image.Point) bool {
	r1, g1, b1, a1 := ia.At(p.X, p.Y).RGBA()
	r2, g2, b2, a2 := ib.At(p.X+off.X, p.Y+off.Y).RGBA()
	const tolerance = 24 << 8
	for _, d := range [][2]uint32{{r1, r2}, {g1, g2}, {b1, b2}, {a1, a2}} {
		if max(d[0], d[1])-min(d[0], d[1]) > tolerance {
			return true
		}
	}
	return false
}
