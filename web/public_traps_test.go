package web_test

import (
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Traps that lost a visitor's submission (issue 15: 1–4).

var docTitleRE = regexp.MustCompile(`<title>([^<]*)</title>`)

// A form whose title contains the string the page cache once used as the
// token's place kept the literal in the hidden field and put the live
// token into <title>: every post failed (issue 15: 3).
func TestTitleWithTokenPlaceholder(t *testing.T) {
	e := newHardEnv(t, nil)
	const title = "Offer cftokenplaceholderxq7 for you"
	f := e.SeedForm(&formbuilder.Form{
		Name: "Offer", Title: title, Language: "en",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
	})
	for _, path := range []string{"/f/" + f.Key, "/f/" + f.Key + "?embed=1"} {
		resp, body := e.Get(path)
		require.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, title, html.UnescapeString(docTitleRE.FindStringSubmatch(body)[1]), path)
		assert.Contains(t, body, "<h1 class=\"cf-title\">"+title+"</h1>", path)
	}
	tok := e.RenderToken(f.Key)
	require.NotContains(t, tok, "cftokenplaceholderxq7")
	resp := e.postForm(f.Key, url.Values{"_token": {tok}, "email": {"a@example.com"},
		"consent_" + itoa(e.consent.ID): {"1"}})
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
}

// The render token signs whole seconds and the page bodies are shared per
// second, so a token says only in which second the page was served: the
// minimum fill time counts from the end of that second, and a post is
// accepted only when at least MinFillTime has surely passed (issue 15: 4).
func TestMinFillTimeIsAtLeastTheMinimum(t *testing.T) {
	const minFill = 2 * time.Second
	for _, served := range []time.Duration{0, 300 * time.Millisecond, 999 * time.Millisecond} {
		for _, waited := range []time.Duration{1500 * time.Millisecond, 1999 * time.Millisecond,
			2 * time.Second, 2100 * time.Millisecond, 2500 * time.Millisecond, 3 * time.Second} {
			e := newHardEnv(t, nil)
			e.Clock.Add(served) // testenv.Start is on a whole second
			tok := e.RenderTokenNow(e.formA.Key)
			e.Clock.Add(waited)
			resp := e.postForm(e.formA.Key, e.validForm(tok, "a@example.com"))
			body := testenv.ReadBody(t, resp)
			// The page was served somewhere in its second: only waiting
			// until MinFillTime after the second's end proves the minimum.
			proven := served+waited >= time.Second+minFill
			if proven {
				assert.Equal(t, 201, resp.StatusCode, "served at +%v, sent %v later: %s", served, waited, body)
			} else {
				assert.Equal(t, 422, resp.StatusCode, "served at +%v, sent %v later: %s", served, waited, body)
			}
			if waited < minFill {
				assert.Equal(t, 422, resp.StatusCode, "sent %v after loading, under the minimum of %v", waited, minFill)
			}
		}
	}
}

// An expired form answered every JSON resend with the same 422: the answer
// now carries a render token the widget sends next, and that send goes
// through (issue 15: 2).
func TestExpiredFormJSONGetsAFreshToken(t *testing.T) {
	e := newHardEnv(t, nil)
	old := e.RenderToken(e.formA.Key)
	e.Clock.Add(25 * time.Hour)
	for _, post := range []func(tok string) string{
		func(tok string) string {
			return testenv.ReadBody(t, e.postJSON(e.formA.Key, e.validJSON(tok, "late@example.com")))
		},
		func(tok string) string {
			return testenv.ReadBody(t, e.postForm(e.formA.Key, e.validForm(tok, "late@example.com")))
		},
	} {
		body := post(old)
		var ans invalidAnswer
		decodeJSON(t, body, &ans)
		require.Contains(t, ans.Error.Fields["_token"], "expired", body)
		require.NotEmpty(t, ans.Token, "the 422 carries a token: %s", body)
		require.NotEqual(t, old, ans.Token)
		// Resending at once with the new token is refused as too fast (the
		// visitor reads the message first); after the minimum it is stored.
		e.Clock.Add(3 * time.Second)
		body = post(ans.Token)
		require.Contains(t, body, `"id":`, body)
	}
	subs, recs := e.counts()
	assert.Equal(t, 2, subs)
	assert.Equal(t, 2, recs)
}

// A 422 for another reason keeps the visitor's token when it is still good:
// a fresh one would restart the minimum fill time, and a visitor who fixes
// a field at once would then be told they were too fast.
func TestInvalidJSONKeepsAGoodToken(t *testing.T) {
	e := newHardEnv(t, nil)
	tok := e.RenderToken(e.formA.Key)
	vals := e.validForm(tok, "not an address")
	body := testenv.ReadBody(t, e.postForm(e.formA.Key, vals))
	var ans invalidAnswer
	decodeJSON(t, body, &ans)
	require.NotEmpty(t, ans.Error.Fields["email"], body)
	require.Equal(t, tok, ans.Token, "the token that is still good comes back")

	// Too fast: the same token comes back, and it is good once its time is
	// up; a fresh one would have to wait the whole minimum again.
	young := e.RenderTokenNow(e.formA.Key)
	body = testenv.ReadBody(t, e.postForm(e.formA.Key, e.validForm(young, "a@example.com")))
	decodeJSON(t, body, &ans)
	require.Contains(t, ans.Error.Fields["_token"], "very fast", body)
	require.Equal(t, young, ans.Token)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// decodeJSON decodes a JSON answer into v, failing the test otherwise.
func decodeJSON(t testing.TB, body string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(body), v), "body: %s", body)
}

