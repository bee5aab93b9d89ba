package public

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/consentforms/consentforms/web/internal/httpx"
	"github.com/consentforms/consentforms/widget"
	"github.com/stretchr/testify/require"
)

// TestMain runs the tests on every storage backend (internal/testdb).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// unitEnv is the public side alone (no Fiber app) on a fresh database of
// the backend under test (internal/testdb), with a form like the demo
// form, for tests of its parts: the form cache, the parsers, the tokens.
// The HTTP behaviour is tested through the whole app in package web.
type unitEnv struct {
	db      testdb.Store
	s       *Server
	svc     httpx.Services
	form    *formbuilder.Form
	consent *formbuilder.Consent
	now     time.Time
}

func newUnitEnv(t testing.TB, wrap func(*httpx.Services)) *unitEnv {
	t.Helper()
	db := testdb.Open(t, testdb.Options{}).Store
	ctx := context.Background()
	e := &unitEnv{db: db, now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	e.consent = &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Text: "<p>We process your data to answer you.</p>",
		Label: "I agree to the %privacy terms%.", Language: "en"}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(ctx, e.consent, content, "test"))
	f := &formbuilder.Form{
		Name: "Contact", Title: "Contact", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName, Required: true},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "phone", Label: "Phone", Kind: formbuilder.KindPhone},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea, Required: true},
		},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
	}
	require.NoError(t, db.CreateForm(ctx, f))
	var err error
	e.form, err = db.FindFormByID(ctx, f.ID)
	require.NoError(t, err)
	e.svc = httpx.Services{Forms: db, Consents: db, Submissions: db, Log: db, Users: db, Sessions: db,
		Tokens: db, Settings: db, Changes: db}
	if wrap != nil {
		wrap(&e.svc)
	}
	signer, err := httpx.NewSigner([]byte("0123456789abcdef0123456789abcdef-public"))
	require.NoError(t, err)
	proxies, err := httpx.NewProxies(nil)
	require.NoError(t, err)
	w, err := widget.New(widget.Options{BaseURL: "http://forms.test"})
	require.NoError(t, err)
	st, err := db.GetSettings(ctx)
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := &httpx.Base{BaseURL: "http://forms.test", Log: log, Clock: func() time.Time { return e.now },
		Proxies: proxies, Signer: signer, Settings: httpx.NewSettings(st), Streams: httpx.NewStreams(log),
		Widget: w, Errors: &httpx.VisitorErrors{Log: log, Widget: w}}
	e.s = New(base, Config{}, e.svc)
	return e
}
