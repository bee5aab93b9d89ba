package delivery_test

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// doiForm adds a consent that needs confirmation by e-mail to the env's
// form (optional, not pre-ticked) in lang.
func (e *env) doiForm(lang string) *formbuilder.Consent {
	e.t.Helper()
	news := &formbuilder.Consent{Name: "News (internal)", Type: formbuilder.ConsentCustom, ConfirmByEmail: true}
	require.NoError(e.t, e.db.CreateConsent(e.ctx, news, formbuilder.ConsentContent{Text: "<p>Monthly news.</p>",
		Label: "Send me the %monthly newsletter%.", Language: lang}, "test"))
	e.form.Language, e.form.Title = lang, "Kontakt"
	e.form.Consents = append(e.form.Consents, formbuilder.FormConsent{ConsentID: news.ID})
	require.NoError(e.t, e.db.UpdateForm(e.ctx, e.form))
	f, err := e.db.FindFormByID(e.ctx, e.form.ID)
	require.NoError(e.t, err)
	e.form = f
	return news
}

// giveDOI stores a submission ticking both consents from email.
func (e *env) giveDOI(news *formbuilder.Consent, email string, by time.Time) []*formbuilder.ConsentRecord {
	e.t.Helper()
	sub, recs, err := formbuilder.ValidateSubmission(e.form, formbuilder.SubmissionInput{
		Values:    map[string][]string{"email": {email}},
		Consents:  map[int64]formbuilder.ConsentInput{e.consent.ID: {Checked: true}, news.ID: {Checked: true}},
		IP:        "192.0.2.44",
		ConfirmBy: by,
	})
	require.NoError(e.t, err)
	require.NoError(e.t, e.db.CreateSubmission(e.ctx, sub, recs))
	return recs
}

var linkRE = regexp.MustCompile(`(http://127\.0\.0\.1:\d+/(confirm|my-consents)/[A-Za-z0-9._-]+)`)

// TestConfirmationMail: a consent given with double opt-in brings a mail
// to the visitor, in the form's language, with a signed link; following it
// (and pressing the button) confirms the consent, and the form's webhook
// hears the new state.
func TestConfirmationMail(t *testing.T) {
	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			e := newEnv(t)
			news := e.doiForm(lang)
			hooks := make(chan []byte, 4)
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				hooks <- b
			}))
			t.Cleanup(rcv.Close)
			e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.URL, Secret: "whsec_0123456789abcdef"}}})
			be := &mailBackend{}
			srv, base := e.serveWeb()
			cfg := e.config()
			cfg.SMTP, cfg.Log, cfg.Consents, cfg.Links = smtpConfig(startSMTP(t, be, nil)), e.db, e.db, srv
			e.start(cfg)

			recs := e.giveDOI(news, "Ada@Example.com", time.Now().Add(48*time.Hour))
			require.Eventually(t, func() bool { return len(be.all()) == 1 }, waitLong, waitTick, "the confirmation mail")
			m := be.all()[0]
			assert.Equal(t, []string{"Ada@Example.com"}, m.to)
			msg, body := parseMail(t, m)
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			require.NoError(t, err)
			want := map[string][]string{
				"de": {"Bitte bestätigen Sie Ihre Einwilligung", "im Formular „Kontakt“", "Send me the monthly newsletter.", "bis "},
				"en": {"Please confirm your consent", "through the form “Kontakt”", "Send me the monthly newsletter.", "by "},
			}[lang]
			assert.Equal(t, want[0], subject)
			assert.Equal(t, lang, msg.Header.Get("Content-Language"))
			for _, w := range want[1:] {
				assert.Contains(t, body, w)
			}
			assert.NotContains(t, body, "News (internal)", "the visitor reads the label, not the internal name")
			links := linkRE.FindAllStringSubmatch(body, -1)
			require.Len(t, links, 1, "one link, for the consent that needs it: %s", body)
			link := links[0][1]
			require.True(t, strings.HasPrefix(link, base+"/confirm/"))

			// The webhook of the submission says "unconfirmed".
			doc := <-hooks
			assert.Contains(t, string(doc), `"confirmation":"unconfirmed"`)

			// Opening the link confirms nothing; the button does.
			resp, err := http.Get(link)
			require.NoError(t, err)
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			assert.Contains(t, string(page), `method="post"`)
			ok, err := e.db.Confirmed(e.ctx, []int64{recs[1].ID})
			require.NoError(t, err)
			assert.Empty(t, ok)
			resp, err = http.PostForm(link, url.Values{})
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, 200, resp.StatusCode)
			ok, err = e.db.Confirmed(e.ctx, []int64{recs[1].ID})
			require.NoError(t, err)
			assert.Equal(t, map[int64]bool{recs[1].ID: true}, ok)

			select {
			case doc = <-hooks:
			case <-time.After(waitLong):
				t.Fatal("no webhook for the confirmation")
			}
			var d delivery.Document
			require.NoError(t, json.Unmarshal(doc, &d))
			assert.Equal(t, formbuilder.EventConsentConfirmed, d.Event)
			require.Len(t, d.Consents, 2)
			assert.Equal(t, "", d.Consents[0].Confirmation, "the privacy consent needs none")
			assert.Equal(t, formbuilder.ConfirmDone, d.Consents[1].Confirmation)
			assert.NotNil(t, d.Consents[1].ConfirmBy)
		})
	}
}

