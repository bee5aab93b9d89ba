package web_test

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubmitValidIsStored(t *testing.T) {
	e := newHardEnv(t, nil)
	resp := e.postForm(e.formA.Key, e.validForm(e.RenderToken(e.formA.Key), "a@example.com"))
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
	resp = e.postJSON(e.formA.Key, e.validJSON(e.RenderToken(e.formA.Key), "b@example.com"))
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
	subs, recs := e.counts()
	require.Equal(t, 2, subs)
	require.Equal(t, 2, recs)
}

// The honeypot field is invisible to people; a bot that fills it gets the
// answer a person would get — the same shape, a plausible id, a withdrawal
// link per consent given, the same page — and nothing is stored. Its links
// withdraw nothing, not even an entry that later gets their id
// (issue 15: 19).
func TestHoneypot(t *testing.T) {
	e := newHardEnv(t, nil)
	type answer struct {
		ID            int64               `json:"id"`
		WithdrawLinks []map[string]string `json:"withdraw_links"`
	}
	post := func(vals url.Values, accept string) (int, string) {
		req := httptest.NewRequest("POST", "/f/"+e.formA.Key, strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp := e.Do(req)
		return resp.StatusCode, testenv.ReadBody(t, resp)
	}
	code, realJSON := post(e.validForm(e.RenderToken(e.formA.Key), "person@example.com"), "application/json")
	require.Equal(t, 201, code, realJSON)
	var real answer
	decodeJSON(t, realJSON, &real)

	bot := e.validForm(e.RenderToken(e.formA.Key), "bot@example.com")
	bot.Set("website", "https://spam.example")
	code, botJSON := post(bot, "application/json")
	require.Equal(t, 201, code, botJSON)
	var decoy answer
	decodeJSON(t, botJSON, &decoy)
	assert.Equal(t, real.ID+1, decoy.ID, "the id a real submission would have got")
	require.Len(t, decoy.WithdrawLinks, len(real.WithdrawLinks), "one link per consent given")
	var realKeys, botKeys map[string]any
	decodeJSON(t, realJSON, &realKeys)
	decodeJSON(t, botJSON, &botKeys)
	assert.Equal(t, len(realKeys), len(botKeys), "the same members: %s / %s", realJSON, botJSON)
	linkRE := regexp.MustCompile(`^` + regexp.QuoteMeta(testenv.BaseURL) + `/w/(\d+)\.[A-Za-z0-9_-]{24}$`)
	for i, l := range decoy.WithdrawLinks {
		assert.Equal(t, real.WithdrawLinks[i]["label"], l["label"])
		m := linkRE.FindStringSubmatch(l["url"])
		require.NotNil(t, m, "shaped like a real link: %s", l["url"])
		assert.Regexp(t, linkRE, real.WithdrawLinks[i]["url"])
	}

	// The page without JavaScript is the real one but for the link.
	code, realPage := post(e.validForm(e.RenderToken(e.formA.Key), "person2@example.com"), "")
	require.Equal(t, 200, code)
	code, botPage := post(bot, "")
	require.Equal(t, 200, code)
	pageLinkRE := regexp.MustCompile(`/w/\d+\.[A-Za-z0-9_-]{24}`)
	require.Len(t, pageLinkRE.FindAllString(botPage, -1), 1)
	// So is its receipt, which no key of ours signed (TestReceipts).
	receiptRE := regexp.MustCompile(`data:application/jose,[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+" download="consent-receipt-\d+\.jws"`)
	require.Len(t, receiptRE.FindAllString(botPage, -1), 1)
	same := func(p string) string {
		return receiptRE.ReplaceAllString(pageLinkRE.ReplaceAllString(p, "LINK"), "RECEIPT")
	}
	assert.Equal(t, same(realPage), same(botPage))

	// A bot that is wrong otherwise hears what a person would hear.
	bad := e.validForm(e.RenderToken(e.formA.Key), "not an address")
	bad.Set("website", "x")
	code, body := post(bad, "application/json")
	require.Equal(t, 422, code, body)

	body = strings.Replace(e.validJSON(e.RenderToken(e.formA.Key), "bot@example.com"), `{`, `{"website":"x",`, 1)
	resp := e.postJSON(e.formA.Key, body)
	require.Equal(t, 201, resp.StatusCode)
	subs, recs := e.counts()
	require.Equal(t, 2, subs, "only the two people's submissions are stored")
	require.Equal(t, 2, recs)

	// The decoy links withdraw nothing, also once a real entry has their id.
	for _, l := range decoy.WithdrawLinks {
		path := strings.TrimPrefix(l["url"], testenv.BaseURL)
		for range 3 {
			code, out := post(e.validForm(e.RenderToken(e.formA.Key), "later@example.com"), "application/json")
			require.Equal(t, 201, code, out)
		}
		resp, _ := e.Get(path)
		assert.Equal(t, 404, resp.StatusCode)
		resp, _ = e.PostRaw(path, url.Values{})
		assert.Equal(t, 404, resp.StatusCode)
	}
	var withdrawn int
	require.NoError(t, e.Raw().QueryRow(`SELECT count(*) FROM consent_records WHERE action = 'withdrawn'`).Scan(&withdrawn))
	assert.Zero(t, withdrawn)
}

// The render token proves the form was loaded from this server, for this
// form, a while ago but not too long ago.
func TestRenderToken(t *testing.T) {
	e := newHardEnv(t, nil)
	keyA := e.formA.Key

	// Sent faster than MinFillTime.
	tok := e.RenderTokenNow(keyA)
	e.Clock.Add(500 * time.Millisecond)
	resp := e.postForm(keyA, e.validForm(tok, "fast@example.com"))
	body := testenv.ReadBody(t, resp)
	require.Equal(t, 422, resp.StatusCode, body)
	require.Contains(t, testenv.DecodeError(t, body).Error.Fields["_token"], "very fast")
	// The same token is good once the time has passed, counted from the
	// end of the second it was issued in (it names only the second).
	e.Clock.Add(2500 * time.Millisecond)
	resp = e.postForm(keyA, e.validForm(tok, "patient@example.com"))
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
	subs, _ := e.counts()
	require.Equal(t, 1, subs)

	bad := map[string]string{
		"another form's token": e.RenderToken(e.formB.Key),
		"older than a day": func() string {
			tok := e.RenderToken(keyA)
			e.Clock.Add(24*time.Hour + time.Minute)
			return tok
		}(),
		"missing": "",
		"garbage": "abc.def",
		"no dot":  "zzzz",
		"forged":  strconv.FormatInt(e.Clock.Now().Add(-time.Hour).Unix(), 36) + ".AAAAAAAAAAAAAAAAAAAAAAAA",
		"from the future": func() string {
			e.Clock.Add(time.Hour)
			tok := e.RenderTokenNow(keyA)
			e.Clock.Add(-time.Hour)
			return tok
		}(),
	}
	for name, tok := range bad {
		t.Run(name, func(t *testing.T) {
			vals := e.validForm(tok, "x@example.com")
			if tok == "" {
				vals.Del("_token")
			}
			resp := e.postForm(keyA, vals)
			body := testenv.ReadBody(t, resp)
			require.Equal(t, 422, resp.StatusCode, body)
			require.NotEmpty(t, testenv.DecodeError(t, body).Error.Fields["_token"])

			resp = e.postJSON(keyA, e.validJSON(tok, "y@example.com"))
			body = testenv.ReadBody(t, resp)
			require.Equal(t, 422, resp.StatusCode, body)
			require.NotEmpty(t, testenv.DecodeError(t, body).Error.Fields["_token"])

			// A plain post gets the form again with a fresh token.
			req := httptest.NewRequest("POST", "/f/"+keyA, strings.NewReader(vals.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp = e.Do(req)
			html := testenv.ReadBody(t, resp)
			require.Equal(t, 422, resp.StatusCode)
			m := tokenRE.FindStringSubmatch(html)
			require.NotNil(t, m)
			require.NotEqual(t, tok, m[1])
		})
	}
	subs, recs := e.counts()
	require.Equal(t, 1, subs, "only the patient submission is stored")
	require.Equal(t, 1, recs)
}

// badInput is one malformed post, as a url-encoded form and as JSON; an
// empty variant is skipped. TOKEN and CID are replaced with a valid render
// token and the consent id, so only the bad part is wrong.
type badInput struct {
	name     string
	form     string
	json     string
	formType string // Content-Type of the form variant; default url-encoded
	jsonType string // Content-Type of the JSON variant; default application/json
}

func badInputs() []badInput {
	long := strings.Repeat("x", 100_000)
	manyForm := make([]string, 10_000)
	manyJSON := make([]string, 10_000)
	for i := range manyForm {
		manyForm[i] = "k" + strconv.Itoa(i) + "=1"
		manyJSON[i] = `"k` + strconv.Itoa(i) + `":"1"`
	}
	nested := strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000)
	deepList := strings.Repeat(`[`, 100_000) + strings.Repeat(`]`, 100_000)
	manyVals := make([]string, 1000)
	for i := range manyVals {
		manyVals[i] = `"v"`
	}
	ok := `_token=TOKEN&email=a%40example.com&consent_CID=1`
	okJSON := func(values, consents string) string {
		return `{"token":"TOKEN","values":{` + values + `},"consents":{` + consents + `}}`
	}
	return []badInput{
		{name: "unknown field",
			form: ok + "&bogus=1",
			json: okJSON(`"email":"a@example.com","bogus":"1"`, `"CID":true`)},
		{name: "unknown top-level key",
			json: `{"token":"TOKEN","values":{"email":"a@example.com"},"consents":{"CID":true},"admin":true}`},
		{name: "unknown consent key",
			form: ok + "&consent_CID_evil=1",
			json: okJSON(`"email":"a@example.com"`, `"CID":{"checked":true,"evil":1}`)},
		{name: "consent of no form",
			form: ok + "&consent_999999=1",
			json: okJSON(`"email":"a@example.com"`, `"CID":true,"999999":true`)},
		{name: "overlong value",
			form: ok + "&message=" + long,
			json: okJSON(`"email":"a@example.com","message":"`+long+`"`, `"CID":true`)},
		{name: "overlong e-mail",
			form: "_token=TOKEN&consent_CID=1&email=" + strings.Repeat("a", 300) + "%40example.com",
			json: okJSON(`"email":"`+strings.Repeat("a", 300)+`@example.com"`, `"CID":true`)},
		{name: "overlong key",
			form: ok + "&" + strings.Repeat("k", 5000) + "=1",
			json: okJSON(`"email":"a@example.com","`+strings.Repeat("k", 5000)+`":"1"`, `"CID":true`)},
		{name: "invalid UTF-8 in a value",
			form: ok + "&message=%C3%28%FF",
			json: okJSON(`"email":"a@example.com","message":"`+"\xc3\x28\xff"+`"`, `"CID":true`)},
		{name: "invalid UTF-8 in an e-mail",
			form: "_token=TOKEN&consent_CID=1&email=a%FF%40example.com",
			json: okJSON(`"email":"a`+"\xff"+`@example.com"`, `"CID":true`)},
		{name: "invalid UTF-8 in a key",
			form: ok + "&%FF%FE=1",
			json: okJSON(`"email":"a@example.com","`+"\xff\xfe"+`":"1"`, `"CID":true`)},
		{name: "invalid UTF-8 in JSON syntax",
			json: "{\"token\":\"TOKEN\",\xff\"values\":{}}"},
		{name: "NUL in a value",
			form: ok + "&message=a%00b",
			json: okJSON(`"email":"a@example.com","message":"a\u0000b"`, `"CID":true`)},
		{name: "huge array index",
			form: ok + "&values[99999999999]=x",
			json: okJSON(`"email":"a@example.com","values[99999999999]":"x"`, `"CID":true`)},
		{name: "negative array index",
			form: ok + "&values[-1]=x",
			json: okJSON(`"email":["a@example.com"],"x":{"-1":"y"}`, `"CID":true`)},
		{name: "negative consent id",
			form: ok + "&consent_-1=1",
			json: okJSON(`"email":"a@example.com"`, `"CID":true,"-1":true`)},
		{name: "huge consent id",
			form: ok + "&consent_99999999999999999999=1",
			json: okJSON(`"email":"a@example.com"`, `"CID":true,"99999999999999999999":true`)},
		{name: "zero consent id",
			form: ok + "&consent_0=1",
			json: okJSON(`"email":"a@example.com"`, `"CID":true,"0":true`)},
		{name: "negative version",
			form: ok + "&consent_CID_version=-5",
			json: okJSON(`"email":"a@example.com"`, `"CID":{"checked":true,"version_id":-5}`)},
		{name: "huge version",
			form: ok + "&consent_CID_version=99999999999999999999",
			json: okJSON(`"email":"a@example.com"`, `"CID":{"checked":true,"version_id":99999999999999999999}`)},
		{name: "unknown version",
			form: ok + "&consent_CID_version=424242",
			json: okJSON(`"email":"a@example.com"`, `"CID":{"checked":true,"version_id":424242}`)},
		{name: "non-numeric consent id",
			form: ok + "&consent_abc=1",
			json: okJSON(`"email":"a@example.com"`, `"CID":true,"abc":true`)},
		{name: "too many values for one field",
			form: ok + strings.Repeat("&message=v", 1000),
			json: okJSON(`"email":"a@example.com","message":[`+strings.Join(manyVals, ",")+`]`, `"CID":true`)},
		{name: "two e-mails",
			form: ok + "&email=b%40example.com",
			json: okJSON(`"email":["a@example.com","b@example.com"]`, `"CID":true`)},
		{name: "value of the wrong type",
			json: okJSON(`"email":{"a":1}`, `"CID":true`)},
		{name: "consent of the wrong type",
			json: okJSON(`"email":"a@example.com"`, `"CID":"yes"`)},
		{name: "ten thousand keys",
			form: ok + "&" + strings.Join(manyForm, "&"),
			json: okJSON(`"email":"a@example.com",`+strings.Join(manyJSON, ","), `"CID":true`)},
		{name: "page URL not http",
			form: ok + "&_page_url=javascript:alert(1)",
			json: `{"token":"TOKEN","values":{"email":"a@example.com"},"consents":{"CID":true},"page_url":"javascript:alert(1)"}`},
		{name: "page URL too long",
			form: ok + "&_page_url=https://example.com/" + strings.Repeat("p", 3000),
			json: `{"token":"TOKEN","values":{"email":"a@example.com"},"consents":{"CID":true},"page_url":"https://example.com/` + strings.Repeat("p", 3000) + `"}`},
		{name: "empty body", form: "", json: ""},
		{name: "only whitespace", form: "   ", json: "   "},
		{name: "JSON null", json: "null"},
		{name: "JSON array", json: `[1,2,3]`},
		{name: "JSON string", json: `"hello"`},
		{name: "deeply nested JSON", json: okJSON(`"email":"a@example.com","x":`+nested, `"CID":true`)},
		{name: "deeply nested list", json: deepList},
		{name: "JSON with trailing garbage", json: okJSON(`"email":"a@example.com"`, `"CID":true`) + "garbage"},
		{name: "JSON with a stray bracket", json: okJSON(`"email":"a@example.com"`, `"CID":true`) + "}"},
		{name: "two JSON documents", json: okJSON(`"email":"a@example.com"`, `"CID":true`) + okJSON(`"email":"a@example.com"`, `"CID":true`)},
		{name: "truncated JSON", json: okJSON(`"email":"a@example.com"`, `"CID":true`)[:40]},
		{name: "duplicate keys",
			form: ok + "&email=b%40example.com&email=c%40example.com",
			json: `{"token":"TOKEN","values":{"email":"a@example.com","email":"evil@example.com"},"consents":{"CID":true}}`},
		{name: "duplicate top-level keys",
			json: `{"token":"TOKEN","values":{"email":"a@example.com"},"consents":{"CID":false},"consents":{"CID":true}}`},
		{name: "required consent not ticked",
			form: "_token=TOKEN&email=a%40example.com&consent_CID=0",
			json: okJSON(`"email":"a@example.com"`, `"CID":false`)},
		{name: "wrong content type: text/plain",
			form: ok, formType: "text/plain",
			json: okJSON(`"email":"a@example.com"`, `"CID":true`), jsonType: "text/plain"},
		{name: "wrong content type: XML",
			form: ok, formType: "application/xml",
			json: `<submission><email>a@example.com</email></submission>`, jsonType: "application/xml"},
		{name: "no content type",
			form: ok, formType: "-",
			json: okJSON(`"email":"a@example.com"`, `"CID":true`), jsonType: "-"},
		{name: "content type of the other kind",
			form: ok, formType: "application/json",
			json: okJSON(`"email":"a@example.com"`, `"CID":true`), jsonType: "application/x-www-form-urlencoded"},
		{name: "multipart without boundary",
			form: ok, formType: "multipart/form-data"},
	}
}

// TestBadInput posts every bad input as a form and as JSON: each gets a
// 4xx with a message, never a 5xx, and nothing is stored.
func TestBadInput(t *testing.T) {
	e := newHardEnv(t, nil)
	tok := e.RenderToken(e.formA.Key)
	cid := strconv.FormatInt(e.consent.ID, 10)
	fill := func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, "TOKEN", tok), "CID", cid)
	}
	post := func(t *testing.T, ct, body string) {
		t.Helper()
		req := httptest.NewRequest("POST", "/f/"+e.formA.Key, strings.NewReader(fill(body)))
		if ct != "-" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Accept", "application/json")
		resp := e.Do(req)
		got := testenv.ReadBody(t, resp)
		require.GreaterOrEqual(t, resp.StatusCode, 400, "body: %.300s", got)
		require.Less(t, resp.StatusCode, 500, "body: %.300s", got)
		eb := testenv.DecodeError(t, got)
		require.NotEmpty(t, eb.Error.Code)
		require.True(t, eb.Error.Message != "" || len(eb.Error.Fields) > 0, "a clear message: %.300s", got)
		require.NotContains(t, got, "internal")
		require.Less(t, len(got), 64<<10, "the answer stays small")
	}
	for _, tc := range badInputs() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.form != "" || tc.name == "empty body" {
				t.Run("form", func(t *testing.T) {
					ct := tc.formType
					if ct == "" {
						ct = "application/x-www-form-urlencoded"
					}
					post(t, ct, tc.form)
				})
			}
			if tc.json != "" || tc.name == "empty body" {
				t.Run("json", func(t *testing.T) {
					ct := tc.jsonType
					if ct == "" {
						ct = "application/json"
					}
					post(t, ct, tc.json)
				})
			}
		})
	}
	e.RequireNothingStored("bad input stores nothing")

	// The same good token still works: bad posts did not break anything.
	resp := e.postForm(e.formA.Key, e.validForm(tok, "fine@example.com"))
	require.Equal(t, 201, resp.StatusCode, testenv.ReadBody(t, resp))
}

