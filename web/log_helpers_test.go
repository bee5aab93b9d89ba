package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// logClock is the storage clock of the log tests: every reading is seven
// hours after the one before, so entries spread over days and date filters
// have something to cut.
type logClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *logClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(7 * time.Hour)
	return c.t
}

// logEnv is the app on a fresh database file with a signed-in admin
// session, an API token, two consents and two forms: A asks for both
// consents (Privacy pre-ticked), B for Newsletter only.
type logEnv struct {
	t        *testing.T
	db       *sqlite.DB
	srv      *web.Server
	cookie   string
	token    string
	user     *formbuilder.User
	privacy  *formbuilder.Consent
	news     *formbuilder.Consent
	formA    *formbuilder.Form
	formB    *formbuilder.Form
	secret   []byte
	nSubmits int
}

func newLogEnv(t *testing.T) *logEnv {
	t.Helper()
	clock := &logClock{t: time.Date(2026, 2, 28, 23, 30, 0, 0, time.UTC)}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "log.db"), sqlite.WithClock(clock.Now))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	e := &logEnv{t: t, db: db, secret: []byte("0123456789abcdef0123456789abcdef-consent-log")}

	e.user = &formbuilder.User{Email: "olga@example.com", Name: "=Olga Owner"}
	require.NoError(t, db.CreateUser(ctx, e.user))
	e.privacy = e.consent("Privacy", formbuilder.ConsentContent{Language: "en",
		Text:  `<p>We process your data for <b>answering</b> you. <a href="https://example.com/privacy">Details</a></p>`,
		Label: "I agree to the %privacy terms%."})
	e.news = e.consent("@Newsletter, monthly", formbuilder.ConsentContent{Language: "en",
		Text: "<p>Monthly news by e-mail.</p>", Label: "Send me the %newsletter%."})
	e.formA = &formbuilder.Form{
		Name: "Contact A", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		Consents: []formbuilder.FormConsent{
			{ConsentID: e.privacy.ID, CheckedByDefault: true, Required: true},
			{ConsentID: e.news.ID},
		},
		ResponsibleUserID: e.user.ID,
	}
	require.NoError(t, db.CreateForm(ctx, e.formA))
	e.formB = &formbuilder.Form{
		Name: "-Shop, \"B\"", Language: "en",
		Fields:   []formbuilder.Field{{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.news.ID, Required: true}},
	}
	require.NoError(t, db.CreateForm(ctx, e.formB))
	e.formA = e.form(e.formA.ID)
	e.formB = e.form(e.formB.ID)

	e.srv, err = web.New(web.Config{
		BaseURL: "http://forms.test",
		Secret:  e.secret,
		RateIP:  -1, RateForm: -1, RateIPForm: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, web.Services{
		Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db,
	})
	require.NoError(t, err)

	// A session made the way startSession makes one (a random token whose
	// SHA-256 is the id), without going through the sign-in page.
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i*7 + 3)
	}
	e.cookie = base64.RawURLEncoding.EncodeToString(raw)
	now := time.Now().UTC()
	require.NoError(t, db.CreateSession(ctx, &formbuilder.Session{ID: logSHA(e.cookie), UserID: e.user.ID,
		CSRF: "csrf-token-of-the-log-tests", CreatedAt: now, LastSeen: now}))
	e.token = "cf_" + formbuilder.RandomKey(20)
	require.NoError(t, db.CreateToken(ctx, &formbuilder.APIToken{Name: "log-tests", Hash: logSHA(e.token)}))
	return e
}

