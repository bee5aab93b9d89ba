package web_test

import (
	"html"
	"net/url"
	"regexp"
	"strconv"
	"testing"

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

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