// TestBadInputHTML: a plain browser post of bad input gets an HTML page
// (the form with errors, or an error page), never a 5xx.
func TestBadInputHTML(t *testing.T) {
	e := newHardEnv(t, nil)
	tok := e.RenderToken(e.formA.Key)
	cid := strconv.FormatInt(e.consent.ID, 10)
	for _, tc := range badInputs() {
		if tc.form == "" || tc.formType != "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			body := strings.ReplaceAll(strings.ReplaceAll(tc.form, "TOKEN", tok), "CID", cid)
			req := httptest.NewRequest("POST", "/f/"+e.formA.Key, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp := e.Do(req)
			got := testenv.ReadBody(t, resp)
			require.GreaterOrEqual(t, resp.StatusCode, 400)
			require.Less(t, resp.StatusCode, 500)
			require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
			require.Contains(t, got, "<html")
		})
	}
	e.RequireNothingStored()
}

// Multipart is what FormData sends; files have no place in a consent form.
func TestMultipart(t *testing.T) {
	e := newHardEnv(t, nil)
	cid := strconv.FormatInt(e.consent.ID, 10)
	build := func(tok string, file bool, extra map[string]string) (string, *bytes.Buffer) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, v := range map[string]string{"_token": tok, "email": "m@example.com", "consent_" + cid: "1"} {
			require.NoError(t, mw.WriteField(k, v))
		}
		for k, v := range extra {
			require.NoError(t, mw.WriteField(k, v))
		}
		if file {
			fw, err := mw.CreateFormFile("upload", "evil.html")
			require.NoError(t, err)
			fmt.Fprint(fw, "<script>alert(1)</script>")
		}
		require.NoError(t, mw.Close())
		return mw.FormDataContentType(), &buf
	}
	send := func(ct string, body *bytes.Buffer) (int, string) {
		req := httptest.NewRequest("POST", "/f/"+e.formA.Key, body)
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", "application/json")
		resp := e.Do(req)
		return resp.StatusCode, testenv.ReadBody(t, resp)
	}
	tok := e.RenderToken(e.formA.Key)
	code, body := send(build(tok, true, nil))
	require.Equal(t, 422, code, body)
	require.Contains(t, body, "file uploads are not accepted")
	code, body = send(build(tok, false, map[string]string{"bogus": "1"}))
	require.Equal(t, 422, code, body)
	code, body = send(build(tok, false, map[string]string{"message": "\xff\xfe"}))
	require.Equal(t, 422, code, body)
	// A broken multipart body: fasthttp parses multipart while reading the
	// request, so the refusal comes from the server's error path, which
	// app.Test reports as an error; a real client sees the answer.
	base := e.Listen()
	req, err := http.NewRequest("POST", base+"/f/"+e.formA.Key,
		strings.NewReader("--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nunterminated"))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "multipart/form-data; boundary=xyz")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body = testenv.ReadBody(t, resp)
	require.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "status %d: %s", resp.StatusCode, body)
	// Fasthttp resets the request before its error path runs, so the
	// answer cannot follow the Accept header: it is the HTML error page.
	require.Contains(t, body, "multipart")
	e.RequireNothingStored()
	// And a good one is stored.
	code, body = send(build(tok, false, nil))
	require.Equal(t, 201, code, body)
}

// Posts for forms that do not exist, have bad keys or bad paths are 4xx.
func TestBadFormKeys(t *testing.T) {
	e := newHardEnv(t, nil)
	for _, key := range []string{"aaaaaaaaaaaaaaaa", "x", strings.Repeat("a", 500), "%FF%FE", "..%2F..%2Fetc", "a%00b"} {
		resp := e.postForm(key, url.Values{"email": {"a@example.com"}})
		require.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%s: %d", key, resp.StatusCode)
		resp = e.Do(httptest.NewRequest("OPTIONS", "/f/"+key, nil))
		require.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "%s: %d", key, resp.StatusCode)
	}
	e.RequireNothingStored()
}
