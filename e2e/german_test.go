package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// germanAcceptLanguage is what a browser set to German sends.
const germanAcceptLanguage = "de-DE,de;q=0.9,en;q=0.5"

// germanTab opens a tab whose browser asks for German first, as a German
// admin's does: Accept-Language and navigator.languages.
func germanTab(t *testing.T) *view {
	t.Helper()
	v := newTab(t)
	ua := evalJS[string](v, `navigator.userAgent`)
	_, err := chromedp.Call(v.ctx, emulation.SetUserAgentOverride,
		emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: germanAcceptLanguage})
	require.NoError(t, err)
	return v
}

var (
	// wordRE is a word: letters and digits; words with a digit (keys,
	// hashes, dates) are never language.
	wordRE = regexp.MustCompile(`[\p{L}\p{N}]+`)
	// notWordsRE is what is not prose on a page: code (a JSON key, a
	// command), addresses, URLs, paths, catalog parameters and markup.
	notWordsRE = regexp.MustCompile(`<code>.*?</code>|\S+@\S+|[a-z]+://\S+|(?:^|\s)/\S+|\{[a-z_]+\}|<[^>]*>|&[a-z]+;`)
)

// words returns the lower-case words of s that hold no digit.
func words(s string) []string {
	var out []string
	for _, w := range wordRE.FindAllString(notWordsRE.ReplaceAllString(s, " "), -1) {
		if strings.ContainsAny(w, "0123456789") {
			continue
		}
		out = append(out, strings.ToLower(w))
	}
	return out
}

// englishOnlyWords are the words of the English catalog that no German
// text of the catalog uses ("the", "save", "consent", "sign"): on a German
// page each of them is an English text that slipped through. Words both
// catalogs use (Status, Webhook, Token, E-Mail) are not on the list.
func englishOnlyWords() map[string]bool {
	de := map[string]bool{}
	for _, k := range formbuilder.CatalogKeys(formbuilder.LangDE) {
		for _, w := range words(formbuilder.T(formbuilder.LangDE, k)) {
			de[w] = true
		}
	}
	en := map[string]bool{}
	for _, k := range formbuilder.CatalogKeys(formbuilder.LangEN) {
		for _, w := range words(formbuilder.T(formbuilder.LangEN, k)) {
			if !de[w] {
				en[w] = true
			}
		}
	}
	return en
}

// pageTextJS collects every text a page shows or can show: the title, the
// body's text including closed details and hidden messages, the texts of
// attributes people read (placeholders, labels for screen readers, button
// values, tooltips) and the texts the admin's scripts show (data-texts).
const pageTextJS = `(function () {
  // Code, the embed snippet and the like are not language.
  var body = document.body.cloneNode(true);
  body.querySelectorAll('code, pre, kbd, samp, textarea, script, style').forEach(function (e) { e.remove(); });
  var parts = [document.title, body.textContent];
  document.querySelectorAll('[placeholder], [aria-label], [title], [alt], input[type=submit], input[type=button]').forEach(function (e) {
    ['placeholder', 'aria-label', 'title', 'alt', 'value'].forEach(function (a) {
      if ((a !== 'value' || e.tagName === 'INPUT') && e.getAttribute(a)) { parts.push(e.getAttribute(a)); }
    });
  });
  try {
    var texts = JSON.parse(document.body.getAttribute('data-texts') || '{}');
    Object.keys(texts).forEach(function (k) { parts.push(texts[k]); });
  } catch (e) {}
  return parts.join('\n');
})()`

// englishOn returns the English words v's page shows, each with a bit of
// the text around it.
func englishOn(v *view, english map[string]bool) []string {
	text := evalJS[string](v, pageTextJS)
	var found []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		for _, w := range words(line) {
			if english[w] && !seen[w] {
				seen[w] = true
				found = append(found, fmt.Sprintf("%q in %q", w, shortText(strings.TrimSpace(line))))
			}
		}
	}
	return found
}

