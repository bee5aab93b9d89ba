package web

// Tests and benchmarks of the hot paths: the pre-encoded form page and
// assets, and the submission path. They prove correctness, never timings;
// the benchmarks report allocations (go test -bench . -benchmem ./web).

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// perfEnv is an app on a fresh database with one form like the demo form:
// name, e-mail, phone, message and one required consent.
type perfEnv struct {
	t       testing.TB
	db      *sqlite.DB
	srv     *Server
	form    *formbuilder.Form
	consent *formbuilder.Consent
	now     time.Time
}

var perfSecret = []byte("0123456789abcdef0123456789abcdef-perf")

func newPerfEnv(t testing.TB) *perfEnv {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "perf.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	e := &perfEnv{t: t, db: db, now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	u := &formbuilder.User{Email: "owner@example.com", Name: "Olga Owner"}
	require.NoError(t, db.CreateUser(ctx, u))
	e.consent = &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Text: "<p>We process your data to answer you.</p>",
		Label: "I agree to the %privacy terms%.", Language: "en"}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, e.consent, content, "olga"))
	e.form = &formbuilder.Form{
		Name: "Contact", Title: "Contact", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName, Required: true},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea, Required: true},
		},
		Consents:          []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
		ResponsibleUserID: u.ID,
	}
	require.NoError(t, db.CreateForm(ctx, e.form))
	e.srv, err = New(Config{
		BaseURL: "http://forms.test",
		Secret:  perfSecret,
		Now:     func() time.Time { return e.now },
		// Tests and benchmarks post far more than a visitor would.
		RateIP: -1, RateForm: -1, RateIPForm: -1,
	}, Services{Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db})
	require.NoError(t, err)
	return e
}

