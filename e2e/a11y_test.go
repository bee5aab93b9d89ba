package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// axePath is where `npm ci` in testdata/axe installs axe-core (.ci/run does).
var axePath = filepath.Join("..", "testdata", "axe", "node_modules", "axe-core", "axe.min.js")

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(axePath)
	return string(b), err
})

// needAxe returns the axe-core source; without it the test skips, or fails
// when CI=true.
func needAxe(t *testing.T) string {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("accessibility tests need axe-core (cd testdata/axe && npm ci): %v", err)
		}
		t.Skipf("skipping accessibility test, axe-core missing (cd testdata/axe && npm ci): %v", err)
	}
	return src
}

// axeViolation is the part of an axe-core result the tests report.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// runAxe checks the document of v with axe-core and fails on violations of
// serious or critical impact; lesser ones are logged. axe-core is evaluated
// through the DevTools protocol, which the page's CSP does not govern. Each
// iframe of another site is its own target, checked on its own.
func runAxe(t *testing.T, v *view, what string) {
	t.Helper()
	evalJS[chromedp.Void](v, needAxe(t))
	res, err := chromedp.Run(v.ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {
  iframes: false,
  resultTypes: ['violations']
}).then(function (r) {
  return r.violations.map(function (v) {
    return {
      id: v.id, impact: v.impact || '', help: v.help,
      nodes: v.nodes.map(function (n) { return n.target.join(' ') + ': ' + (n.failureSummary || '').replace(/\s+/g, ' '); })
    };
  });
})`, chromedp.EvalAwaitPromise))
	require.NoError(t, err, "axe.run on %s", what)
	var bad []string
	for _, v := range res {
		line := fmt.Sprintf("%s [%s] %s: %s", v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "; "))
		if v.Impact == "serious" || v.Impact == "critical" {
			bad = append(bad, line)
		} else {
			t.Logf("axe, %s: %s", what, line)
		}
	}
	require.Empty(t, bad, "axe-core: serious or critical violations on %s", what)
}

func TestAccessibilityHostedForm(t *testing.T) {
	t.Parallel()
	needAxe(t)
	a := newApp(t)
	v := newTab(t)
	v.navigate(a.base+"/f/"+a.form.Key, 200)
	v.waitJS("the form is shown", `document.getElementById('cf-form')`)
	runAxe(t, v, "the hosted form, box ticked")

	// Unticked (text open) and refused in the browser: the error summary
	// and the message at the box are shown.
	v.do(
		chromedp.Click(boxSel(a.required)),
		chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")),
	)
	v.waitJS("the refusal is shown", `document.getElementById('cf-error-summary').checkVisibility()`)
	require.True(t, readConsent(v, a.required, requiredMarker).TextVisible)
	runAxe(t, v, "the hosted form, text expanded and errors shown")

	// The server's re-render: a native submit, which form.js does not see,
	// posts the empty form; every required field and the consent have an
	// error.
	resp, err := chromedp.RunResponse(v.ctx, chromedp.Evaluate[chromedp.Void](
		`HTMLFormElement.prototype.submit.call(document.getElementById('cf-form'))`))
	require.NoError(t, err)
	require.EqualValues(t, 422, resp.Status)
	require.Equal(t, 3, evalJS[int](v, `document.querySelectorAll('#cf-error-summary li').length`), "name, e-mail and the consent")
	runAxe(t, v, "the hosted form re-rendered by the server with errors")
	a.requireNothingStored(t, a.form)
	v.requireClean()
}

func TestAccessibilityPopup(t *testing.T) {
	t.Parallel()
	needAxe(t)
	a := newApp(t)
	host := newTab(t)
	host.navigate(a.host+"/click.html", 200)
	host.waitJS("the loader binds the trigger", `document.getElementById('open-form').getAttribute('aria-haspopup') === 'dialog'`)
	openPopup(host)
	f := formFrame(host, "[role=dialog] iframe")
	runAxe(t, host, "the host page with the popup open")
	runAxe(t, f, "the form in the popup")

	f.do(chromedp.Click(boxSel(a.required)))
	// Unticking opens the consent text and the loader grows the iframe: a
	// click on the send button before that settles can land where the
	// button was (it failed so under load).
	f.waitJS("the box is unticked", fmt.Sprintf(`!document.getElementById('cf-consent-%d').checked`, a.required.ID))
	frameHeight(host, f, "[role=dialog] iframe")
	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f.waitJS("the refusal is shown", `document.getElementById('cf-error-summary').checkVisibility()`)
	runAxe(t, f, "the form in the popup, text expanded and errors shown")
	host.requireClean()
}