// adminPages are the admin's pages (GET routes that answer HTML) as
// patterns with :id for numbers: the walk must reach every one.
var adminPages = []string{
	"/admin/account", "/admin/forms", "/admin/forms/new", "/admin/forms/:id", "/admin/forms/:id/preview",
	"/admin/forms/:id/embed", "/admin/forms/:id/fields/:id", "/admin/forms/:id/submissions",
	"/admin/forms/:id/submissions/:id", "/admin/forms/:id/deliveries", "/admin/forms/:id/log",
	"/admin/consents", "/admin/consents/new", "/admin/consents/:id", "/admin/consents/:id/versions",
	"/admin/consents/:id/log", "/admin/log", "/admin/log/:id", "/admin/channels", "/admin/channels/new",
	"/admin/channels/:id", "/admin/conversations", "/admin/conversations/:id", "/admin/settings",
	"/admin/users", "/admin/users/:id", "/admin/tokens", "/admin/audit",
}

var numberSegRE = regexp.MustCompile(`/\d+`)

// pagePattern turns a path into its pattern (/admin/forms/3 → /admin/forms/:id).
func pagePattern(p string) string { return numberSegRE.ReplaceAllString(p, "/:id") }

// skipLink reports whether the walk leaves a link alone: downloads, event
// streams and what is not an admin page.
func skipLink(p string) bool {
	return !strings.HasPrefix(p, "/admin/") || strings.HasPrefix(p, "/admin/static/") ||
		strings.Contains(p, "/export") || strings.HasSuffix(p, "/events") || strings.HasSuffix(p, "/messages")
}

// seedGerman gives every admin page something to show, all of it written
// in German (so that an English word on a page can only come from the
// product): a submission with its consent entry, a notification address
// and webhook with a queued message, a chat channel with a conversation,
// an API token.
func seedGerman(t *testing.T, a *teamApp) {
	t.Helper()
	ctx := context.Background()
	f, err := a.db.FindFormByID(ctx, a.form.ID)
	require.NoError(t, err)
	f.Notifications = formbuilder.Notifications{
		Webhooks: []formbuilder.Webhook{{URL: "https://hooks.beispiel.example/eingang", Secret: formbuilder.NewWebhookSecret()}},
		Emails:   []string{"vertrieb@beispiel.example"}}
	require.NoError(t, a.db.UpdateForm(ctx, f))
	f, err = a.db.FindFormByID(ctx, f.ID)
	require.NoError(t, err)
	a.form = f
	co := f.Consents[0].ConsentID
	// The consent asks for confirmation by e-mail (double opt-in), so the
	// log and the submission show its state too.
	consent, err := a.db.FindConsentByID(ctx, co)
	require.NoError(t, err)
	consent.ConfirmByEmail = true
	_, err = a.db.UpdateConsent(ctx, consent, consent.Current.Content(), "e2e")
	require.NoError(t, err)
	f, err = a.db.FindFormByID(ctx, f.ID)
	require.NoError(t, err)
	a.form = f
	sub, recs, err := formbuilder.ValidateSubmission(f, formbuilder.SubmissionInput{
		Values:   map[string][]string{"email": {"erika.mustermann@beispiel.example"}},
		Consents: map[int64]formbuilder.ConsentInput{co: {Checked: true, Touched: formbuilder.TouchOf(true)}},
		PageURL:  "https://www.beispiel.example/kontakt", IP: "203.0.113.7", ConfirmBy: time.Now().Add(48 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, a.db.CreateSubmission(ctx, sub, recs))
	// Both deliveries failed once, as the worker records it.
	msgs, err := a.db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: f.ID})
	require.NoError(t, err)
	failed := 0
	for _, m := range msgs {
		if m.Kind != formbuilder.DeliveryWebhook && m.Kind != formbuilder.DeliveryEmail {
			continue // the visitor's confirmation mail
		}
		failed++
		why := formbuilder.M(formbuilder.MsgDlvHTTP, "status", "503")
		if m.Kind == formbuilder.DeliveryEmail {
			why = formbuilder.M(formbuilder.MsgDlvSMTPStep).With("step", formbuilder.M(formbuilder.MsgSMTPStepRecipient)).
				With("problem", formbuilder.M(formbuilder.MsgDlvTimeout))
		}
		require.NoError(t, a.db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: m.ID, FormID: f.ID,
			SubmissionID: sub.ID, Kind: m.Kind, Target: m.Target, Error: why.String(), ErrorMsg: why}, time.Now().Add(time.Hour)))
	}
	require.Equal(t, 2, failed, "the webhook and the notification address")

	ch := &formbuilder.Channel{Name: "Kundendienst", Language: "de", OperatorIDs: []int64{a.operator.ID},
		AllowedOrigins: []string{"https://www.beispiel.example"}}
	require.NoError(t, a.db.CreateChannel(ctx, ch))
	_, err = a.db.PostVisitorMessage(ctx, ch, formbuilder.VisitorPost{VisitorID: "0123456789abcdef0123456789abcdef",
		Text: "Guten Tag, wann liefern Sie?", PageURL: "https://www.beispiel.example/hilfe"})
	require.NoError(t, err)

	_, hash := formbuilder.NewAPIToken()
	admin, err := a.db.FindUserByEmail(ctx, teamAdmin)
	require.NoError(t, err)
	require.NoError(t, a.db.CreateToken(ctx, &formbuilder.APIToken{Name: "Warenwirtschaft", Hash: hash, UserID: admin.ID,
		Scope: formbuilder.ScopeRead}))
}