// TestAccessMail: the self-service mail goes only to an address the log
// knows; either way the message is done, and it is pruned at once.
func TestAccessMail(t *testing.T) {
	e := newEnv(t)
	e.submit("ada@example.com", "hi")
	be := &mailBackend{}
	srv, base := e.serveWeb()
	cfg := e.config()
	cfg.SMTP, cfg.Log, cfg.Consents, cfg.Links = smtpConfig(startSMTP(t, be, nil)), e.db, e.db, srv
	e.start(cfg)

	require.NoError(t, e.db.EnqueueAccessLink(e.ctx, "nobody@example.com", "en"))
	require.NoError(t, e.db.EnqueueAccessLink(e.ctx, "ADA@example.com", "de"))
	require.Eventually(t, func() bool {
		msgs, err := e.db.ListOutbox(e.ctx, formbuilder.OutboxFilter{Kind: formbuilder.DeliveryAccess, Pending: true})
		return err == nil && len(msgs) == 0
	}, waitLong, waitTick)
	mails := be.all()
	require.Len(t, mails, 1, "only the known address gets a mail")
	assert.Equal(t, []string{"ADA@example.com"}, mails[0].to)
	msg, body := parseMail(t, mails[0])
	assert.Equal(t, "de", msg.Header.Get("Content-Language"))
	assert.Contains(t, body, "Er gilt eine Stunde lang")
	links := linkRE.FindAllStringSubmatch(body, -1)
	require.Len(t, links, 1, body)
	resp, err := http.Get(links[0][1])
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.True(t, strings.HasPrefix(links[0][1], base+"/my-consents/"))
	assert.Contains(t, string(page), "I agree to the privacy terms.")

	n, err := e.db.PruneDeliveries(e.ctx, time.Now().Add(-30*24*time.Hour))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, int64(2), "both access messages go")
}

