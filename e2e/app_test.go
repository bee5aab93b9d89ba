package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/web"
	"github.com/stretchr/testify/require"
)

// The consent texts carry sentences found nowhere else on the page, so a test
// can tell whether the text is shown.
const (
	requiredMarker = "Marker sentence: Kestrel Lantern 4711 keeps your enquiry for ninety days."
	optionalMarker = "Newsletter marker: Quokka Compass 2029 sends one letter a month."
	successMessage = "Thank you, we will answer within two days."
)

// app is the consentforms server running in-process on a fresh database,
// plus a plain server on another origin for the host pages.
type app struct {
	db     *sqlite.DB
	dbPath string
	ro     *sql.DB // read-only connection for counting submissions
	base   string  // form server origin, http://127.0.0.1:PORT
	host   string  // host pages origin, http://127.0.0.2:PORT (another site)

	required *formbuilder.Consent // ticked by default, required
	optional *formbuilder.Consent // unticked by default, optional
	form     *formbuilder.Form    // both consents
	other    *formbuilder.Form    // a second form, required consent only
	// redirect is a form like form whose redirect URL is the host's
	// /thanks.html.
	redirect *formbuilder.Form

	// apiToken is a bearer token of the JSON API, for a test that changes
	// what an admin would change while a visitor has the form open.
	apiToken string
	// skew moves the form server's clock (nanoseconds), for tests of what
	// happens when a page grows old.
	skew atomic.Int64

	pages map[string]string    // host pages by path, fixed before serving
	keys  *formbuilder.KeyRing // sign the receipts
	// srv is the form server; it makes the signed links of visitor mails.
	srv *web.Server
}

// newApp starts the form server and the host page server. Every test gets
// its own, so counts start at zero and iframe URLs name one test's server.
func newApp(t *testing.T) *app {
	t.Helper()
	ctx := context.Background()
	a := &app{dbPath: filepath.Join(t.TempDir(), "db"), pages: map[string]string{}}
	db, err := sqlite.Open(a.dbPath)
	require.NoError(t, err)
	a.db = db
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	// 127.0.0.2 is another site than 127.0.0.1 for Chromium, so the form
	// runs in a cross-site iframe, as on a customer's site. Its address is
	// known first: a form redirects there.
	hl, err := net.Listen("tcp", "127.0.0.2:0")
	require.NoError(t, err)
	a.host = "http://" + hl.Addr().String()

	a.required = &formbuilder.Consent{Name: "Privacy (e2e)", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{
		Language: "en",
		Label:    "I agree to the %processing of my data% for this enquiry.",
		Text: "<p>Example Ltd processes the data you enter in this form to answer your enquiry.</p><p>" +
			requiredMarker + "</p><p>You can withdraw this consent at any time.</p>",
	}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, a.required, content, "e2e"))

	a.optional = &formbuilder.Consent{Name: "Newsletter (e2e)", Type: formbuilder.ConsentCustom}
	content = formbuilder.ConsentContent{
		Language: "en",
		Label:    "Send me the %monthly newsletter%.",
		Text:     "<p>" + optionalMarker + "</p>",
	}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, a.optional, content, "e2e"))

	a.form = &formbuilder.Form{
		Name:     "Contact (e2e)",
		Title:    "Contact us",
		Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName, Required: true},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		Consents: []formbuilder.FormConsent{
			{ConsentID: a.required.ID, CheckedByDefault: true, Required: true},
			{ConsentID: a.optional.ID, CheckedByDefault: false, Required: false},
		},
		SuccessMessage: successMessage,
	}
	require.NoError(t, db.CreateForm(ctx, a.form))

	a.other = &formbuilder.Form{
		Name:     "Callback (e2e)",
		Title:    "Request a callback",
		Language: "en",
		Fields: []formbuilder.Field{
			{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone, Required: true},
		},
		Consents: []formbuilder.FormConsent{
			{ConsentID: a.required.ID, CheckedByDefault: true, Required: true},
		},
	}
	require.NoError(t, db.CreateForm(ctx, a.other))

	a.redirect = &formbuilder.Form{
		Name: "Contact with redirect (e2e)", Title: "Contact us", Language: "en",
		Fields:         a.form.Fields,
		Consents:       []formbuilder.FormConsent{{ConsentID: a.required.ID, CheckedByDefault: true, Required: true}},
		SuccessMessage: successMessage,
		RedirectURL:    a.host + "/thanks.html",
	}
	require.NoError(t, db.CreateForm(ctx, a.redirect))

	// The token acts as an admin, who needs no password here.
	owner := &formbuilder.User{Email: "api-e2e@example.com", Role: formbuilder.RoleAdmin}
	require.NoError(t, db.CreateUser(ctx, owner))
	var hash string
	a.apiToken, hash = formbuilder.NewAPIToken()
	require.NoError(t, db.CreateToken(ctx, &formbuilder.APIToken{Name: "e2e", Hash: hash, UserID: owner.ID}))

	a.keys = testenv.NewKeys(t)
	a.srv, a.base = serveServer(t, "127.0.0.1", web.Config{
		Keys: a.keys,
		Now:  func() time.Time { return time.Now().Add(time.Duration(a.skew.Load())) },
	}, web.Services{
		Forms: db, Consents: db, Submissions: db, Log: db,
		Users: db, Sessions: db, Tokens: db, Settings: db, Audit: db, Changes: db, Outbox: db,
	})

	a.ro, err = sql.Open("sqlite3", "file:"+a.dbPath+"?mode=ro&_busy_timeout=5000")
	require.NoError(t, err)
	t.Cleanup(func() { a.ro.Close() })

	a.addHostPages()
	hs := &http.Server{Handler: http.HandlerFunc(a.serveHost), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(hl) }()
	t.Cleanup(func() { _ = hs.Close() })
	return a
}

