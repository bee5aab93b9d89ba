package e2e

import (
	"fmt"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestNoJavaScript runs the flow on the hosted page with JavaScript turned
// off: a plain form post that the server refuses (422, re-rendered with the
// error and the typed values) and then accepts.
func TestNoJavaScript(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	v := newTab(t)
	_, err := chromedp.Call(v.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
	require.NoError(t, err)
	req := a.required
	box := boxSel(req)

	v.navigate(a.base+"/f/"+a.form.Key, 200)
	// form.js would have put the page's address into _page_url: it did not run.
	require.Empty(t, evalJS[string](v, `document.querySelector('input[name=_page_url]').value`), "no script runs")
	st := readConsent(v, req, requiredMarker)
	require.True(t, st.Checked, "the box is ticked")
	require.False(t, st.TextVisible, "the text is folded")

	posts := v.countPosts()
	v.do(
		chromedp.SendKeys(chromedp.CSS("#cf-field-name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS("#cf-field-email"), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS("#cf-field-message"), "Sent without JavaScript."),
		chromedp.Click(box),
		chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")),
	)
	// The required box carries the required attribute, so the browser
	// itself refuses the post and says why (its validation message).
	require.True(t, evalJS[bool](v, fmt.Sprintf(`document.getElementById('cf-consent-%d').validity.valueMissing`, req.ID)),
		"the browser refuses the unticked required box")
	require.Contains(t, evalJS[string](v, `location.href`), "/f/"+a.form.Key)

	// A browser that does not validate posts it anyway: the server refuses
	// it and re-renders the form.
	v.do(chromedp.SetAttributeValue(chromedp.CSS("#cf-form"), "novalidate", ""))
	resp, err := chromedp.RunResponse(v.ctx, chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	require.NoError(t, err)
	require.EqualValues(t, 422, resp.Status, "the server refuses the form")
	require.Equal(t, 1, posts.count(), "the browser's own refusal sent nothing")
	a.requireNothingStored(t, a.form)

	// The re-rendered page names the problem and keeps what was typed.
	require.Contains(t, evalJS[string](v, `document.title`), "Error:")
	summary := evalJS[string](v, `(function () { var s = document.getElementById('cf-error-summary'); return s.checkVisibility() ? s.getAttribute('role') + '|' + s.innerText : ''; })()`)
	require.Contains(t, summary, "alert|")
	require.Contains(t, summary, "Please agree to")
	st = readConsent(v, req, requiredMarker)
	require.False(t, st.Checked, "the box stays as the visitor left it")
	require.True(t, st.ErrorShown, "the error is shown at the box")
	require.Equal(t, "true", st.Invalid)
	require.True(t, st.TextVisible, "the unticked box's text is open")
	require.Equal(t, "Ada Lovelace", evalJS[string](v, `document.getElementById('cf-field-name').value`))
	require.Equal(t, "ada@example.com", evalJS[string](v, `document.getElementById('cf-field-email').value`))
	require.Equal(t, "Sent without JavaScript.", evalJS[string](v, `document.getElementById('cf-field-message').value`))

	// Tick the required box again, and the optional one (shown unticked).
	v.do(chromedp.Click(box), chromedp.Click(boxSel(a.optional)))
	resp, err = chromedp.RunResponse(v.ctx, chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	require.NoError(t, err)
	require.EqualValues(t, 200, resp.Status)
	require.Contains(t, evalJS[string](v, `document.getElementById('cf-success').innerText`), successMessage)
	// The links name each consent by its label, never by its internal name.
	page := evalJS[string](v, `document.body.innerText`)
	require.Contains(t, page, "Withdraw consent: I agree to the processing of my data for this enquiry.")
	require.NotContains(t, page, req.Name)

	recs := a.records(t, a.form)
	require.Len(t, recs, 2)
	// Without script the hidden field _page_url stays empty, so the records
	// have no page URL. No script sets _interacted either; the server
	// infers it from a box sent in another state than it was shown in: the
	// required box was unticked on the refused post (carried over the
	// re-render), the optional one was ticked.
	requireRecord(t, recs, req, "", true, true)
	requireRecord(t, recs, a.optional, "", false, true)
	require.Equal(t, 1, a.submissions(t, a.form))
	v.requireClean()
}