// A consent whose text changed while the visitor's page was open refuses
// the post (the log must prove the text shown), and the answer carries the
// current box, so the page can show it and the next send goes through
// (issue 15: 1).
func TestChangedConsentAnswerCarriesTheCurrentBox(t *testing.T) {
	e := newHardEnv(t, nil)
	e.Login()
	cid := itoa(e.consent.ID)
	old := e.consent.Current.ID
	tok := e.RenderToken(e.formA.Key)
	// The admin saves a new version meanwhile.
	resp, _ := e.Post("/admin/consents/"+cid, url.Values{"name": {"Privacy"}, "type": {"custom"},
		"text": {"<p>Version two: we keep your data for 30 days.</p>"}, "label": {"I accept the %new terms%."},
		"language": {"en"}})
	require.Contains(t, testenv.Location(t, resp, 303), "msg=consent-version")
	co, err := e.DB.FindConsentByID(t.Context(), e.consent.ID)
	require.NoError(t, err)
	cur := co.Current
	require.NotEqual(t, old, cur.ID)

	vals := e.validForm(tok, "a@example.com")
	vals.Set("consent_"+cid+"_version", itoa(old))
	vals.Set("name", "Erika kept")
	body := testenv.ReadBody(t, e.postForm(e.formA.Key, vals))
	var ans struct {
		invalidAnswer
		Consents []struct {
			ConsentID int64  `json:"consent_id"`
			VersionID int64  `json:"version_id"`
			Version   int    `json:"version"`
			Label     string `json:"label"`
			Text      string `json:"text"`
			HTML      string `json:"html"`
		} `json:"consents"`
	}
	decodeJSON(t, body, &ans)
	require.Contains(t, ans.Error.Fields["consent."+cid], "has changed", body)
	// The page's token is still good: it keeps its time (the fill time
	// goes on counting) and now says that the box was shown anew, unticked.
	require.Equal(t, strings.Split(tok, ".")[0], strings.Split(ans.Token, ".")[0], "the token keeps its time")
	require.Equal(t, "_"+strconv.FormatInt(e.consent.ID, 36), strings.Split(ans.Token, ".")[1], "the box shown anew, unticked")
	require.Len(t, ans.Consents, 1, body)
	box := ans.Consents[0]
	assert.Equal(t, e.consent.ID, box.ConsentID)
	assert.Equal(t, cur.ID, box.VersionID)
	assert.Equal(t, 2, box.Version)
	assert.Equal(t, "I accept the new terms.", box.Label)
	assert.Equal(t, "<p>Version two: we keep your data for 30 days.</p>", box.Text)
	assert.Contains(t, box.HTML, `data-cf-consent="`+cid+`"`)
	assert.Contains(t, box.HTML, `name="consent_`+cid+`_version" value="`+itoa(cur.ID)+`"`)
	assert.Contains(t, box.HTML, `name="consent_`+cid+`_initial" value="0"`, "shown anew, unticked")
	assert.NotContains(t, box.HTML, " checked")
	assert.Contains(t, box.HTML, "Version two")
	assert.Contains(t, box.HTML, "has changed since the page was loaded", "the message sits at the box")
	e.RequireNothingStored()

	// The widget sends again with the new version, the box ticked by the
	// visitor: stored, recording the version shown.
	vals.Set("_token", ans.Token) // as form.js does with every 422
	vals.Set("consent_"+cid+"_version", itoa(box.VersionID))
	vals.Set("consent_"+cid+"_initial", "0")
	vals.Set("consent_"+cid+"_interacted", "1")
	resp = e.postForm(e.formA.Key, vals)
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
	recs, err := e.DB.ListRecords(t.Context(), formbuilder.RecordFilter{FormID: e.formA.ID, Limit: 5})
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, cur.ID, recs[0].VersionID)
	assert.False(t, recs[0].InitialState)
	assert.True(t, recs[0].Interacted)

	// Without JavaScript the page comes back with the new box unticked and
	// the visitor's values; ticking it and sending goes through.
	noJS := e.validForm(e.RenderToken(e.formA.Key), "b@example.com")
	noJS.Set("consent_"+cid+"_version", itoa(old))
	noJS.Set("name", "Bert kept")
	resp, page := e.PostRaw("/f/"+e.formA.Key, noJS)
	require.Equal(t, 422, resp.StatusCode)
	assert.Contains(t, page, "Version two")
	assert.Contains(t, page, `value="Bert kept"`)
	assert.Contains(t, page, `name="consent_`+cid+`_version" value="`+itoa(cur.ID)+`"`)
	assert.Contains(t, page, `name="consent_`+cid+`_initial" value="0"`)
	assert.NotRegexp(t, `id="cf-consent-`+cid+`"[^>]* checked`, page)
	next := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		next.Set(m[1], html.UnescapeString(m[2]))
	}
	next.Set("email", "b@example.com")
	next.Set("consent_"+cid, "1")
	resp, _ = e.PostRaw("/f/"+e.formA.Key, next)
	require.Equal(t, 200, resp.StatusCode)
	recs, err = e.DB.ListRecords(t.Context(), formbuilder.RecordFilter{FormID: e.formA.ID, Limit: 5})
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, cur.ID, recs[0].VersionID)
	assert.True(t, recs[0].Interacted, "ticked by the visitor after it was shown unticked")
}

// invalidAnswer is the JSON answer to a refused submission, as far as the
// tests read it.
type invalidAnswer struct {
	Error struct {
		Fields map[string]string `json:"fields"`
	} `json:"error"`
	Token string `json:"token"`
}