// A German-speaking admin signs in for the first time: the sign-in page
// speaks German by the browser, the account takes German as its language,
// and every admin page the walk reaches from the menu (all of adminPages,
// with validation errors and the 404 page) is German: no word of the
// English catalog that German never uses, html lang="de". The consent log
// is "Erhaltene Einwilligungen" with Datum, Nutzer, IP-Adresse, Quelle.
// The menu then switches the admin to English.
func TestGermanAdminWalksEveryPage(t *testing.T) {
	t.Parallel()
	a := newTeamApp(t, "127.0.0.6")
	seedGerman(t, a)
	english := englishOnlyWords()
	for _, w := range []string{"the", "save", "sign", "settings", "received", "date", "source", "not", "allowed"} {
		require.True(t, english[w], "the English catalog's own words are on the list: %q", w)
	}
	v := germanTab(t)

	v.navigate(a.base+"/admin/login", 200)
	require.Equal(t, "de", evalJS[string](v, `document.documentElement.lang`))
	require.Empty(t, englishOn(v, english), "the sign-in page")
	require.Equal(t, "Anmelden", evalJS[string](v, `document.getElementById('sign-in').innerText.trim()`))
	a.signIn(v, teamAdmin)
	admin, err := a.db.FindUserByEmail(context.Background(), teamAdmin)
	require.NoError(t, err)
	require.Equal(t, "de", admin.Language, "the first sign-in keeps the browser's language")
	// A change through the admin, so the audit trail has a row to show.
	v.navigate(a.base+"/admin/account", 200)
	v.do(chromedp.SendKeys(chromedp.ID("name"), " (Leitung)"))
	adminSubmit(v, "#save-account")

	// Walk: from the forms list, every link to an admin page, once per
	// page pattern and query.
	visited := map[string]bool{}
	queue := []string{"/admin/forms", "/admin/consents/new?type=standard", "/admin/log?action=withdrawn", "/admin/log?action=confirmed"}
	seen := map[string]bool{}
	var problems []string
	for len(queue) > 0 && len(seen) < 120 {
		p := queue[0]
		queue = queue[1:]
		u, err := url.Parse(p)
		require.NoError(t, err)
		keys := make([]string, 0, len(u.Query()))
		for k := range u.Query() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		id := pagePattern(u.Path) + "?" + strings.Join(keys, "&")
		if seen[id] {
			continue
		}
		seen[id] = true
		v.navigate(a.base+p, 200)
		visited[pagePattern(u.Path)] = true
		if lang := evalJS[string](v, `document.documentElement.lang`); lang != "de" {
			problems = append(problems, p+": html lang="+lang)
		}
		for _, e := range englishOn(v, english) {
			problems = append(problems, p+": "+e)
		}
		links := evalJS[[]string](v, `Array.from(document.querySelectorAll('a[href]'), function (a) {
  var u = new URL(a.getAttribute('href'), location.href);
  return u.origin === location.origin ? u.pathname + u.search : '';
})`)
		for _, l := range links {
			if l != "" && !skipLink(strings.SplitN(l, "?", 2)[0]) {
				queue = append(queue, l)
			}
		}
	}
	for _, want := range adminPages {
		require.True(t, visited[want], "the walk reached %s (visited: %v)", want, visited)
	}
	t.Logf("%d pages of %d patterns walked; %d English-only words on the list", len(seen), len(visited), len(english))
	v.navigate(a.base+"/admin/audit", 200)
	require.Equal(t, "Person: geändert", evalJS[string](v, `document.querySelector('#audit-list .audit-what').innerText`),
		"the audit trail's row names what changed in German")

	// Pages with validation errors, and the 404 page.
	for _, c := range []struct{ page, button string }{
		{"/admin/forms/new", "#create-form"},
		{"/admin/tokens", "#create-token"},
		{"/admin/users", "#add-user"},
		{"/admin/consents/new", "#save-consent"},
	} {
		v.navigate(a.base+c.page, 200)
		resp, err := chromedp.RunResponse(v.ctx, chromedp.Click(chromedp.CSS(c.button)))
		require.NoError(t, err, c.page)
		require.EqualValues(t, 422, resp.Status, c.page)
		require.NotEmpty(t, evalJS[string](v, `document.getElementById('error-summary').innerText`), c.page)
		for _, e := range englishOn(v, english) {
			problems = append(problems, c.page+" with errors: "+e)
		}
	}
	v.navigate(a.base+"/admin/forms/999999", 404)
	require.Equal(t, "Nicht gefunden", evalJS[string](v, `document.querySelector('main h1').innerText`))
	for _, e := range englishOn(v, english) {
		problems = append(problems, "404: "+e)
	}
	require.Empty(t, problems, "English on German pages")

	// The consent log, as a German product writes it.
	v.navigate(a.base+"/admin/log", 200)
	require.Equal(t, "Erhaltene Einwilligungen", evalJS[string](v, `document.querySelector('main h1').innerText`))
	heads := evalJS[[]string](v, `Array.from(document.querySelectorAll('#log-list thead th'), function (th) { return th.innerText.trim(); })`)
	require.Contains(t, strings.Join(heads, " | "), "Datum (UTC) |", "the date, and that it is in UTC")
	for _, col := range []string{"Nutzer", "IP-Adresse", "Quelle", "Einwilligung"} {
		require.Contains(t, heads, col)
	}
	adminScreenshot(t, v, "de-log")

	// The menu switches to English, and the pages follow.
	adminSubmit(v, "#language-switch")
	require.Equal(t, "en", evalJS[string](v, `document.documentElement.lang`))
	require.Equal(t, "Received consents", evalJS[string](v, `document.querySelector('main h1').innerText`))
	admin, err = a.db.FindUserByEmail(context.Background(), teamAdmin)
	require.NoError(t, err)
	require.Equal(t, "en", admin.Language)
	v.requireClean()
}

