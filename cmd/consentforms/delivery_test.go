package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testdb"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Retention deletes old submissions and `consentforms consents verify`
// still reports an intact log with every entry.
func TestRetentionKeepsTheLogVerifiable(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	fresh := testdb.Open(t, testdb.Options{Clock: clock})
	db, dbPath := fresh.Store, fresh.DSN
	consent := &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	content := formbuilder.ConsentContent{Text: "<p>We process your data.</p>", Label: "I agree to the %terms%.", Language: "en"}
	require.NoError(t, db.CreateConsent(ctx, consent, content, "test"))
	form := &formbuilder.Form{Name: "Contact", Language: "en", RetentionDays: 7,
		Fields:   []formbuilder.Field{{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true}},
		Consents: []formbuilder.FormConsent{{ConsentID: consent.ID, Required: true}}}
	require.NoError(t, db.CreateForm(ctx, form))
	submit := func(email string) int64 {
		sub, recs, err := formbuilder.ValidateSubmission(form, formbuilder.SubmissionInput{
			Values:   map[string][]string{"email": {email}},
			Consents: map[int64]formbuilder.ConsentInput{consent.ID: {Checked: true, Touched: formbuilder.TouchChanged}}, IP: "192.0.2.1"})
		require.NoError(t, err)
		require.NoError(t, db.CreateSubmission(ctx, sub, recs))
		return sub.ID
	}
	oldID := submit("old@example.com")
	withdrawn, err := db.ListRecords(ctx, formbuilder.RecordFilter{})
	require.NoError(t, err)
	_, err = db.Withdraw(ctx, withdrawn[0].ID, "192.0.2.1", "ua")
	require.NoError(t, err)
	advance(10 * 24 * time.Hour)
	newID := submit("new@example.com")

	res, err := (&delivery.Retention{Forms: db, Inbox: db, Outbox: db, Now: clock}).RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(1), res.Submissions)
	_, err = db.FindSubmission(ctx, oldID)
	require.Equal(t, formbuilder.ENOTFOUND, formbuilder.ErrorCode(err))
	_, err = db.FindSubmission(ctx, newID)
	require.NoError(t, err)
	recs, err := db.RecordsOfSubmission(ctx, oldID)
	require.NoError(t, err)
	require.Len(t, recs, 1, "the deleted submission's consent entry stays")
	require.NoError(t, db.Close())

	var out strings.Builder
	require.Equal(t, 0, run(ctx, []string{"consents", "verify", "--db", dbPath}, &out, io.Discard), out.String())
	require.Contains(t, out.String(), "consent log ok: 3 entries, hash chain intact")
}

// The serve command wires the worker: a submission to a form with a
// notification address arrives as a mail at a real SMTP server.
func TestServeSendsNotificationMails(t *testing.T) {
	be := &cmdMailBackend{got: make(chan []byte, 4)}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port

	base, demo, dbPath := startServer(t, "--smtp-host", "127.0.0.1", "--smtp-port", fmt.Sprint(port),
		"--smtp-tls", "none", "--smtp-from", "forms@example.com")

	setDemoNotifications(t, dbPath, formbuilder.Notifications{Emails: []string{"owner@example.com"}})
	submitDemo(t, demo)

	select {
	case msg := <-be.got:
		require.Contains(t, string(msg), "To: <owner@example.com>")
		require.Contains(t, string(msg), "erika@example.com")
		require.Contains(t, string(msg), base+"/admin/forms/")
	case <-time.After(20 * time.Second):
		t.Fatal("no mail arrived")
	}
}

// setDemoNotifications gives the demo form n through another handle on
// the server's database, as the admin UI would.
func setDemoNotifications(t *testing.T, dbPath string, n formbuilder.Notifications) {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(dbPath)
	require.NoError(t, err)
	defer db.Close()
	forms, err := db.ListForms(ctx, formbuilder.FormFilter{})
	require.NoError(t, err)
	f := forms[0]
	f.Notifications = n
	require.NoError(t, db.UpdateForm(ctx, f))
}