func logSHA(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (e *logEnv) consent(name string, c formbuilder.ConsentContent) *formbuilder.Consent {
	e.t.Helper()
	c.Sanitize()
	co := &formbuilder.Consent{Name: name, Type: formbuilder.ConsentCustom}
	require.NoError(e.t, e.db.CreateConsent(context.Background(), co, c, "olga"))
	return co
}

func (e *logEnv) form(id int64) *formbuilder.Form {
	e.t.Helper()
	f, err := e.db.FindFormByID(context.Background(), id)
	require.NoError(e.t, err)
	return f
}

// logSubmit is one submission of the test log.
type logSubmit struct {
	form                *formbuilder.Form
	subject             string // e-mail for A, phone for B
	ip, ua, page        string
	initial, interacted bool
	news                bool // tick the optional newsletter on A
}

// submit stores s through the real submission path: ValidateSubmission,
// then CreateSubmission, which appends the consent records.
func (e *logEnv) submit(s logSubmit) []*formbuilder.ConsentRecord {
	e.t.Helper()
	e.nSubmits++
	in := formbuilder.SubmissionInput{
		Values:    map[string][]string{},
		Consents:  map[int64]formbuilder.ConsentInput{},
		PageURL:   s.page,
		IP:        s.ip,
		UserAgent: s.ua,
	}
	ci := formbuilder.ConsentInput{Checked: true, Initial: s.initial, Interacted: s.interacted}
	if s.form.ID == e.formA.ID {
		in.Values["email"] = []string{s.subject}
		in.Values["message"] = []string{"hello"}
		in.Consents[e.privacy.ID] = ci
		if s.news {
			in.Consents[e.news.ID] = formbuilder.ConsentInput{Checked: true, Interacted: true}
		}
	} else {
		in.Values["phone"] = []string{s.subject}
		in.Consents[e.news.ID] = ci
	}
	sub, recs, err := formbuilder.ValidateSubmission(s.form, in)
	require.NoError(e.t, err, "submission %d", e.nSubmits)
	require.NoError(e.t, e.db.CreateSubmission(context.Background(), sub, recs))
	return recs
}

// seed writes a varied log: formula-like and non-ASCII subjects, user
// agents with commas, quotes and line breaks, IPv4 and IPv6 addresses,
// pre-ticked untouched and actively ticked boxes, both forms, and one
// withdrawal. It returns the log as ListRecords sees it, oldest first.
func (e *logEnv) seed() []*formbuilder.ConsentRecord {
	e.t.Helper()
	subs := []logSubmit{
		{form: e.formA, subject: "=HYPERLINK@example.com", ip: "203.0.113.7", ua: `=HYPERLINK("http://evil.example","x")`, page: "https://shop.example/contact", initial: true},
		{form: e.formA, subject: "+1@example.com", ip: "203.0.113.8", ua: "Mozilla/5.0, \"quoted\"\nsecond line", page: "https://shop.example/a?x=1,2", interacted: true, news: true},
		{form: e.formB, subject: "+49 30 1234567", ip: "2001:db8::1", ua: "@SUM(A1:A2)", page: "https://shop.example/b", initial: true, interacted: true},
		{form: e.formA, subject: "-2@example.com", ip: "198.51.100.1", ua: "-cmd|' /C calc'!A0", initial: true},
		{form: e.formA, subject: "jürgen.müller@exämple.com", ip: "203.0.113.7", ua: "Agent\twith tab, ünïcödé 日本語", page: "https://shop.example/ä", interacted: true, news: true},
		{form: e.formB, subject: "(030) 1234567", ip: "198.51.100.2", ua: "'apostrophe", interacted: true},
		{form: e.formA, subject: "'quote@example.com", ip: "203.0.113.9", ua: "plain", initial: true},
		{form: e.formA, subject: "plain@example.com", ip: "203.0.113.10", ua: "\rcarriage", interacted: true},
	}
	var first []*formbuilder.ConsentRecord
	for _, s := range subs {
		recs := e.submit(s)
		if first == nil {
			first = recs
		}
	}
	_, err := e.db.Withdraw(context.Background(), first[0].ID, "192.0.2.50", "withdrawing agent")
	require.NoError(e.t, err)
	return e.all()
}

// all returns the whole log oldest first, read with ListRecords pages.
func (e *logEnv) all() []*formbuilder.ConsentRecord {
	e.t.Helper()
	var out []*formbuilder.ConsentRecord
	f := formbuilder.RecordFilter{Limit: formbuilder.MaxPageSize}
	for {
		page, err := e.db.ListRecords(context.Background(), f)
		require.NoError(e.t, err)
		out = append(out, page...)
		if len(page) < f.Limit {
			break
		}
		f.BeforeID = page[len(page)-1].ID
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// do sends req through the app.
func (e *logEnv) do(req *http.Request) *http.Response {
	e.t.Helper()
	resp, err := e.srv.App().Test(req, -1)
	require.NoError(e.t, err)
	return resp
}

func (e *logEnv) body(resp *http.Response) string {
	e.t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	resp.Body.Close()
	return string(b)
}

// admin sends method path with the session cookie.
func (e *logEnv) admin(method, path string) (*http.Response, string) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = "forms.test"
	req.AddCookie(&http.Cookie{Name: "cf_session", Value: e.cookie})
	resp := e.do(req)
	return resp, e.body(resp)
}

// api sends method path with the bearer token.
func (e *logEnv) api(method, path string) (*http.Response, string) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = "forms.test"
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp := e.do(req)
	return resp, e.body(resp)
}

func (e *logEnv) verifyOK() {
	e.t.Helper()
	res, err := e.db.Verify(context.Background())
	require.NoError(e.t, err)
	require.True(e.t, res.OK(), "%+v", res)
}

func idsOf(recs []*formbuilder.ConsentRecord) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func entryID(id int64) string { return fmt.Sprintf(`id="entry-%d"`, id) }