// get runs a GET through the app with the given header pairs.
func (e *perfEnv) get(path string, hdr ...string) (*http.Response, []byte) {
	e.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.App().Test(req, -1)
	require.NoError(e.t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	resp.Body.Close()
	return resp, b
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	// One member only: a second would mean the splice wrote two streams.
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	require.NoError(t, err, "the gzip body decodes and its CRC-32 and length check out")
	rest, _ := io.ReadAll(zr)
	require.Empty(t, rest)
	return out
}

func TestGzipSpliceEqualsIdentityForRandomTokens(t *testing.T) {
	e := newPerfEnv(t)
	cf, err := e.srv.forms.get(context.Background(), e.form.Key, time.Now())
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	randBytes := func(n int, alphabet string) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return b
	}
	type pair struct{ prefix, suffix []byte }
	pairs := []pair{
		{cf.pages[0].prefix, cf.pages[0].suffix},
		{cf.pages[1].prefix, cf.pages[1].suffix},
		{nil, nil},
		{[]byte("a"), nil},
		{nil, []byte("b")},
		// Incompressible and highly repetitive, beyond one 32 KiB window.
		{randBytes(70000, "abcdefghijklmnopqrstuvwxyz<>\"= \n0123456789"), randBytes(50000, "xy")},
	}
	for pi, p := range pairs {
		g, err := newGzipSplice(p.prefix, p.suffix)
		require.NoError(t, err)
		for _, n := range []int{0, 1, 31, 200, 65535, 65536, 140000} {
			tok := string(randBytes(n, "0123456789abcdefghijklmnopqrstuvwxyz.-_ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
			want := append(append(append([]byte{}, p.prefix...), tok...), p.suffix...)
			got := gunzip(t, g.appendWithToken([]byte("keep"), tok)[4:])
			require.True(t, bytes.Equal(want, got), "pair %d, token of %d bytes", pi, n)
		}
	}
}

var tokenRE = regexp.MustCompile(`name="_token" value="([^"]+)"`)

func TestFormPageEncodings(t *testing.T) {
	e := newPerfEnv(t)
	path := "/f/" + e.form.Key
	for _, p := range []string{path, path + "?embed=1"} {
		plain, body := e.get(p)
		require.Equal(t, 200, plain.StatusCode)
		assert.Empty(t, plain.Header.Get("Content-Encoding"))
		assert.Equal(t, "Accept-Encoding", plain.Header.Get("Vary"))
		assert.Contains(t, plain.Header.Get("Content-Security-Policy"), "frame-ancestors *")
		m := tokenRE.FindSubmatch(body)
		require.NotNil(t, m)
		assert.Empty(t, e.srv.checkRenderToken(e.form.Key, string(m[1]), e.now), "the page carries a valid token")
		etag := plain.Header.Get("ETag")

		for _, ae := range []string{"gzip", "gzip, deflate, br, zstd", "br;q=1, gzip;q=0.5", "*"} {
			gz, gzBody := e.get(p, "Accept-Encoding", ae)
			require.Equal(t, 200, gz.StatusCode)
			require.Equal(t, "gzip", gz.Header.Get("Content-Encoding"), "pages are gzip, never br: %s", ae)
			assert.Equal(t, strings.TrimSuffix(etag, `"`)+`-gz"`, gz.Header.Get("ETag"))
			assert.Equal(t, string(body), string(gunzip(t, gzBody)))
		}
		for _, ae := range []string{"gzip;q=0", "identity", "br", "*;q=0"} {
			r, b := e.get(p, "Accept-Encoding", ae)
			assert.Empty(t, r.Header.Get("Content-Encoding"), ae)
			assert.Equal(t, body, b)
		}

		// The next second brings a new token, in both codings.
		e.now = e.now.Add(time.Second)
		_, next := e.get(p)
		_, nextGz := e.get(p, "Accept-Encoding", "gzip")
		assert.NotEqual(t, string(body), string(next))
		assert.Equal(t, string(next), string(gunzip(t, nextGz)))

		for _, inm := range []string{etag, strings.TrimSuffix(etag, `"`) + `-gz"`, "W/" + etag, `"x", ` + etag, "*"} {
			r, b := e.get(p, "If-None-Match", inm, "Accept-Encoding", "gzip")
			assert.Equal(t, 304, r.StatusCode, inm)
			assert.Empty(t, b)
		}
		r, _ := e.get(p, "If-None-Match", `"1-0000000000000000"`)
		assert.Equal(t, 200, r.StatusCode)
	}
}

func TestAssetEncodings(t *testing.T) {
	e := newPerfEnv(t)
	for _, a := range e.srv.widget.Assets() {
		paths := []string{"/static/" + a.Name, "/static/" + a.HashedName}
		if a.Name == "embed.js" {
			paths = append(paths, "/embed.js")
		}
		for _, p := range paths {
			r, plain := e.get(p)
			require.Equal(t, 200, r.StatusCode, p)
			assert.Equal(t, a.Body, plain)
			assert.Equal(t, a.ETag, r.Header.Get("ETag"))

			r, b := e.get(p, "Accept-Encoding", "gzip, deflate, br")
			require.Equal(t, "br", r.Header.Get("Content-Encoding"), p)
			assert.Equal(t, strings.TrimSuffix(a.ETag, `"`)+`-br"`, r.Header.Get("ETag"))
			dec, err := io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
			require.NoError(t, err)
			assert.Equal(t, a.Body, dec)
			assert.Less(t, len(b), len(a.Gzip))

			r, b = e.get(p, "Accept-Encoding", "gzip, br;q=0")
			require.Equal(t, "gzip", r.Header.Get("Content-Encoding"), p)
			assert.Equal(t, a.Body, gunzip(t, b))

			r, _ = e.get(p, "Accept-Encoding", "br", "If-None-Match", strings.TrimSuffix(a.ETag, `"`)+`-br"`)
			assert.Equal(t, 304, r.StatusCode)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, c := range []struct {
		ae   string
		brOK bool
		want encoding
	}{
		{"", true, encIdentity},
		{"gzip", true, encGzip},
		{"GZIP", false, encGzip},
		{"x-gzip", false, encGzip},
		{"gzip, deflate, br", true, encBrotli},
		{"gzip, deflate, br", false, encGzip},
		{"br", false, encIdentity},
		{"gzip;q=0, br", true, encBrotli},
		{"gzip;q=0", true, encIdentity},
		{"gzip; q=0.000", true, encIdentity},
		{"gzip;q=0.001", true, encGzip},
		{"gzip;q=1.0", true, encGzip},
		{"*", true, encBrotli},
		{"*", false, encGzip},
		{"*;q=0", true, encIdentity},
		{"*, gzip;q=0", false, encIdentity},
		{"*, gzip;q=0", true, encBrotli},
		{"identity", true, encIdentity},
		{" br ; q=0 , gzip ", true, encGzip},
	} {
		assert.Equal(t, c.want, negotiate([]byte(c.ae), c.brOK), "%q br=%v", c.ae, c.brOK)
	}
	assert.True(t, acceptsGzip("deflate, gzip"))
	assert.False(t, acceptsGzip("gzip;q=0"))
}

func TestETagMatches(t *testing.T) {
	const tag = `"3-abc"`
	for inm, want := range map[string]bool{
		`"3-abc"`:            true,
		`"3-abc-gz"`:         true,
		`"3-abc-br"`:         true,
		`W/"3-abc"`:          true,
		`"x", "3-abc-gz"`:    true,
		`*`:                  true,
		``:                   false,
		`"3-ab"`:             false,
		`3-abc`:              false,
		`"3-abc-gz-gz"`:      false,
		`"3-abc", W/"other"`: true,
		`"other"`:            false,
	} {
		assert.Equal(t, want, etagMatches([]byte(inm), tag), inm)
	}
}

// submitJSON is the JSON post of the perf form; consent false leaves the
// required consent unticked, which fails validation.
func (e *perfEnv) submitJSON(tok, email string, consent bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"token": tok,
		"values": map[string]string{"name": "Erika Muster", "email": email, "phone": "+49 30 1234567",
			"message": "Hello, please call me back."},
		"consents": map[string]any{strconv.FormatInt(e.consent.ID, 10): map[string]bool{
			"checked": consent, "initial": true}},
		"page_url": "https://shop.example/contact",
	})
	return b
}

// TestConcurrentSubmissionsAreStoredWithTheirConsents posts valid and
// invalid submissions at once, so that they share group-commit batches:
// every acknowledged one is stored with its consent entry (under the ids the
// answer names), every refused one left nothing, and the chain verifies.
func TestConcurrentSubmissionsAreStoredWithTheirConsents(t *testing.T) {
	e := newPerfEnv(t)
	_, page := e.get("/f/" + e.form.Key)
	tok := string(tokenRE.FindSubmatch(page)[1])
	const n = 120
	type answer struct {
		status int
		res    submitResult
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("POST", "/f/"+e.form.Key,
				bytes.NewReader(e.submitJSON(tok, fmt.Sprintf("v%d@example.com", i), i%4 != 0)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := e.srv.App().Test(req, -1)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			answers[i].status = resp.StatusCode
			if resp.StatusCode == 201 {
				assert.NoError(t, json.NewDecoder(resp.Body).Decode(&answers[i].res))
			}
		}()
	}
	wg.Wait()
	ctx := context.Background()
	stored := 0
	for i, a := range answers {
		if i%4 == 0 {
			assert.Equal(t, 422, a.status, "submission %d lacks the required consent", i)
			continue
		}
		require.Equal(t, 201, a.status, i)
		stored++
		sub, err := e.db.FindSubmission(ctx, a.res.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{fmt.Sprintf("v%d@example.com", i)}, sub.Values["email"])
		require.Len(t, a.res.WithdrawLinks, 1)
		path := strings.TrimPrefix(a.res.WithdrawLinks[0].URL, "http://forms.test/w/")
		rid, ok := e.srv.parseWithdrawToken(path)
		require.True(t, ok)
		rec, err := e.db.FindRecord(ctx, rid)
		require.NoError(t, err)
		assert.Equal(t, a.res.ID, rec.SubmissionID)
		assert.Equal(t, e.consent.ID, rec.ConsentID)
		assert.Equal(t, fmt.Sprintf("v%d@example.com", i), rec.Subject)
	}
	recs, err := e.db.ListRecords(ctx, formbuilder.RecordFilter{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, recs, stored, "no consent entry without an acknowledged submission")
	vr, err := e.db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
}

// benchGet runs the app's handler in-process on a reused fasthttp context,
// so the benchmark sees the route's own cost and allocations.
func benchGet(b *testing.B, e *perfEnv, uri string, hdr ...string) {
	h := e.srv.App().Handler()
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("GET")
		ctx.Request.SetRequestURI(uri)
		for i := 0; i+1 < len(hdr); i += 2 {
			ctx.Request.Header.Set(hdr[i], hdr[i+1])
		}
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			b.Fatalf("status %d", ctx.Response.StatusCode())
		}
	}
}

func BenchmarkFormPage(b *testing.B) {
	e := newPerfEnv(b)
	b.Run("identity", func(b *testing.B) { benchGet(b, e, "/f/"+e.form.Key) })
	b.Run("gzip", func(b *testing.B) { benchGet(b, e, "/f/"+e.form.Key, "Accept-Encoding", "gzip, deflate, br") })
}

func BenchmarkEmbedJS(b *testing.B) {
	e := newPerfEnv(b)
	b.Run("identity", func(b *testing.B) { benchGet(b, e, "/embed.js") })
	b.Run("br", func(b *testing.B) { benchGet(b, e, "/embed.js", "Accept-Encoding", "gzip, deflate, br") })
}

// BenchmarkSubmitParse measures what a post costs before storage: parsing
// (JSON and urlencoded), the token check and validation.
func BenchmarkSubmitParse(b *testing.B) {
	e := newPerfEnv(b)
	_, page := e.get("/f/" + e.form.Key)
	tok := string(tokenRE.FindSubmatch(page)[1])
	cid := strconv.FormatInt(e.consent.ID, 10)
	form := url.Values{"_token": {tok}, "name": {"Erika Muster"}, "email": {"erika@example.com"},
		"phone": {"+49 30 1234567"}, "message": {"Hello, please call me back."}, "_page_url": {"https://shop.example/contact"},
		"consent_" + cid: {"1"}, "consent_" + cid + "_initial": {"1"}, "_embed": {"0"}}
	for _, v := range []struct{ name, ct, body string }{
		{"json", "application/json", string(e.submitJSON(tok, "erika@example.com", true))},
		{"form", "application/x-www-form-urlencoded", form.Encode()},
	} {
		b.Run(v.name, func(b *testing.B) {
			app := e.srv.App()
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
				sub, err := e.srv.parseSubmission(c)
				if err != nil {
					b.Fatal(err)
				}
				if why := e.srv.checkRenderToken(e.form.Key, sub.token, e.now); why != "" {
					b.Fatal(why)
				}
				if _, _, err := formbuilder.ValidateSubmission(e.form, sub.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSubmit is the whole POST, storage included (group commit with
// fsync per batch; run with -cpu to vary concurrency).
func BenchmarkSubmit(b *testing.B) {
	e := newPerfEnv(b)
	_, page := e.get("/f/" + e.form.Key)
	tok := string(tokenRE.FindSubmatch(page)[1])
	body := e.submitJSON(tok, "erika@example.com", true)
	h := e.srv.App().Handler()
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/f/" + e.form.Key)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBody(body)
			h(&ctx)
			if ctx.Response.StatusCode() != 201 {
				b.Errorf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
				return
			}
		}
	})
}

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
		13: {Checked: true, Initial: true, VersionID: 7}, 14: {}}, sub.in.Consents)

	_, err = parse(`{"values":null,"consents":null,"token":null}`)
	require.NoError(t, err)

	for body, field := range map[string]string{
		`{"values":{"email":{"a":1}}}`:                    "email",
		`{"values":{"email":["a",1]}}`:                    "email",
		`{"values":{"email":true}}`:                       "email",
		`{"consents":{"x":true}}`:                         "consents.x",
		`{"consents":{"0":true}}`:                         "consents.0",
		`{"consents":{"5":"yes"}}`:                        "consents.5",
		`{"consents":{"5":{"checked":1}}}`:                "consents.5",
		`{"consents":{"5":{"version_id":1.5}}}`:           "consents.5",
		`{"consents":{"5":{"version_id":1e30}}}`:          "consents.5",
		`{"consents":{"5":{"checked":true,"evil":true}}}`: "consents.5",
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
