package web_test

import (
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strconv"
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
		var ans struct {
			Error struct {
				Fields map[string]string `json:"fields"`
			} `json:"error"`
			Token string `json:"token"`
		}
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
	var ans struct {
		Error struct {
			Fields map[string]string `json:"fields"`
		} `json:"error"`
		Token string `json:"token"`
	}
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