// hostCSP allows the host page nothing but the form server's scripts and
// frames: no inline script, no style at all. The embed code must work with it.
func (a *app) hostCSP() string {
	return "default-src 'none'; script-src " + a.base + "; frame-src " + a.base + "; style-src 'none'"
}

// embedTag is the code a site owner pastes, with extra attributes.
func (a *app) embedTag(spec, extra string) string {
	return `<script src="` + a.base + `/embed.js" data-consentforms="` + html.EscapeString(spec) + `"` + extra + ` async></script>`
}

func (a *app) addHostPages() {
	key, other := a.form.Key, a.other.Key
	a.pages["/inline.html"] = hostPage("Inline embed", a.embedTag("inline/"+key, ""))
	a.pages["/click.html"] = hostPage("Click embed",
		a.embedTag("click/"+key, "")+"\n"+
			`<button type="button" id="open-form">Contact us</button>`+"\n"+
			`<p><a href="#elsewhere" id="elsewhere">A link on the host page</a></p>`)
	a.pages["/auto.html"] = hostPage("Auto embed", a.embedTag("auto/"+key, ` data-delay="1"`))
	a.pages["/redirect.html"] = hostPage("Embed with a redirect", a.embedTag("inline/"+a.redirect.Key, ""))
	// The thank-you page the redirect form sends visitors to; the test
	// reads its address, as a script of the site would.
	a.pages["/thanks.html"] = hostPage("Thank you", "<p>We will answer soon.</p>")
	// Two forms, and the loader loaded three times (once without a form):
	// one iframe per tag, no duplicates.
	a.pages["/twice.html"] = hostPage("Two forms",
		a.embedTag("inline/"+key, ` data-title="Contact form"`)+"\n"+
			"<h2>Callback</h2>\n"+
			a.embedTag("inline/"+other, ` data-title="Callback form"`)+"\n"+
			`<script src="`+a.base+`/embed.js" async></script>`)
}

