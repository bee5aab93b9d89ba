package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// adminSignIn signs the admin of a in, in the tab v.
func adminSignIn(v *view, a *adminApp) {
	v.t.Helper()
	v.navigate(a.base+"/admin/login", 200)
	v.do(
		chromedp.SendKeys(chromedp.ID("email"), adminEmail),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
	)
	adminSubmit(v, "#sign-in")
	require.Equal(v.t, "/admin/forms", adminLocation(v))
}

// seedLog stores submissions of a form with the newsletter consent whose
// log entries carry what makes a table wide: long page URLs and e-mail
// addresses, IPv6 addresses, a long consent name, and a withdrawal.
func seedLog(t *testing.T, a *adminApp) *formbuilder.Form {
	t.Helper()
	ctx := context.Background()
	f := &formbuilder.Form{Name: "Kontakt über die Kampagnenseite Frühjahr 2026 (Landingpage B)", Language: "de",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: a.newsletter.ID, CheckedByDefault: true, Required: true}}}
	require.NoError(t, a.db.CreateForm(ctx, f))
	f, err := a.db.FindFormByID(ctx, f.ID)
	require.NoError(t, err)
	for i := range 6 {
		in := formbuilder.SubmissionInput{
			Values:   map[string][]string{"email": {fmt.Sprintf("dr.maximiliane.mustermann-schmidt.%d@verwaltung.beispiel-unternehmen.example", i)}},
			Consents: map[int64]formbuilder.ConsentInput{a.newsletter.ID: {Checked: true, Touched: formbuilder.TouchOf(i%2 == 0)}},
			PageURL:  fmt.Sprintf("https://www.beispiel-unternehmen.example/kampagnen/fruehjahr-2026/landingpage-b/kontakt?utm_source=newsletter&utm_medium=email&utm_campaign=spring_%d", i),
			IP:       fmt.Sprintf("2001:db8:85a3:8d3:1319:8a2e:370:73%02d", i),
		}
		sub, recs, err := formbuilder.ValidateSubmission(f, in)
		require.NoError(t, err)
		require.NoError(t, a.db.CreateSubmission(ctx, sub, recs))
		if i == 1 {
			_, err := a.db.Withdraw(ctx, recs[0].ID, "2001:db8::1", "test")
			require.NoError(t, err)
		}
	}
	return f
}

// The form's list of received consents fits the window: at 1280 px it
// scrolled sideways and cut off the State column (issue 15: 15). At 320 px
// and 1280 px nothing sticks out of the page and every State cell is
// inside the window.
//
// Not parallel: the tabs share the browser's cookies, and a session cookie
// of 127.0.0.1 goes to every port, so admins signing in at once in two
// tests would sign each other out. Sequential tests run before the
// parallel ones.
func TestAdminFormLogFitsTheWindow(t *testing.T) {
	a := newAdminApp(t)
	v := newTab(t)
	adminSignIn(v, a)
	f := seedLog(t, a)
	for _, width := range []int64{320, 1280} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			v.t = t
			v.do(chromedp.EmulateViewport(width, 800))
			v.navigate(fmt.Sprintf("%s/admin/forms/%d/log", a.base, f.ID), 200)
			v.waitJS("the list is shown", `document.querySelectorAll('#log-list tbody tr').length === 7`)
			adminScreenshot(t, v, fmt.Sprintf("form-log-%d", width))
			require.LessOrEqual(t, evalJS[int](v, `document.documentElement.scrollWidth - document.documentElement.clientWidth`), 0,
				"the page scrolls sideways")
			type box struct {
				Left, Right float64
				Text        string
			}
			boxes := evalJS[[]box](v, `Array.from(document.querySelectorAll('#log-list th, #log-list td'), function (c) {
  var r = c.getBoundingClientRect();
  return {left: r.left, right: r.right, text: c.innerText.slice(0, 40)};
})`)
			client := float64(evalJS[int](v, `document.documentElement.clientWidth`))
			for _, b := range boxes {
				require.GreaterOrEqual(t, b.Left, 0.0, "cell %q starts left of the window", b.Text)
				require.LessOrEqual(t, b.Right, client, "cell %q ends right of the window (%v px)", b.Text, client)
			}
			states := evalJS[[]box](v, `Array.from(document.querySelectorAll('#log-list td.state, #log-list th:last-child'), function (c) {
  var r = c.getBoundingClientRect();
  return {left: r.left, right: r.right, text: c.innerText};
})`)
			require.Len(t, states, 8, "the State column: its heading and seven cells")
			for _, s := range states[1:] {
				require.Regexp(t, `given|withdraw`, s.Text)
				require.LessOrEqual(t, s.Right, client)
			}
			main := evalJS[box](v, `(function () { var r = document.querySelector('main').getBoundingClientRect(); return {left: r.left, right: r.right}; })()`)
			table := evalJS[box](v, `(function () { var r = document.getElementById('log-list').getBoundingClientRect(); return {left: r.left, right: r.right}; })()`)
			require.LessOrEqual(t, table.Right, main.Right, "the table stays inside the page's main column")
			v.requireClean()
		})
	}
}

