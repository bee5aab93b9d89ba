package delivery_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/stretchr/testify/require"
)

const (
	waitLong = 15 * time.Second
	waitTick = 2 * time.Millisecond
)

// TestMain runs the tests on every storage backend (internal/testdb).
func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// env is a real database of the backend under test with one consent and
// one form (name, e-mail, message, the consent required and pre-ticked).
type env struct {
	t       *testing.T
	ctx     context.Context
	db      testdb.Store
	consent *formbuilder.Consent
	form    *formbuilder.Form
}

// withClock gives storage the clock now.
func withClock(now func() time.Time) testdb.Options { return testdb.Options{Clock: now} }

func newEnv(t *testing.T, opts ...testdb.Options) *env {
	t.Helper()
	var o testdb.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	db := testdb.Open(t, o).Store
	e := &env{t: t, ctx: context.Background(), db: db}
	e.consent = &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Text: "<p>We process your data.</p>", Label: "I agree to the %privacy terms%.", Language: "en"}
	content.Sanitize()
	require.NoError(t, db.CreateConsent(e.ctx, e.consent, content, "test"))
	e.form = &formbuilder.Form{
		Name: "Contact", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Your name", Kind: formbuilder.KindName},
			{Key: "email", Label: "E-mail address", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		Consents: []formbuilder.FormConsent{{ConsentID: e.consent.ID, CheckedByDefault: true, Required: true}},
	}
	require.NoError(t, db.CreateForm(e.ctx, e.form))
	return e
}

// setNotifications stores n on the env's form.
func (e *env) setNotifications(n formbuilder.Notifications) {
	e.t.Helper()
	e.form.Notifications = n
	require.NoError(e.t, e.db.UpdateForm(e.ctx, e.form))
}

// submit stores a valid submission the way the web layer does.
func (e *env) submit(email, message string) *formbuilder.Submission {
	e.t.Helper()
	in := formbuilder.SubmissionInput{
		Values:    map[string][]string{"name": {"Erika Mustermann"}, "email": {email}, "message": {message}},
		Consents:  map[int64]formbuilder.ConsentInput{e.consent.ID: {Checked: true, Touched: formbuilder.TouchNone}},
		PageURL:   "https://shop.example.com/contact",
		IP:        "192.0.2.44",
		UserAgent: "test-browser",
	}
	sub, recs, err := formbuilder.ValidateSubmission(e.form, in)
	require.NoError(e.t, err)
	require.NoError(e.t, e.db.CreateSubmission(e.ctx, sub, recs))
	return sub
}

// config is a worker configuration on the env's database that reacts to
// commits at once. The receivers of these tests listen on 127.0.0.1, so it
// allows private webhook targets.
func (e *env) config() delivery.Config {
	return delivery.Config{
		Outbox: e.db, Forms: e.db, Submissions: e.db, Inbox: e.db,
		Wake:         e.db.OutboxSignal(),
		Interval:     20 * time.Millisecond,
		Backoff:      func(int) time.Duration { return time.Millisecond },
		Logger:       quiet,
		AllowPrivate: true,
	}
}

// quiet discards the logs of workers and jobs under test.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs a worker until the test ends.
func (e *env) start(cfg delivery.Config) *delivery.Worker {
	e.t.Helper()
	w, err := delivery.New(cfg)
	require.NoError(e.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(done)
	}()
	e.t.Cleanup(func() {
		cancel()
		<-done
	})
	return w
}

// messages returns the form's outbox, newest first.
func (e *env) messages() []*formbuilder.OutboxMessage {
	e.t.Helper()
	msgs, err := e.db.ListOutbox(e.ctx, formbuilder.OutboxFilter{FormID: e.form.ID, Limit: 500})
	require.NoError(e.t, err)
	return msgs
}

// attempts returns the form's delivery log, newest first.
func (e *env) attempts() []*formbuilder.DeliveryAttempt {
	e.t.Helper()
	log, err := e.db.ListAttempts(e.ctx, e.form.ID, 500)
	require.NoError(e.t, err)
	return log
}

// waitState waits until every message of the form is in state.
func (e *env) waitState(state string, n int) []*formbuilder.OutboxMessage {
	e.t.Helper()
	var msgs []*formbuilder.OutboxMessage
	require.Eventually(e.t, func() bool {
		msgs = e.messages()
		if len(msgs) != n {
			return false
		}
		for _, m := range msgs {
			if m.State() != state {
				return false
			}
		}
		return true
	}, waitLong, waitTick, "waiting for %d messages %s", n, state)
	return msgs
}

// events records what happened, in order, across goroutines.
type events struct {
	mu   sync.Mutex
	list []string
}

func (ev *events) add(s string) {
	ev.mu.Lock()
	ev.list = append(ev.list, s)
	ev.mu.Unlock()
}

func (ev *events) snapshot() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return append([]string(nil), ev.list...)
}

// manualClock is a clock tests move by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