// GermanPagesFit: German words are longer than English ones; at 320 px and
// 1280 px no German admin page scrolls sideways, and no button, heading,
// label, menu link or table cell is wider than its box. Screenshots go to
// ADMIN_SCREENSHOTS when set.
func TestGermanAdminPagesFit(t *testing.T) {
	t.Parallel()
	a := newTeamApp(t, "127.0.0.7")
	seedGerman(t, a)
	v := germanTab(t)
	a.signIn(v, teamAdmin)
	id := fmt.Sprint(a.form.ID)
	pages := []string{"/admin/forms", "/admin/forms/" + id, "/admin/forms/" + id + "/deliveries", "/admin/log",
		"/admin/consents", "/admin/consents/new", "/admin/settings", "/admin/users", "/admin/tokens", "/admin/audit",
		"/admin/account", "/admin/conversations", "/admin/forms/" + id + "/submissions"}
	for _, width := range []int64{320, 1280} {
		v.do(chromedp.EmulateViewport(width, 900))
		for _, p := range pages {
			v.navigate(a.base+p, 200)
			adminScreenshot(t, v, fmt.Sprintf("de-%d-%s", width, strings.TrimPrefix(p, "/admin/")))
			require.LessOrEqual(t, evalJS[int](v, `document.documentElement.scrollWidth - document.documentElement.clientWidth`), 0,
				"%s at %d px scrolls sideways: %v", p, width, evalJS[[]string](v, `(function () {
  var w = document.documentElement.clientWidth, out = [];
  document.querySelectorAll('main *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.right > w + 0.5 && out.length < 5) { out.push(e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(r.right) + ': ' + (e.innerText || '').slice(0, 50)); }
  });
  return out;
})()`))
			over := evalJS[[]string](v, `Array.from(document.querySelectorAll('button, h1, h2, h3, label, legend, .mainnav a, th, td, dt, dd, p, .notice'), function (e) {
  var s = getComputedStyle(e);
  if (s.overflowX !== 'visible' || e.offsetParent === null) { return ''; }
  return e.scrollWidth > e.clientWidth + 1 ? e.tagName + ' ' + e.innerText.slice(0, 60) + ' (' + e.scrollWidth + ' > ' + e.clientWidth + ')' : '';
}).filter(function (x) { return x; })`)
			require.Empty(t, over, "%s at %d px: text wider than its box", p, width)
		}
	}
	v.requireClean()
}

