package web_test

// Tests and benchmarks of the hot paths through the whole app: the
// pre-encoded form page and assets, and the submission path. They prove
// correctness, never timings; the benchmarks report allocations
// (go test -bench . -benchmem ./web).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/widget"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

// perfEnv is the shared env with one form like the demo form: name,
// e-mail, phone, message and one required consent.
type perfEnv struct {
	*testenv.Env
	form    *formbuilder.Form
	consent *formbuilder.Consent
}

func newPerfEnv(t testing.TB) *perfEnv { return newPerfEnvWith(t) }

func newPerfEnvWith(t testing.TB, opts ...testenv.Option) *perfEnv {
	t.Helper()
	e := &perfEnv{Env: testenv.New(t, opts...)}
	e.consent = e.SeedConsent("Privacy", "<p>We process your data to answer you.</p>", "I agree to the %privacy terms%.")
	e.form = e.SeedForm(&formbuilder.Form{
		Name: "Contact", Title: "Contact", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName, Required: true},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea, Required: true},
		},
		Consents:          []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
		ResponsibleUserID: e.Admin.ID,
	})
	return e
}

// get runs a GET through the app with the given header pairs.
func (e *perfEnv) get(path string, hdr ...string) (*http.Response, []byte) {
	e.T.Helper()
	resp, body := e.Get(path, hdr...)
	return resp, []byte(body)
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
		etag := plain.Header.Get("ETag")

		for _, ae := range []string{"gzip", "gzip, deflate, br, zstd", "br;q=1, gzip;q=0.5", "*"} {
			gz, gzBody := e.get(p, "Accept-Encoding", ae)
			require.Equal(t, 200, gz.StatusCode)
			require.Equal(t, "gzip", gz.Header.Get("Content-Encoding"), "pages are gzip, never br: %s", ae)
			assert.Equal(t, strings.TrimSuffix(etag, `"`)+`-gz"`, gz.Header.Get("ETag"))
			assert.Equal(t, string(body), string(testenv.Gunzip(t, gzBody)))
		}
		for _, ae := range []string{"gzip;q=0", "identity", "br", "*;q=0"} {
			r, b := e.get(p, "Accept-Encoding", ae)
			assert.Empty(t, r.Header.Get("Content-Encoding"), ae)
			assert.Equal(t, body, b)
		}

		// The next second brings a new token, in both codings.
		e.Clock.Add(time.Second)
		_, next := e.get(p)
		_, nextGz := e.get(p, "Accept-Encoding", "gzip")
		assert.NotEqual(t, string(body), string(next))
		assert.Equal(t, string(next), string(testenv.Gunzip(t, nextGz)))

		for _, inm := range []string{etag, strings.TrimSuffix(etag, `"`) + `-gz"`, "W/" + etag, `"x", ` + etag, "*"} {
			r, b := e.get(p, "If-None-Match", inm, "Accept-Encoding", "gzip")
			assert.Equal(t, 304, r.StatusCode, inm)
			assert.Empty(t, b)
		}
		r, _ := e.get(p, "If-None-Match", `"1-0000000000000000"`)
		assert.Equal(t, 200, r.StatusCode)

		// The page of this second carries a valid token.
		m = tokenRE.FindSubmatch(next)
		require.NotNil(t, m)
		resp := e.Do(testenv.Request("POST", "/f/"+e.form.Key, bytes.NewReader(e.submitJSON(string(m[1]), "t@example.com", true)),
			"Content-Type", "application/json"))
		require.Equal(t, 201, resp.StatusCode, "the page carries a valid token: %s", testenv.ReadBody(t, resp))
	}
}

func TestAssetEncodings(t *testing.T) {
	e := newPerfEnv(t)
	w, err := widget.New(widget.Options{BaseURL: testenv.BaseURL})
	require.NoError(t, err)
	for _, a := range w.Assets() {
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
			assert.Equal(t, a.Body, testenv.Gunzip(t, b))

			r, _ = e.get(p, "Accept-Encoding", "br", "If-None-Match", strings.TrimSuffix(a.ETag, `"`)+`-br"`)
			assert.Equal(t, 304, r.StatusCode)
		}
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
	tok := e.RenderToken(e.form.Key)
	const n = 120
	type answer struct {
		status int
		res    struct {
			ID            int64 `json:"id"`
			WithdrawLinks []struct {
				URL string `json:"url"`
			} `json:"withdraw_links"`
		}
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := testenv.Request("POST", "/f/"+e.form.Key,
				bytes.NewReader(e.submitJSON(tok, fmt.Sprintf("v%d@example.com", i), i%4 != 0)), "Content-Type", "application/json")
			resp, err := e.App().Test(req, -1)
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
		sub, err := e.DB.FindSubmission(ctx, a.res.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{fmt.Sprintf("v%d@example.com", i)}, sub.Values["email"])
		require.Len(t, a.res.WithdrawLinks, 1)
		// The link leads to the entry given with this submission.
		path := strings.TrimPrefix(a.res.WithdrawLinks[0].URL, testenv.BaseURL)
		_, page := e.Get(path, "Accept", "application/json")
		rid := int64(testenv.JSON(t, page)["record_id"].(float64))
		rec, err := e.DB.FindRecord(ctx, rid)
		require.NoError(t, err)
		assert.Equal(t, a.res.ID, rec.SubmissionID)
		assert.Equal(t, e.consent.ID, rec.ConsentID)
		assert.Equal(t, fmt.Sprintf("v%d@example.com", i), rec.Subject)
	}
	recs, err := e.DB.ListRecords(ctx, formbuilder.RecordFilter{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, recs, stored, "no consent entry without an acknowledged submission")
	vr, err := e.DB.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
}

// benchGet runs the app's handler in-process on a reused fasthttp context,
// so the benchmark sees the route's own cost and allocations.
func benchGet(b *testing.B, e *perfEnv, uri string, hdr ...string) {
	h := e.App().Handler()
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

// BenchmarkSubmit is the whole POST, storage included (group commit with
// fsync per batch; run with -cpu to vary concurrency).
func BenchmarkSubmit(b *testing.B) {
	e := newPerfEnv(b)
	tok := e.RenderToken(e.form.Key)
	body := e.submitJSON(tok, "erika@example.com", true)
	h := e.App().Handler()
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

// BenchmarkAdminRender renders an admin page (the form list with 20 forms)
// through the Views engine, 8 requests at a time on 2 CPUs: pages compose
// head and foot with {{template}} and pass no layout, so html/v2's
// engine-wide layout lock is never taken and renders run side by side.
func BenchmarkAdminRender(b *testing.B) {
	e := newPerfEnv(b)
	for i := range 20 {
		e.SeedForm(&formbuilder.Form{Name: fmt.Sprintf("Form %d", i),
			Fields: []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail}}})
	}
	e.Login()
	cookie := "cf_session=" + e.Jar["cf_session"]
	h := e.App().Handler()
	b.ReportAllocs()
	b.SetParallelism(8 / max(1, runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI("/admin/forms")
			ctx.Request.Header.SetHost(testenv.Host)
			ctx.Request.Header.Set("Cookie", cookie)
			h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Errorf("status %d", ctx.Response.StatusCode())
				return
			}
		}
	})
}
