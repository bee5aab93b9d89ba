package public

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

func TestParseSubmissionJSON(t *testing.T) {
	parse := func(body string) (*submission, error) {
		sub := &submission{in: formbuilder.SubmissionInput{
			Values: map[string][]string{}, Consents: map[int64]formbuilder.ConsentInput{}}}
		return sub, parseSubmissionJSON([]byte(body), sub)
	}
	sub, err := parse(`{"token":"t.1","website":"","page_url":"https://shop.example/\u00e4",
		"values":{"email":"a@example.com","topics":["x","y"],"empty":null,"e\u0073c":"é"},
		"consents":{"12":true,"13":{"checked":true,"initial":true,"interacted":false,"version_id":7},"14":null}}`)
	require.NoError(t, err)
	assert.Equal(t, "t.1", sub.token)
	assert.Equal(t, "https://shop.example/ä", sub.in.PageURL)
	assert.Equal(t, map[string][]string{"email": {"a@example.com"}, "topics": {"x", "y"}, "empty": {""}, "esc": {"é"}}, sub.in.Values)
	assert.Equal(t, map[int64]formbuilder.ConsentInput{12: {Checked: true},
		13: {Checked: true, Touched: formbuilder.TouchNone, VersionID: 7}, 14: {}}, sub.in.Consents)

	_, err = parse(`{"values":null,"consents":null,"token":null}`)
	require.NoError(t, err)

	for body, field := range map[string]string{
		`{"values":{"email":{"a":1}}}`:                    "values.email",
		`{"values":{"email":["a",1]}}`:                    "values.email",
		`{"values":{"email":true}}`:                       "values.email",
		`{"consents":{"x":true}}`:                         "consents.x",
		`{"consents":{"0":true}}`:                         "consents.0",
		`{"consents":{"5":"yes"}}`:                        "consents.5",
		`{"consents":{"5":{"checked":1}}}`:                "consents.5.checked",
		`{"consents":{"5":{"version_id":1.5}}}`:           "consents.5.version_id",
		`{"consents":{"5":{"version_id":1e30}}}`:          "consents.5.version_id",
		`{"consents":{"5":{"version_id":-1}}}`:            "consents.5.version_id",
		`{"consents":{"5":{"checked":true,"evil":true}}}`: "consents.5.evil",
	} {
		_, err := parse(body)
		require.Error(t, err, body)
		assert.Contains(t, formbuilder.ErrorFields(err), field, body)
	}
	tooMany := make([]string, maxPostKeys+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	for _, body := range []string{
		``, `   `, `null`, `[]`, `"x"`, `{`, `{"values":{"email":"a"`,
		`{"token":"a","token":"b"}`,                 // duplicate
		`{"values":{"email":"a","\u0065mail":"b"}}`, // duplicate once unescaped
		`{"admin":true}`,                            // unknown member
		`{"Token":"a"}`,                             // names are exact
		`{"values":{}} {"values":{}}`,               // two documents
		`{"values":{}}}`,                            // stray bracket
		`{"values":{}} garbage`,
		"{\"token\":\"a\xff\"}", // invalid UTF-8
		`{"values":{"x":` + strings.Repeat("[", 10000) + `}}`,
		`{"values":{` + strings.Join(tooMany, ",") + `}}`,
	} {
		_, err := parse(body)
		require.Error(t, err, "%.80s", body)
		assert.Equal(t, formbuilder.EINVALID, formbuilder.ErrorCode(err), "%.80s: %v", body, err)
	}
}

// submitJSON is a JSON post of the env's form with its consent ticked.
func (e *unitEnv) submitJSON(tok, email string) string {
	b, _ := json.Marshal(map[string]any{
		"token": tok,
		"values": map[string]string{"name": "Erika Muster", "email": email, "phone": "+49 30 1234567",
			"message": "Hello, please call me back."},
		"consents": map[string]any{strconv.FormatInt(e.consent.ID, 10): map[string]bool{
			"checked": true, "initial": true}},
		"page_url": "https://shop.example/contact",
	})
	return string(b)
}

// BenchmarkSubmitParse measures what a post costs before storage: parsing
// (JSON and urlencoded), the token check and validation.
func BenchmarkSubmitParse(b *testing.B) {
	e := newUnitEnv(b, nil)
	tok := e.s.renderToken(e.form, e.now.Add(-time.Minute))
	cid := strconv.FormatInt(e.consent.ID, 10)
	form := url.Values{"_token": {tok}, "name": {"Erika Muster"}, "email": {"erika@example.com"},
		"phone": {"+49 30 1234567"}, "message": {"Hello, please call me back."}, "_page_url": {"https://shop.example/contact"},
		"consent_" + cid: {"1"}, "consent_" + cid + "_initial": {"1"}, "_embed": {"0"}}
	for _, v := range []struct{ name, ct, body string }{
		{"json", "application/json", e.submitJSON(tok, "erika@example.com")},
		{"form", "application/x-www-form-urlencoded", form.Encode()},
	} {
		b.Run(v.name, func(b *testing.B) {
			app := fiber.New()
			var ctx fasthttp.RequestCtx
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/f/" + e.form.Key)
			ctx.Request.Header.SetContentType(v.ct)
			ctx.Request.SetBodyString(v.body)
			c := app.AcquireCtx(&ctx)
			defer app.ReleaseCtx(c)
			b.ReportAllocs()
			for b.Loop() {
				ctx.Request.ResetBody()
				ctx.Request.SetBodyString(v.body) // PostArgs are parsed once per body
				sub, err := e.s.parseSubmission(c)
				if err != nil {
					b.Fatal(err)
				}
				if why := e.s.checkRenderToken(e.form.Key, sub.token, e.now); why != "" {
					b.Fatal(why)
				}
				if _, _, err := formbuilder.ValidateSubmission(e.form, sub.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