// TestOperatorRefusedInGerman: a German-speaking operator refused on
// /admin/consents gets the 403 page in German, by their stored language
// (not only the browser's): after switching to English in the menu the
// same browser gets it in English.
func TestOperatorRefusedInGerman(t *testing.T) {
	t.Parallel()
	a := newTeamApp(t, "127.0.0.8")
	english := englishOnlyWords()
	v := germanTab(t)
	a.signIn(v, teamOperator)
	require.Equal(t, []string{"Formulare", "Chat"},
		evalJS[[]string](v, `Array.from(document.querySelectorAll('.mainnav a'), function (a) { return a.innerText.trim(); })`))

	v.navigate(a.base+"/admin/consents", 403)
	require.Equal(t, "de", evalJS[string](v, `document.documentElement.lang`))
	require.Equal(t, "Nicht erlaubt", evalJS[string](v, `document.querySelector('main h1').innerText`))
	require.Contains(t, evalJS[string](v, `document.getElementById('page-error').innerText`), "Ihre Rolle erlaubt das nicht.")
	require.Empty(t, englishOn(v, english), "the German 403 page")
	require.False(t, evalJS[bool](v, `!!document.querySelector('#consents-list')`), "no consent is shown")
	axeIfPresent(t, v, "the German 403 page")
	adminScreenshot(t, v, "de-403-operator")

	// The operator's stored language decides, not the browser's.
	v.navigate(a.base+"/admin/account", 200)
	adminSelect(v, "#account-language", "en")
	adminSubmit(v, "#save-language")
	v.navigate(a.base+"/admin/consents", 403)
	require.Equal(t, "en", evalJS[string](v, `document.documentElement.lang`))
	require.Equal(t, "Not allowed", evalJS[string](v, `document.querySelector('main h1').innerText`))
	v.requireClean()
}

// TestEnglishOnlyWordsFindEnglish holds the check to finding what it is
// for: the English sign-in page is full of its words, the German one has
// none.
func TestEnglishOnlyWordsFindEnglish(t *testing.T) {
	english := englishOnlyWords()
	b, err := json.Marshal(words("Received consents: Date, User, IP address, Source. Sign in"))
	require.NoError(t, err)
	for _, w := range []string{"received", "consents", "date", "address", "source", "sign"} {
		require.True(t, english[w], "%s (from %s)", w, b)
	}
	for _, w := range words("Erhaltene Einwilligungen: Datum, Nutzer, IP-Adresse, Quelle. Anmelden") {
		require.False(t, english[w], w)
	}
}