func hostPage(title, body string) string {
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>` + title + `</title>
</head>
<body>
<main>
<h1>` + title + `</h1>
<p>A host page on another origin. It has no script or style of its own.</p>
` + body + `
</main>
</body>
</html>
`
}

func (a *app) serveHost(w http.ResponseWriter, r *http.Request) {
	body, ok := a.pages[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", a.hostCSP())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, body)
}

// records returns the consent log entries of form f, oldest first.
func (a *app) records(t *testing.T, f *formbuilder.Form) []*formbuilder.ConsentRecord {
	t.Helper()
	recs, err := a.db.ListRecords(context.Background(), formbuilder.RecordFilter{FormID: f.ID, Limit: 100})
	require.NoError(t, err)
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

// submissions counts the stored submissions of form f.
func (a *app) submissions(t *testing.T, f *formbuilder.Form) int {
	t.Helper()
	var n int
	require.NoError(t, a.ro.QueryRow(`SELECT count(*) FROM submissions WHERE form_id = ?`, f.ID).Scan(&n))
	return n
}

// requireNothingStored checks that form f has no submission and no consent
// log entry.
func (a *app) requireNothingStored(t *testing.T, f *formbuilder.Form) {
	t.Helper()
	require.Empty(t, a.records(t, f), "consent records after a refused submission")
	require.Zero(t, a.submissions(t, f), "submissions after a refused submission")
}

// requireRecord checks the one record of consent c among recs.
func requireRecord(t *testing.T, recs []*formbuilder.ConsentRecord, c *formbuilder.Consent, pageURL string, initial, interacted bool) *formbuilder.ConsentRecord {
	t.Helper()
	var found *formbuilder.ConsentRecord
	for _, r := range recs {
		if r.ConsentID == c.ID {
			require.Nil(t, found, "two records for consent %q", c.Name)
			found = r
		}
	}
	require.NotNil(t, found, "no record for consent %q", c.Name)
	require.Equal(t, formbuilder.ActionGiven, found.Action)
	require.Equal(t, pageURL, found.PageURL, "page URL of the record")
	require.Equal(t, initial, found.InitialState, "initial state of the box")
	require.Equal(t, interacted, found.Interacted, "interacted")
	require.NotEmpty(t, found.TextHash)
	return found
}

// connListener remembers its connections so a test can close them.
type connListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *connListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns[c] = struct{}{}
		l.mu.Unlock()
	}
	return c, err
}

func (l *connListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Close()
	}
}

// serveApp runs the app of cfg and svc on a new listener at ip (port 0)
// until the test ends and returns its base URL, which it sets as
// cfg.BaseURL; a random secret and a silent logger stand in where cfg has
// none.
func serveApp(t *testing.T, ip string, cfg web.Config, svc web.Services) string {
	t.Helper()
	_, base := serveServer(t, ip, cfg, svc)
	return base
}

// serveServer is serveApp that returns the server too.
func serveServer(t *testing.T, ip string, cfg web.Config, svc web.Services) (*web.Server, string) {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = make([]byte, 32)
		_, err := rand.Read(cfg.Secret)
		require.NoError(t, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Keys == nil {
		cfg.Keys = testenv.NewKeys(t)
	}
	tcp, err := net.Listen("tcp", ip+":0")
	require.NoError(t, err)
	ln := &connListener{Listener: tcp, conns: map[net.Conn]struct{}{}}
	cfg.BaseURL = "http://" + ln.Addr().String()
	srv, err := web.New(cfg, svc)
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Listener(ln) }()
	t.Cleanup(func() {
		// The browser outlives the test and keeps idle keep-alive
		// connections open, which a graceful shutdown would wait for.
		ln.closeConns()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		// A test that stops at once (a skip) can shut down before the
		// goroutine above serves; closing the listener ends that Serve too.
		_ = ln.Close()
		<-served
	})
	return srv, cfg.BaseURL
}

var errNotYet = errors.New("not yet")

// eventually calls f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// shortText keeps failure messages readable.
func shortText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
