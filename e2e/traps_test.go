package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// Issue 15's traps that lost a visitor's submission, in Chromium from a
// foreign origin: what the visitor does, what the page shows, what is
// stored.

// newVersionMarker is a sentence only the second version of the required
// consent says.
const newVersionMarker = "Second version: Heron Quill 2718 keeps your enquiry for thirty days."

// saveConsentVersion saves a new text and label of c through the JSON API,
// as an admin editing it while a visitor has the form open would.
func (a *app) saveConsentVersion(t *testing.T, c *formbuilder.Consent, label, text string) *formbuilder.Consent {
	t.Helper()
	body := fmt.Sprintf(`{"name":%s,"type":"custom","language":"en","label":%s,"text":%s}`,
		js(c.Name), js(label), js(text))
	req, err := http.NewRequest(http.MethodPut, a.base+"/api/v1/consents/"+strconv.FormatInt(c.ID, 10), strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+a.apiToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode, string(out))
	saved, err := a.db.FindConsentByID(t.Context(), c.ID)
	require.NoError(t, err)
	require.Equal(t, c.Current.Number+1, saved.Current.Number)
	return saved
}

// fillContact types the contact fields into the form frame f.
func fillContact(f *view, name, email, message string) {
	f.t.Helper()
	typeInto(f, "#cf-field-name", name)
	typeInto(f, "#cf-field-email", email)
	typeInto(f, "#cf-field-message", message)
}

// An admin saves a new version of a consent while a visitor has the form
// open in the click popup. The send is refused (the log must prove the
// text shown), the popup shows the new text in place of the old box,
// unticked, with the visitor's values kept; ticking it and sending again
// goes through and records the new version (issue 15: 1).
func TestEmbedConsentChangedWhileOpen(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	pageURL := a.host + "/click.html"
	host.navigate(pageURL, 200)
	openPopup(host)
	f := formFrame(host, "[role=dialog] iframe")
	fillContact(f, "Ada Lovelace", "ada@example.com", "Kept while the consent changed.")
	posts := f.countPosts()

	changed := a.saveConsentVersion(t, a.required, "I accept the %updated terms% for this enquiry.",
		"<p>"+newVersionMarker+"</p>")

	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f.waitJS("the changed consent is shown anew", `document.body.innerText.indexOf(`+js(newVersionMarker)+`) >= 0`)
	f.waitJS("the error summary is shown", `document.getElementById('cf-error-summary').checkVisibility()`)
	require.Contains(t, evalJS[string](f, `document.getElementById('cf-error-summary').innerText`), "has changed")
	st := readConsent(f, a.required, newVersionMarker)
	require.False(t, st.Checked, "the changed box is unticked: the earlier tick was for another text")
	require.True(t, st.Open, "the new text is open to read")
	require.True(t, st.TextVisible)
	require.True(t, st.ErrorShown, "the message is at the box")
	id := a.required.ID
	require.Equal(t, strconv.FormatInt(changed.Current.ID, 10),
		evalJS[string](f, fmt.Sprintf(`document.querySelector('[name="consent_%d_version"]').value`, id)))
	require.Contains(t, evalJS[string](f, fmt.Sprintf(`document.querySelector('label[for="cf-consent-%d"]').innerText`, id)),
		"updated terms", "the new label")
	require.NotContains(t, evalJS[string](f, `document.body.innerText`), requiredMarker, "the old text is gone")
	for sel, want := range map[string]string{"#cf-field-name": "Ada Lovelace", "#cf-field-email": "ada@example.com",
		"#cf-field-message": "Kept while the consent changed."} {
		require.Equal(t, want, evalJS[string](f, `document.querySelector(`+js(sel)+`).value`), "the visitor's %s stays", sel)
	}
	require.Equal(t, 1, posts.count())
	a.requireNothingStored(t, a.form)

	// The swapped box works like the page's own: ticking folds the text
	// and clears the message.
	toggle(f, a.required, false)
	f.waitJS("ticking folds the new text", fmt.Sprintf(`document.getElementById('cf-consent-%d').getAttribute('aria-expanded') === 'false'`, id))
	require.False(t, readConsent(f, a.required, newVersionMarker).ErrorShown)
	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f.waitJS("the success message is shown", `document.getElementById('cf-success') && document.getElementById('cf-success').checkVisibility()`)
	require.Equal(t, 2, posts.count(), "the second send went through")
	// The withdrawal link names the consent as the visitor read it, never
	// by its internal name (issue 15: 5).
	link := evalJS[string](f, `document.querySelector('.cf-success__links a').innerText`)
	require.Contains(t, link, "I accept the updated terms for this enquiry.")
	require.NotContains(t, evalJS[string](f, `document.body.innerText`), a.required.Name)

	recs := a.records(t, a.form)
	require.Len(t, recs, 1)
	rec := requireRecord(t, recs, a.required, pageURL, false, true)
	require.Equal(t, changed.Current.ID, rec.VersionID, "the record proves the new text")
	require.Equal(t, changed.Current.Hash, rec.TextHash)
	require.Equal(t, 1, a.submissions(t, a.form))
	host.requireClean()
	f.requireClean()
}

