package web_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
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

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// hardClock is a settable clock shared by the app (render tokens, rate
// limits) and the test.
type hardClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *hardClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *hardClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hardEnv is an app on a fresh, migrated database file with two forms:
// A (name, email, message; one required consent) and B (email; the same
// consent), and A allowing only https://shop.example.
type hardEnv struct {
	t   testing.TB
	db  *sqlite.DB
	srv *web.Server
	app interface {
		Test(*http.Request, ...int) (*http.Response, error)
	}
	clock   *hardClock
	formA   *formbuilder.Form
	formB   *formbuilder.Form
	consent *formbuilder.Consent
}

// hardSecret signs render tokens in these tests.
var hardSecret = []byte("0123456789abcdef0123456789abcdef-hardening")

// newHardEnv builds the app; mod may change the config (limits, proxies).
func newHardEnv(t testing.TB, mod func(*web.Config)) *hardEnv {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "hard.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	e := &hardEnv{t: t, db: db, clock: &hardClock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}}

	u := &formbuilder.User{Email: "owner@example.com", Name: "Olga Owner"}
	require.NoError(t, db.CreateUser(ctx, u))
	e.consent = &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Text: "<p>We process your data.</p>", Label: "I agree to the %privacy terms%.", Language: "en"}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, e.consent, content, "olga"))
	e.formA = &formbuilder.Form{
		Name: "Contact A", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		Consents:          []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
		AllowedOrigins:    []string{"https://shop.example"},
		ResponsibleUserID: u.ID,
	}
	require.NoError(t, db.CreateForm(ctx, e.formA))
	e.formB = &formbuilder.Form{
		Name: "Contact B", Language: "en",
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
	}
	require.NoError(t, db.CreateForm(ctx, e.formB))

	cfg := web.Config{
		BaseURL:     "http://forms.test",
		Secret:      hardSecret,
		MinFillTime: 2 * time.Second,
		Now:         e.clock.Now,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		// Tests post far more than a visitor would; those about limits set
		// their own.
		RateIP: -1, RateForm: -1, RateIPForm: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.srv, err = web.New(cfg, web.Services{
		Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db,
	})
	require.NoError(t, err)
	e.app = e.srv.App()
	return e
}

var hardTokenRE = regexp.MustCompile(`name="_token" value="([^"]+)"`)

// token renders form key's page and returns its render token, then moves
// the clock past MinFillTime so the token is good to send.
func (e *hardEnv) token(key string) string {
	e.t.Helper()
	tok := e.tokenNow(key)
	e.clock.Add(3 * time.Second)
	return tok
}

// tokenNow returns a fresh render token without moving the clock.
func (e *hardEnv) tokenNow(key string) string {
	e.t.Helper()
	resp := e.do(httptest.NewRequest("GET", "/f/"+key, nil))
	require.Equal(e.t, 200, resp.StatusCode)
	m := hardTokenRE.FindStringSubmatch(readBody(e.t, resp))
	require.NotNil(e.t, m, "form page has a render token")
	return m[1]
}

// do runs req through the app without a network.
func (e *hardEnv) do(req *http.Request) *http.Response {
	e.t.Helper()
	resp, err := e.app.Test(req, -1)
	require.NoError(e.t, err)
	return resp
}

func readBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return string(b)
}

// validForm returns the url-encoded fields of a good submission of form A.
func (e *hardEnv) validForm(tok, email string) url.Values {
	cid := strconv.FormatInt(e.consent.ID, 10)
	return url.Values{
		"_token": {tok}, "name": {"Erika"}, "email": {email}, "message": {"Hello"},
		"consent_" + cid: {"1"}, "consent_" + cid + "_initial": {"1"},
	}
}

// validJSON returns the JSON body of a good submission of form A.
func (e *hardEnv) validJSON(tok, email string) string {
	b, _ := json.Marshal(map[string]any{
		"token":    tok,
		"values":   map[string]string{"name": "Erika", "email": email, "message": "Hello"},
		"consents": map[string]any{strconv.FormatInt(e.consent.ID, 10): map[string]bool{"checked": true, "initial": true}},
	})
	return string(b)
}

// postForm posts vals url-encoded to /f/key, asking for JSON.
func (e *hardEnv) postForm(key string, vals url.Values, hdr ...string) *http.Response {
	e.t.Helper()
	req := httptest.NewRequest("POST", "/f/"+key, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return e.do(req)
}

// postJSON posts body as JSON to /f/key.
func (e *hardEnv) postJSON(key, body string, hdr ...string) *http.Response {
	e.t.Helper()
	req := httptest.NewRequest("POST", "/f/"+key, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return e.do(req)
}

// raw opens the database file with a plain connection, to count rows the
// way an auditor with the file would.
func (e *hardEnv) raw() *sql.DB {
	e.t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+e.db.Path()+"?_busy_timeout=5000&mode=ro")
	require.NoError(e.t, err)
	e.t.Cleanup(func() { raw.Close() })
	return raw
}

// counts returns the number of submissions and consent records stored.
func (e *hardEnv) counts() (subs, recs int) {
	e.t.Helper()
	raw := e.raw()
	require.NoError(e.t, raw.QueryRow("SELECT count(*) FROM submissions").Scan(&subs))
	require.NoError(e.t, raw.QueryRow("SELECT count(*) FROM consent_records").Scan(&recs))
	return subs, recs
}

// requireNothingStored fails when any submission or record exists.
func (e *hardEnv) requireNothingStored(msgAndArgs ...any) {
	e.t.Helper()
	subs, recs := e.counts()
	require.Zero(e.t, subs, msgAndArgs...)
	require.Zero(e.t, recs, msgAndArgs...)
}

// listen serves the app on a real loopback listener, for tests that need a
// real peer address or real connections.
func (e *hardEnv) listen() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(e.t, err)
	go func() { _ = e.srv.Listener(ln) }()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// errorBody is the JSON shape of an error answer.
type errorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

func decodeError(t testing.TB, body string) errorBody {
	t.Helper()
	var eb errorBody
	require.NoError(t, json.Unmarshal([]byte(body), &eb), "body: %s", body)
	return eb
}