// TestAnchorDeliveries: the anchorer signs a checkpoint when one is due;
// the worker writes it into the anchor directory and posts it, signed, to
// the anchor webhook; a receiver no longer configured gets nothing more.
func TestAnchorDeliveries(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	bodies := make(chan *http.Request, 4)
	payloads := make(chan []byte, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- r
		payloads <- b
	}))
	t.Cleanup(rcv.Close)
	receivers := []string{rcv.URL, dir}
	keys := testenv.NewKeys(t)
	clock := &manualClock{t: time.Now()}
	a := &delivery.Anchorer{Store: e.db, Keys: keys, Issuer: "https://forms.example", Receivers: receivers,
		Every: 3, Interval: time.Hour, Now: clock.Now, Logger: quiet}
	cfg := e.config()
	cfg.Anchors, cfg.AnchorReceivers, cfg.AnchorSecret = e.db, receivers, "0123456789abcdef-anchor"
	e.start(cfg)

	got, err := a.Tick(e.ctx)
	require.NoError(t, err)
	assert.Nil(t, got, "an empty log has nothing to anchor")
	e.submit("a@example.com", "1")
	e.submit("b@example.com", "2")
	got, err = a.Tick(e.ctx)
	require.NoError(t, err)
	assert.Nil(t, got, "two entries: not yet")
	e.submit("c@example.com", "3")
	got, err = a.Tick(e.ctx)
	require.NoError(t, err)
	require.NotNil(t, got, "three entries: due")
	assert.Equal(t, int64(1), got.Seq)
	assert.Equal(t, int64(3), got.EntryID)

	file := filepath.Join(dir, formbuilder.AnchorFileName(1))
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(file)
		return err == nil && strings.TrimSpace(string(b)) == got.Token
	}, waitLong, waitTick, "the checkpoint in the directory")
	r := <-bodies
	body := <-payloads
	require.NoError(t, delivery.Verify("0123456789abcdef-anchor", r.Header.Get(delivery.HeaderTimestamp),
		r.Header.Get(delivery.HeaderSignature), body, time.Now(), delivery.DefaultTolerance))
	assert.Equal(t, formbuilder.EventCheckpoint, r.Header.Get(delivery.HeaderEvent))
	var doc delivery.CheckpointDocument
	require.NoError(t, json.Unmarshal(body, &doc))
	assert.Equal(t, got.Token, doc.Checkpoint)
	cp, err := formbuilder.VerifyCheckpoint(doc.Checkpoint, keys.Load())
	require.NoError(t, err)
	assert.Equal(t, int64(3), cp.EntryID)

	// Nothing new: nothing due, however long.
	clock.Add(2 * time.Hour)
	got, err = a.Tick(e.ctx)
	require.NoError(t, err)
	assert.Nil(t, got)
	// One new entry and an hour: due.
	e.submit("d@example.com", "4")
	got, err = a.Tick(e.ctx)
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Equal(t, int64(2), got.Seq)
	cp, err = formbuilder.VerifyCheckpoint(got.Token, keys.Load())
	require.NoError(t, err)
	require.NotNil(t, cp.Prev)
	assert.Equal(t, int64(1), cp.Prev.Seq, "each names the one before")
	<-payloads

	// A receiver dropped from the configuration gets nothing more, and
	// another checkpoint under a file's name is refused for good.
	require.NoError(t, os.WriteFile(filepath.Join(dir, formbuilder.AnchorFileName(3)), []byte("someone else's\n"), 0o600))
	stale := &delivery.Anchorer{Store: e.db, Keys: keys, Receivers: []string{"https://gone.example/anchor", dir},
		Every: 1, Logger: quiet}
	e.submit("e@example.com", "5")
	_, err = stale.Tick(e.ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		msgs, err := e.db.ListOutbox(e.ctx, formbuilder.OutboxFilter{Kind: formbuilder.DeliveryAnchor, Limit: 10})
		if err != nil {
			return false
		}
		failed := 0
		for _, m := range msgs {
			if m.RefID == 3 && m.State() == formbuilder.OutboxFailed {
				failed++
			}
		}
		return failed == 2
	}, waitLong, waitTick, "both deliveries of checkpoint 3 given up")
	b, err := os.ReadFile(filepath.Join(dir, formbuilder.AnchorFileName(3)))
	require.NoError(t, err)
	assert.Equal(t, "someone else's\n", string(b), "the other file stays as it is")
}
