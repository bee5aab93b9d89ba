package web_test

import (
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

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