// A form left open for more than a day is refused as expired; the answer
// carries a fresh token, which the page uses, so sending again (without a
// reload, which a visitor in an iframe would not think of) goes through
// (issue 15: 2).
func TestEmbedExpiredFormSendsAgain(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	pageURL := a.host + "/inline.html"
	host.navigate(pageURL, 200)
	f := formFrame(host, "iframe")
	fillContact(f, "Grace Hopper", "grace@example.com", "Sent the next day.")
	tok := evalJS[string](f, `document.querySelector('[name=_token]').value`)

	a.skew.Store(int64(25 * time.Hour))
	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f.waitJS("the expiry is shown", `document.getElementById('cf-error-summary').checkVisibility()`)
	require.Contains(t, evalJS[string](f, `document.getElementById('cf-error-summary').innerText`), "expired")
	require.NotEqual(t, tok, evalJS[string](f, `document.querySelector('[name=_token]').value`), "a fresh token is in the form")
	a.requireNothingStored(t, a.form)

	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	f.waitJS("the success message is shown", `document.getElementById('cf-success') && document.getElementById('cf-success').checkVisibility()`)
	require.Equal(t, 1, a.submissions(t, a.form))
	requireRecord(t, a.records(t, a.form), a.required, pageURL, true, false)
	host.requireClean()
	f.requireClean()
}

// An embedded form with a redirect URL moves the host page to the
// thank-you page, which gets the withdrawal link as cf_withdraw, so a
// visitor sent away can still withdraw (issue 15: 8).
func TestEmbedRedirectKeepsWithdrawalReachable(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	host := newTab(t)
	host.navigate(a.host+"/redirect.html", 200)
	f := formFrame(host, "iframe")
	fillContact(f, "Alan Turing", "alan@example.com", "Send me to the thank-you page.")
	f.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	host.waitJS("the host page moves to the thank-you page", `location.pathname === '/thanks.html'`)
	host.waitJS("the thank-you page is loaded", `document.readyState === 'complete'`)

	u, err := url.Parse(evalJS[string](host, `location.href`))
	require.NoError(t, err)
	links := u.Query()["cf_withdraw"]
	require.Len(t, links, 1, "one link per consent given: %s", u)
	require.True(t, strings.HasPrefix(links[0], a.base+"/w/"), links[0])
	recs := a.records(t, a.redirect)
	require.Len(t, recs, 1)

	// The link works: the visitor withdraws there.
	host.navigate(links[0], 200)
	require.Contains(t, evalJS[string](host, `document.body.innerText`), "I agree to the processing of my data for this enquiry.")
	host.do(chromedp.Click(chromedp.CSS("form.cf-form button[type=submit]")))
	host.waitJS("the withdrawal is confirmed", `!!document.querySelector('.cf-withdraw__done')`)
	recs = a.records(t, a.redirect)
	require.Len(t, recs, 2)
	require.Equal(t, formbuilder.ActionWithdrawn, recs[1].Action)
	host.requireClean()
}