// putDemoNotifications sets the demo form's receivers through the JSON API
// of the server at base, as a client that fetched the form would, and
// returns the status of the PUT.
func putDemoNotifications(t *testing.T, base, dbPath string, n formbuilder.Notifications) int {
	t.Helper()
	ctx := context.Background()
	db, err := openDB(dbPath)
	require.NoError(t, err)
	defer db.Close()
	admin, err := db.FindUserByEmail(ctx, "admin@example.com") // the first admin serve made
	require.NoError(t, err)
	plain, hash := formbuilder.NewAPIToken()
	require.NoError(t, db.CreateToken(ctx, &formbuilder.APIToken{Name: "t", Hash: hash, UserID: admin.ID}))
	forms, err := db.ListForms(ctx, formbuilder.FormFilter{})
	require.NoError(t, err)
	path := base + "/api/v1/forms/" + strconv.FormatInt(forms[0].ID, 10)
	call := func(method string, body io.Reader) (*http.Response, []byte) {
		req, err := http.NewRequest(method, path, body)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+plain)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}
	resp, b := call("GET", nil)
	require.Equal(t, 200, resp.StatusCode, string(b))
	var f map[string]any
	require.NoError(t, json.Unmarshal(b, &f))
	f["notifications"] = n
	b, err = json.Marshal(f)
	require.NoError(t, err)
	resp, _ = call("PUT", bytes.NewReader(b))
	return resp.StatusCode
}

// submitDemo sends the demo form, filled in and agreed, as the page's
// script does, and requires it stored.
func submitDemo(t *testing.T, demo string) {
	t.Helper()
	resp, err := http.Get(demo)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := string(tokenRE.FindSubmatch(page)[1])
	cid := string(consentRE.FindSubmatch(page)[1])
	vals := url.Values{"_token": {token}, "name": {"Erika"}, "email": {"erika@example.com"},
		"message": {"Bitte um Rückruf"}, "consent_" + cid: {"1"}}
	req, _ := http.NewRequest("POST", demo, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
}

// serve sends webhooks to public addresses only; --webhook-allow-private
// (or its variable) lets them reach a receiver on this machine.
func TestServeWebhookAllowPrivate(t *testing.T) {
	var hits atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(rcv.Close)
	hook := formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.URL + "/hook", Secret: "whsec_0123456789abcdef"}}}
	// attempts waits for the delivery log of the demo form to have one entry.
	attempts := func(dbPath string) *formbuilder.DeliveryAttempt {
		t.Helper()
		db, err := openDB(dbPath)
		require.NoError(t, err)
		defer db.Close()
		var log []*formbuilder.DeliveryAttempt
		require.Eventually(t, func() bool {
			forms, err := db.ListForms(context.Background(), formbuilder.FormFilter{})
			require.NoError(t, err)
			log, err = db.ListAttempts(context.Background(), forms[0].ID, 10)
			require.NoError(t, err)
			return len(log) > 0
		}, 20*time.Second, 20*time.Millisecond)
		require.Len(t, log, 1)
		return log[0]
	}

	base, demo, dbPath := startServer(t)
	// Saving such a webhook is refused too (here through the API).
	assert.Equal(t, http.StatusUnprocessableEntity, putDemoNotifications(t, base, dbPath, hook))
	setDemoNotifications(t, dbPath, hook)
	submitDemo(t, demo)
	a := attempts(dbPath)
	assert.False(t, a.Delivered)
	assert.Contains(t, a.Error, "refused: the URL points at a non-public address (loopback)")
	assert.Zero(t, hits.Load())

	t.Setenv("CONSENTFORMS_WEBHOOK_ALLOW_PRIVATE", "true")
	base, demo, dbPath = startServer(t)
	assert.Equal(t, http.StatusOK, putDemoNotifications(t, base, dbPath, hook))
	submitDemo(t, demo)
	a = attempts(dbPath)
	assert.True(t, a.Delivered, a.Error)
	assert.Equal(t, int32(1), hits.Load())
}

func TestServeRefusesHalfAnSMTPConfiguration(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "cf.db")
	var errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--db", dbPath, "--addr", "127.0.0.1:0",
		"--smtp-host", "mail.example.com"}, io.Discard, &errOut)
	require.Equal(t, 2, code)
	require.Contains(t, errOut.String(), "smtp from")
	errOut.Reset()
	code = run(context.Background(), []string{"serve", "--db", dbPath, "--addr", "127.0.0.1:0",
		"--smtp-user", "u"}, io.Discard, &errOut)
	require.Equal(t, 2, code)
	require.Contains(t, errOut.String(), "--smtp-host")
}

// cmdMailBackend hands every mail it receives to got.
type cmdMailBackend struct{ got chan []byte }

func (b *cmdMailBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &cmdMailSession{b: b}, nil
}

type cmdMailSession struct{ b *cmdMailBackend }

func (s *cmdMailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *cmdMailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *cmdMailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		s.b.got <- b
	}
	return err
}
func (s *cmdMailSession) Reset()        {}
func (s *cmdMailSession) Logout() error { return nil }
