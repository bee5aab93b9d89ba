package web_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// BenchmarkLogPagesHTTP measures the consent log pages through the whole
// app (session check, queries, template): the admin list's first page, a
// filtered and a deep page, and the API's first page. It runs on a log of
// 1,000 submissions and, when CF_BENCH_DB names a copy of the
// 1M-entry log that storage's BenchmarkLogPages writes with
// CF_BENCH_DB_OUT, on that too. The copy gets a user, a session and a
// token added.
func BenchmarkLogPagesHTTP(b *testing.B) {
	testdb.SQLiteOnly(b, "runs on a SQLite file (CF_BENCH_DB), opened here")
	dbs := map[string]string{"1k": ""}
	if p := os.Getenv("CF_BENCH_DB"); p != "" {
		dbs["1M"] = p
	}
	for name, path := range dbs {
		b.Run("log="+name, func(b *testing.B) {
			var db *sqlite.DB
			var err error
			if path == "" {
				db, err = sqlite.Open(b.TempDir() + "/bench.db")
				require.NoError(b, err)
				seedBenchLog(b, db, 1000)
			} else {
				db, err = sqlite.Open(path)
				require.NoError(b, err)
			}
			defer db.Close()
			srv, cookie, token := benchServer(b, db)
			recs, err := db.ListRecords(context.Background(), formbuilder.RecordFilter{Limit: 1})
			require.NoError(b, err)
			newest := recs[0]
			paths := []struct{ name, path string }{
				{"admin_first_page", "/admin/log"},
				{"admin_consent", "/admin/log?consent_id=" + strconv.FormatInt(newest.ConsentID, 10)},
				{"admin_form+since", "/admin/log?form_id=" + strconv.FormatInt(newest.FormID, 10) + "&since=2026-03-05"},
				{"admin_deep_page", "/admin/log?before=" + strconv.FormatInt(newest.ID/2, 10)},
				{"api_first_page", "/api/v1/consent-records"},
			}
			for _, p := range paths {
				b.Run(p.name, func(b *testing.B) {
					for b.Loop() {
						req := httptest.NewRequest("GET", p.path, nil)
						req.Host = "forms.test"
						req.AddCookie(&http.Cookie{Name: "cf_session", Value: cookie})
						req.Header.Set("Authorization", "Bearer "+token)
						resp, err := srv.App().Test(req, -1)
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							b.Fatalf("%s: %d", p.path, resp.StatusCode)
						}
					}
				})
			}
		})
	}
}

// seedBenchLog writes n consents given through one form, through the
// real submission path.
func seedBenchLog(b *testing.B, db *sqlite.DB, n int) {
	ctx := context.Background()
	c := formbuilder.ConsentContent{Text: "<p>Text.</p>", Label: "I %agree%.", Language: "en"}
	co := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(b, db.CreateConsent(ctx, co, c, "bench"))
	f := &formbuilder.Form{Name: "Contact", Language: "en",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: co.ID, Required: true}}}
	require.NoError(b, db.CreateForm(ctx, f))
	f, err := db.FindFormByID(ctx, f.ID)
	require.NoError(b, err)
	for i := 0; i < n; i++ {
		sub, recs, err := formbuilder.ValidateSubmission(f, formbuilder.SubmissionInput{
			Values:   map[string][]string{"email": {"v" + strconv.Itoa(i) + "@example.com"}},
			Consents: map[int64]formbuilder.ConsentInput{co.ID: {Checked: true, Touched: formbuilder.TouchChanged}},
			IP:       "203.0.113." + strconv.Itoa(i%250),
		})
		require.NoError(b, err)
		require.NoError(b, db.CreateSubmission(ctx, sub, recs))
	}
}

// benchServer builds the app on db and adds a user with a session and an
// API token.
func benchServer(b *testing.B, db *sqlite.DB) (*web.Server, string, string) {
	ctx := context.Background()
	u := &formbuilder.User{Email: "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "@example.com"}
	require.NoError(b, db.CreateUser(ctx, u))
	raw := make([]byte, 32)
	raw[0] = byte(time.Now().UnixNano())
	cookie := base64.RawURLEncoding.EncodeToString(raw)
	now := time.Now().UTC()
	require.NoError(b, db.CreateSession(ctx, &formbuilder.Session{ID: testenv.SHA256Hex(cookie), UserID: u.ID, CSRF: "x",
		CreatedAt: now, LastSeen: now}))
	token, hash := formbuilder.NewAPIToken()
	require.NoError(b, db.CreateToken(ctx, &formbuilder.APIToken{Name: "bench", Hash: hash, UserID: u.ID}))
	srv, err := web.New(web.Config{
		BaseURL: "http://forms.test",
		Secret:  []byte("0123456789abcdef0123456789abcdef-bench"),
		Keys:    testenv.NewKeys(b),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, web.Services{Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db, Audit: db, Changes: db})
	require.NoError(b, err)
	return srv, cookie, token
}
