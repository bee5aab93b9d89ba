// Package testenv is the one test environment of the web app: the real
// Fiber app on a fresh, migrated database in t.TempDir(), a settable clock,
// an admin user, and a browser-like client (cookie jar, the headers a
// same-origin page sends, sign-in, CSRF, bearer tokens). Tests of every
// audience (web/public, web/chat, web/admin, web/api) and of the assembled
// app build on it instead of wiring their own server and database.
//
// The database is of the backend under test (internal/testdb): a package
// whose TestMain calls testdb.Main runs every test on SQLite and on
// PostgreSQL. Peer builds a second server on the same database, for what
// must hold across servers.
//
// It lives outside web/ because it imports the storage implementations,
// which nothing under web/ may.
package testenv

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/password"
	"github.com/consentforms/consentforms/web"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
)

// The app's address in tests: requests are sent to Host so that the Host
// header and the Origin of same-origin posts agree with BaseURL.
const (
	Host    = "cf.example"
	BaseURL = "http://" + Host
	// AdminEmail and AdminPassword sign in the admin every env has.
	AdminEmail    = "ada@example.com"
	AdminPassword = "correct horse battery"
)

// Secret signs render tokens and links in tests.
var Secret = []byte("0123456789abcdef0123456789abcdef-test-secret")

// Start is where every env's clock starts.
var Start = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// KeysFrom is when the test signing keys start to sign: before any clock
// of a test, the real one included.
var KeysFrom = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// NewKeys returns a ring with a new signing key that signs from KeysFrom
// on, as a server's key file would hold.
func NewKeys(t testing.TB) *formbuilder.KeyRing {
	t.Helper()
	ks, err := formbuilder.NewKeySet(KeysFrom)
	require.NoError(t, err)
	return formbuilder.NewKeyRing(ks)
}

// Clock is a settable clock shared by the app and the test. With a step,
// every reading moves it on by that much (spreading stored times).
type Clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

// NewClock returns a clock standing at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// NewSteppingClock returns a clock that starts at t and moves on by step at
// every reading.
func NewSteppingClock(t time.Time, step time.Duration) *Clock { return &Clock{t: t, step: step} }

// Now reads the clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// setup collects the options of New.
type setup struct {
	cfg          func(*web.Config)
	svc          func(*web.Services)
	storageClock func() time.Time
}

// Option changes how New builds the env.
type Option func(*setup)

// WithConfig changes the app's configuration before it is built.
func WithConfig(f func(*web.Config)) Option {
	return func(s *setup) {
		prev := s.cfg
		s.cfg = func(c *web.Config) {
			if prev != nil {
				prev(c)
			}
			f(c)
		}
	}
}

// WithServices changes which services the app gets (all by default), for
// tests of an app built without some of them.
func WithServices(f func(*web.Services)) Option { return func(s *setup) { s.svc = f } }

// WithStorageClock gives storage a clock of its own (the env's by default).
func WithStorageClock(now func() time.Time) Option { return func(s *setup) { s.storageClock = now } }

// Env is the app under test with its database and a client.
type Env struct {
	T testing.TB
	// DB is the app's storage; Database the database it opened, for Raw
	// rows and second handles.
	DB       testdb.Store
	Database *testdb.DB
	Srv      *web.Server
	Clock    *Clock
	Cfg      web.Config
	// Admin is a user with AdminEmail and AdminPassword.
	Admin *formbuilder.User
	// Jar holds the cookies the app set, sent with every request of Do.
	Jar map[string]string
	// IP, when set, is sent as X-Forwarded-For; the env trusts the test
	// connection's peer (0.0.0.0) as a proxy.
	IP string

	svc          func(*web.Services)
	storageClock func() time.Time
}

var (
	adminHashOnce sync.Once
	adminHash     string
)

// New builds the app on a fresh database with every service, rate limits
// off (tests of limits set their own) and MinFillTime zero.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	var st setup
	for _, o := range opts {
		o(&st)
	}
	e := &Env{T: t, Clock: NewClock(Start), Jar: map[string]string{}}
	now := st.storageClock
	if now == nil {
		now = e.Clock.Now
	}
	e.storageClock = now
	e.Database = testdb.Open(t, testdb.Options{Clock: now})
	db := e.Database.Store
	e.DB = db
	var err error
	adminHashOnce.Do(func() {
		// argon2 costs tens of milliseconds: once per test binary.
		adminHash, err = password.Hash(AdminPassword)
	})
	require.NoError(t, err)
	e.Admin = &formbuilder.User{Email: AdminEmail, Name: "Ada Admin", PasswordHash: adminHash}
	require.NoError(t, db.CreateUser(context.Background(), e.Admin))

	e.Cfg = web.Config{
		BaseURL: BaseURL,
		Secret:  Secret,
		Keys:    NewKeys(t),
		Now:     e.Clock.Now,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		// app.Test connections come from 0.0.0.0: trusting it as a proxy
		// lets a test choose the client IP with X-Forwarded-For.
		TrustedProxies: []string{"0.0.0.0/32"},
		RateIP:         -1, RateForm: -1, RateIPForm: -1, RateChatIP: -1, RateChatChannel: -1,
	}
	if st.cfg != nil {
		st.cfg(&e.Cfg)
	}
	e.svc = st.svc
	e.Srv = e.newServer(db)
	return e
}