// adminScreenshot saves what the tab shows as DIR/name.png when
// ADMIN_SCREENSHOTS=DIR is set, to look at.
func adminScreenshot(t *testing.T, v *view, name string) {
	t.Helper()
	dir := os.Getenv("ADMIN_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(v.ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".png"), png, 0o644))
}

// The admin's Preview page shows the form in a frame; what the admin sends
// there is checked like a real post and answered with the success message,
// marked as a preview, and nothing is stored (issue 15: 10).
// Not parallel, as TestAdminFormLogFitsTheWindow.
func TestAdminPreviewIsADryRun(t *testing.T) {
	a := newAdminApp(t)
	v := newTab(t)
	adminSignIn(v, a)
	ctx := context.Background()
	f := &formbuilder.Form{Name: "Kontakt (Vorschau)", Title: "Schreiben Sie uns", Language: "de",
		RedirectURL: "https://www.example.com/danke",
		Fields:      []formbuilder.Field{{Key: "email", Label: "E-Mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents:    []formbuilder.FormConsent{{ConsentID: a.newsletter.ID, CheckedByDefault: false, Required: true}}}
	require.NoError(t, a.db.CreateForm(ctx, f))
	v.navigate(fmt.Sprintf("%s/admin/forms/%d/preview", a.base, f.ID), 200)
	const doc = `document.getElementById('preview-frame').contentDocument`
	v.waitJS("the preview is loaded", doc+` && `+doc+`.readyState === 'complete' && `+doc+`.getElementById('cf-form')`)
	require.Contains(t, evalJS[string](v, doc+`.querySelector('.cf-preview').innerText`), "Vorschau")
	require.True(t, evalJS[bool](v, doc+`.querySelector('.cf-preview').checkVisibility()`), "the banner is visible")

	// Refused in the browser first, as on the live form: the box is required.
	evalJS[chromedp.Void](v, `(function (d) {
  d.getElementById('cf-field-email').value = 'ada@example.com';
  d.querySelector('#cf-form button[type=submit]').click();
})(`+doc+`)`)
	v.waitJS("the required box is asked for", doc+`.getElementById('cf-error-summary').checkVisibility()`)
	evalJS[chromedp.Void](v, `(function (d) {
  d.getElementById('cf-consent-`+fmt.Sprint(a.newsletter.ID)+`').click();
  d.querySelector('#cf-form button[type=submit]').click();
})(`+doc+`)`)
	v.waitJS("the preview's success is shown", doc+`.getElementById('cf-success') && `+doc+`.querySelector('.cf-preview__done')`)
	note := evalJS[string](v, doc+`.querySelector('.cf-preview__done').innerText`)
	require.Contains(t, note, "nichts gespeichert")
	require.Contains(t, note, "https://www.example.com/danke", "says where visitors would go")
	require.Equal(t, fmt.Sprintf("/admin/forms/%d/preview", f.ID), adminLocation(v), "the admin page stays")
	recs, err := a.db.ListRecords(ctx, formbuilder.RecordFilter{FormID: f.ID, Limit: 5})
	require.NoError(t, err)
	require.Empty(t, recs, "no consent recorded")
	subs, err := a.db.ListSubmissions(ctx, formbuilder.SubmissionFilter{FormID: f.ID, Limit: 5})
	require.NoError(t, err)
	require.Empty(t, subs, "no submission stored")
	v.requireClean()
}