// newServer builds the app on db with the env's configuration and
// services.
func (e *Env) newServer(db testdb.Store) *web.Server {
	e.T.Helper()
	svc := Services(db)
	if e.svc != nil {
		e.svc(&svc)
	}
	srv, err := web.New(e.Cfg, svc)
	require.NoError(e.T, err)
	e.T.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv
}

// Peer is a second server on the env's database, as another process
// behind the same load balancer would be: its own storage handle, app,
// caches and streams, the same configuration and clock. It starts with the
// env's cookies (sessions live in the database).
func (e *Env) Peer() *Env {
	e.T.Helper()
	p := *e
	p.DB = e.Database.Reopen(testdb.Options{Clock: e.storageClock})
	p.Srv = e.newServer(p.DB)
	p.Jar = maps.Clone(e.Jar)
	return &p
}

// Services wires every service of db.
func Services(db testdb.Store) web.Services {
	return web.Services{Forms: db, Consents: db, Documents: db, Submissions: db, Log: db, Users: db, Sessions: db,
		Tokens: db, Settings: db, Chat: db, Inbox: db, Outbox: db, Audit: db, Changes: db}
}

// App is the Fiber app.
func (e *Env) App() *fiber.App { return e.Srv.App() }

// Do sends req to the app at Host with the jar's cookies (and IP as
// X-Forwarded-For) and keeps the cookies it gets back.
func (e *Env) Do(req *http.Request) *http.Response {
	e.T.Helper()
	if req.Host == "" || req.Host == "example.com" {
		req.Host = Host
	}
	if e.IP != "" && req.Header.Get("X-Forwarded-For") == "" {
		req.Header.Set("X-Forwarded-For", e.IP)
	}
	for k, v := range e.Jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	resp, err := e.App().Test(req, -1)
	require.NoError(e.T, err)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || ck.Value == "" {
			delete(e.Jar, ck.Name)
		} else {
			e.Jar[ck.Name] = ck.Value
		}
	}
	return resp
}

// Request builds a request with headers given as name, value pairs.
func Request(method, path string, body io.Reader, hdr ...string) *http.Request {
	req := httptest.NewRequest(method, path, body)
	req.Host = Host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

// Get fetches path (headers as pairs) and returns the answer and its body.
func (e *Env) Get(path string, hdr ...string) (*http.Response, string) {
	e.T.Helper()
	resp := e.Do(Request(http.MethodGet, path, nil, hdr...))
	return resp, ReadBody(e.T, resp)
}

// PostRaw posts vals url-encoded with the given headers (pairs).
func (e *Env) PostRaw(path string, vals url.Values, hdr ...string) (*http.Response, string) {
	e.T.Helper()
	req := Request(http.MethodPost, path, strings.NewReader(vals.Encode()), hdr...)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp := e.Do(req)
	return resp, ReadBody(e.T, resp)
}

// SameOrigin are the headers a browser sends with a post from our pages.
var SameOrigin = []string{"Origin", BaseURL, "Sec-Fetch-Site", "same-origin"}

// Post posts vals like a browser on an admin page: same-origin headers and
// the session's CSRF token (unless vals has one).
func (e *Env) Post(path string, vals url.Values) (*http.Response, string) {
	e.T.Helper()
	if vals == nil {
		vals = url.Values{}
	}
	if _, ok := vals["_csrf"]; !ok {
		vals.Set("_csrf", e.CSRF())
	}
	return e.PostRaw(path, vals, SameOrigin...)
}

// File is a file part of a multipart post.
type File struct {
	Field, Name string
	Data        []byte
}

// Multipart encodes vals and files as a multipart/form-data body, the way
// a browser sends a form with a file input, and returns it with its
// Content-Type.
func Multipart(vals url.Values, files ...File) (body []byte, contentType string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, vs := range vals {
		for _, v := range vs {
			_ = w.WriteField(k, v)
		}
	}
	for _, f := range files {
		part, _ := w.CreateFormFile(f.Field, f.Name)
		_, _ = part.Write(f.Data)
	}
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// PostMultipart posts vals and files as multipart/form-data like a browser
// on an admin page: same-origin headers and the session's CSRF token in
// the body (unless vals has one).
func (e *Env) PostMultipart(path string, vals url.Values, files ...File) (*http.Response, string) {
	e.T.Helper()
	if vals == nil {
		vals = url.Values{}
	}
	if _, ok := vals["_csrf"]; !ok {
		vals.Set("_csrf", e.CSRF())
	}
	body, ct := Multipart(vals, files...)
	req := Request(http.MethodPost, path, bytes.NewReader(body), SameOrigin...)
	req.Header.Set("Content-Type", ct)
	resp := e.Do(req)
	return resp, ReadBody(e.T, resp)
}

var (
	csrfMetaRE  = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
	csrfInputRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
)

// CSRF returns the session's CSRF token as the admin pages carry it.
func (e *Env) CSRF() string {
	e.T.Helper()
	resp, body := e.Get("/admin/account") // every role may open it
	require.Equal(e.T, 200, resp.StatusCode, "signed in")
	m := csrfMetaRE.FindStringSubmatch(body)
	require.NotNil(e.T, m, "page has a csrf meta tag")
	return m[1]
}

// LoginAttempt loads the sign-in page (for its token and cookie) and posts
// the credentials.
func (e *Env) LoginAttempt(email, pw string) (*http.Response, string) {
	e.T.Helper()
	resp, body := e.Get("/admin/login")
	require.Equal(e.T, 200, resp.StatusCode)
	m := csrfInputRE.FindStringSubmatch(body)
	require.NotNil(e.T, m)
	return e.PostRaw("/admin/login", url.Values{"email": {email}, "password": {pw}, "_csrf": {m[1]}}, SameOrigin...)
}

// Login signs the admin in and checks it worked.
func (e *Env) Login() {
	e.T.Helper()
	e.LoginAs(AdminEmail)
}

// LoginAs signs in the user with email (and AdminPassword, which AddUser
// gives every user) in a fresh cookie jar, and checks it worked.
func (e *Env) LoginAs(email string) {
	e.T.Helper()
	e.Jar = map[string]string{}
	resp, _ := e.LoginAttempt(email, AdminPassword)
	require.Equal(e.T, http.StatusSeeOther, resp.StatusCode, "sign-in of %s", email)
	require.NotEmpty(e.T, e.Jar["cf_session"])
}

// AddUser stores a user with role and the password AdminPassword.
func (e *Env) AddUser(email, name, role string) *formbuilder.User {
	e.T.Helper()
	u := &formbuilder.User{Email: email, Name: name, Role: role, PasswordHash: adminHash}
	require.NoError(e.T, e.DB.CreateUser(context.Background(), u))
	return u
}

// Audit returns the audit trail, newest first.
func (e *Env) Audit() []*formbuilder.AuditEvent {
	e.T.Helper()
	evs, err := e.DB.ListAudit(context.Background(), formbuilder.AuditFilter{Limit: formbuilder.MaxPageSize})
	require.NoError(e.T, err)
	return evs
}

// SeedConsent stores a custom consent in English directly.
func (e *Env) SeedConsent(name, text, label string) *formbuilder.Consent {
	e.T.Helper()
	return e.SeedConsentContent(name, formbuilder.ConsentContent{Text: text, Label: label, Language: "en"})
}

// SeedConsentContent stores a custom consent with content directly.
func (e *Env) SeedConsentContent(name string, content formbuilder.ConsentContent) *formbuilder.Consent {
	e.T.Helper()
	co := &formbuilder.Consent{Name: name, Type: formbuilder.ConsentCustom}
	content.Sanitize()
	require.NoError(e.T, content.Validate())
	require.NoError(e.T, e.DB.CreateConsent(context.Background(), co, content, "seed"))
	return co
}

// SeedForm stores a form directly (in English unless it says otherwise)
// and returns it as storage reads it back.
func (e *Env) SeedForm(f *formbuilder.Form) *formbuilder.Form {
	e.T.Helper()
	if f.Language == "" {
		f.Language = "en"
	}
	require.NoError(e.T, e.DB.CreateForm(context.Background(), f))
	return e.Form(f.ID)
}

// Form reads form id from storage.
func (e *Env) Form(id int64) *formbuilder.Form {
	e.T.Helper()
	f, err := e.DB.FindFormByID(context.Background(), id)
	require.NoError(e.T, err)
	return f
}

// APIToken creates a read-write API token of the env's admin the way
// `consentforms token create` does and returns it.
func (e *Env) APIToken(name string) string {
	e.T.Helper()
	return e.TokenOf(e.Admin, name, formbuilder.ScopeWrite)
}

// TokenOf creates an API token of user u with scope and returns it.
func (e *Env) TokenOf(u *formbuilder.User, name, scope string) string {
	e.T.Helper()
	plain, hash := formbuilder.NewAPIToken()
	tok := &formbuilder.APIToken{Name: name, Hash: hash, UserID: u.ID, Scope: scope}
	require.NoError(e.T, e.DB.CreateToken(context.Background(), tok))
	return plain
}

// API sends a JSON request with the bearer token (empty: none), without
// the jar's cookies, and checks that the answer sets none.
func (e *Env) API(method, path, token, body string) (*http.Response, string) {
	e.T.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := Request(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.App().Test(req, -1)
	require.NoError(e.T, err)
	require.Empty(e.T, resp.Header.Values("Set-Cookie"), "the API never sets cookies")
	return resp, ReadBody(e.T, resp)
}

var tokenRE = regexp.MustCompile(`name="_token" value="([^"]+)"`)

// RenderToken loads form key's page and returns its render token, then
// moves the clock past the minimum fill time so the token is good to send.
func (e *Env) RenderToken(key string) string {
	e.T.Helper()
	tok := e.RenderTokenNow(key)
	e.Clock.Add(e.Cfg.MinFillTime + time.Second)
	return tok
}

// RenderTokenNow returns a fresh render token without moving the clock.
func (e *Env) RenderTokenNow(key string) string {
	e.T.Helper()
	resp, body := e.Get("/f/" + key)
	require.Equal(e.T, 200, resp.StatusCode, body)
	m := tokenRE.FindStringSubmatch(body)
	require.NotNil(e.T, m, "form page has a render token")
	return m[1]
}

// Listen serves the app on a real loopback listener, for tests that need
// real connections, and shuts it down when the test ends.
func (e *Env) Listen() string {
	e.T.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(e.T, err)
	go func() { _ = e.Srv.Listener(ln) }()
	e.T.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// Raw is a plain read-write connection to the database, to look at rows
// the way an auditor with the database would, or change them as someone
// with the file (or a tool beside the app) could; queries use $1, $2, …
// placeholders.
func (e *Env) Raw() *sql.DB {
	e.T.Helper()
	return e.Database.Raw()
}

// Count returns the number of rows of table.
func (e *Env) Count(table string) int {
	e.T.Helper()
	var n int
	require.NoError(e.T, e.Raw().QueryRow("SELECT count(*) FROM "+table).Scan(&n))
	return n
}

// RequireNothingStored fails when any submission or consent entry exists.
func (e *Env) RequireNothingStored(msgAndArgs ...any) {
	e.T.Helper()
	require.Zero(e.T, e.Count("submissions"), msgAndArgs...)
	require.Zero(e.T, e.Count("consent_records"), msgAndArgs...)
}

// ReadBody reads and closes the body of resp.
func ReadBody(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return string(b)
}

// ErrorBody is the JSON shape of an error answer.
type ErrorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields"`
	} `json:"error"`
}

// DecodeError decodes an error answer.
func DecodeError(t testing.TB, body string) ErrorBody {
	t.Helper()
	var eb ErrorBody
	require.NoError(t, json.Unmarshal([]byte(body), &eb), "body: %s", body)
	return eb
}

// JSON decodes a JSON object answer.
func JSON(t testing.TB, body string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	return m
}

// Location returns the redirect target of resp, which must have status.
func Location(t testing.TB, resp *http.Response, status int) string {
	t.Helper()
	require.Equal(t, status, resp.StatusCode)
	return resp.Header.Get("Location")
}

var pageErrorRE = regexp.MustCompile(`(?s)id="page-error">(.*?)</div>`)

// PageError returns the page-wide error message of an admin page.
func PageError(body string) string {
	m := pageErrorRE.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// FieldError returns the message an admin page shows next to input id.
func FieldError(body, id string) string {
	re := regexp.MustCompile(`(?s)<p class="field-error" id="` + regexp.QuoteMeta(id) +
		`-error"><span class="visually-hidden">Error:</span> (.*?)</p>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(strings.TrimSpace(m[1]))
}

// Find returns the first group of pattern in s, failing when absent.
func Find(t testing.TB, s, pattern string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	require.NotNil(t, m, "no match for %s", pattern)
	return m[1]
}

// SHA256Hex is the hex SHA-256 of s: how storage keys sessions and tokens.
func SHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// Gunzip decodes one gzip member and fails unless it is exactly one, with
// a good CRC-32 and length.
func Gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	// One member only: a second would mean a body of two streams.
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	require.NoError(t, err, "the gzip body decodes and its CRC-32 and length check out")
	rest, _ := io.ReadAll(zr)
	require.Empty(t, rest)
	return out
}
