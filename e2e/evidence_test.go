package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"
)

// The visitor's side of issue 16 in Chromium: the receipt offered on the
// success page, double opt-in with the mail read from a real SMTP server
// (go-smtp, in the test process), and the self-service pages.

// mailbox is a go-smtp backend that keeps every mail it is given.
type mailbox struct {
	mu    sync.Mutex
	mails []sentMail
}

// sentMail is one mail as the SMTP server received it.
type sentMail struct {
	to   []string
	data []byte
}

func (b *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{b: b}, nil }

type mailboxSession struct {
	b   *mailbox
	cur sentMail
}

func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *mailboxSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = data
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, s.cur)
	s.b.mu.Unlock()
	s.cur = sentMail{}
	return nil
}

func (s *mailboxSession) Reset()        { s.cur = sentMail{} }
func (s *mailboxSession) Logout() error { return nil }

// waitLink waits for a mail to address with a signed link that starts with
// prefix, and returns the mail's headers, its decoded body and the link.
func (b *mailbox) waitLink(t *testing.T, address, prefix string) (mail.Header, string, string) {
	t.Helper()
	var (
		hdr        mail.Header
		body, link string
	)
	eventually(t, waitTimeout, "a mail to "+address+" with a link to "+prefix, func() error {
		b.mu.Lock()
		mails := append([]sentMail(nil), b.mails...)
		b.mu.Unlock()
		for _, m := range mails {
			if len(m.to) != 1 || m.to[0] != address {
				continue
			}
			msg, err := mail.ReadMessage(bytes.NewReader(m.data))
			if err != nil {
				return err
			}
			if enc := msg.Header.Get("Content-Transfer-Encoding"); enc != "quoted-printable" {
				return fmt.Errorf("Content-Transfer-Encoding %q", enc)
			}
			raw, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			if err != nil {
				return err
			}
			links := visitorLinkRE.FindAllString(string(raw), -1)
			if len(links) == 1 && strings.HasPrefix(links[0], prefix) {
				hdr, body, link = msg.Header, strings.ReplaceAll(string(raw), "\r\n", "\n"), links[0]
				return nil
			}
		}
		return errNotYet
	})
	return hdr, body, link
}

// mailApp is the app with the delivery worker running, sending its mails
// to the mailbox, and a form whose newsletter needs confirmation by e-mail.
type mailApp struct {
	*app
	mails *mailbox
	news  *formbuilder.Consent // optional, not pre-ticked, double opt-in
	doi   *formbuilder.Form    // the privacy consent and news
}

func newMailApp(t *testing.T) *mailApp {
	t.Helper()
	m := &mailApp{app: newApp(t), mails: &mailbox{}}
	ctx := context.Background()
	m.news = &formbuilder.Consent{Name: "Letters (e2e, internal)", Type: formbuilder.ConsentCustom, ConfirmByEmail: true}
	content := formbuilder.ConsentContent{Language: "en", Label: "Send me the %quarterly letter% by e-mail.",
		Text: "<p>One letter every three months; each has a link to stop them.</p>"}
	content.Sanitize()
	require.NoError(t, m.db.CreateConsent(ctx, m.news, content, "e2e"))
	m.doi = &formbuilder.Form{
		Name: "Letters (e2e)", Title: "Stay in touch", Language: "en",
		Fields: []formbuilder.Field{
			{Key: "name", Label: "Name", Kind: formbuilder.KindName, Required: true},
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
		},
		Consents: []formbuilder.FormConsent{
			{ConsentID: m.required.ID, CheckedByDefault: true, Required: true},
			{ConsentID: m.news.ID},
		},
		SuccessMessage: successMessage,
	}
	require.NoError(t, m.db.CreateForm(ctx, m.doi))

	srv := smtp.NewServer(m.mails)
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	w, err := delivery.New(delivery.Config{
		Outbox: m.db, Forms: m.db, Submissions: m.db, Inbox: m.db, Log: m.db, Consents: m.db, Links: m.srv,
		Wake:     m.db.OutboxSignal(),
		Interval: 50 * time.Millisecond,
		SMTP: &delivery.SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, TLS: delivery.TLSNone,
			From: "Forms <forms@example.com>"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		w.Run(wctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return m
}

// give stores a submission of the doi form from address with both
// consents, as a visitor on another day would have sent it.
func (m *mailApp) give(t *testing.T, address string) []*formbuilder.ConsentRecord {
	t.Helper()
	sub, recs, err := formbuilder.ValidateSubmission(m.doi, formbuilder.SubmissionInput{
		Values:    map[string][]string{"name": {"Grace Hopper"}, "email": {address}},
		Consents:  map[int64]formbuilder.ConsentInput{m.required.ID: {Checked: true}, m.news.ID: {Checked: true}},
		PageURL:   "https://www.example.com/letters",
		ConfirmBy: time.Now().Add(formbuilder.DefaultConfirmWithin),
	})
	require.NoError(t, err)
	require.NoError(t, m.db.CreateSubmission(context.Background(), sub, recs))
	return recs
}

// visitorLinkRE finds the signed links of the visitor mails.
var visitorLinkRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/(?:confirm|my-consents)/[A-Za-z0-9._-]+`)

// sendHosted fills the hosted page of f (name, e-mail, and the boxes of
// tick), sends it and waits for form.js's success box.
func sendHosted(v *view, base string, f *formbuilder.Form, address string, tick ...*formbuilder.Consent) {
	v.t.Helper()
	v.navigate(base+"/f/"+f.Key, 200)
	v.waitJS("form.js is ready", `document.readyState === 'complete'`)
	typeInto(v, "#cf-field-name", "Grace Hopper")
	typeInto(v, "#cf-field-email", address)
	for _, c := range tick {
		v.do(chromedp.Click(boxSel(c)))
	}
	v.do(chromedp.Click(chromedp.CSS("#cf-form button[type=submit]")))
	v.waitJS("the success box", `document.getElementById('cf-success') && document.getElementById('cf-success').checkVisibility()`)
}

// layoutAt shows v's page at width px: saved as a screenshot when
// ADMIN_SCREENSHOTS is set, and it must not scroll sideways.
func layoutAt(t *testing.T, v *view, name string, width int64) {
	t.Helper()
	v.do(chromedp.EmulateViewport(width, 800))
	adminScreenshot(t, v, fmt.Sprintf("%s-%d", name, width))
	require.LessOrEqual(t, evalJS[int](v, `document.documentElement.scrollWidth - document.documentElement.clientWidth`), 0,
		"%s scrolls sideways at %d px", name, width)
}

// TestSuccessPageOffersTheReceipt: after sending, the success box offers a
// receipt per consent given; the browser downloads it as a file, and the
// file is a receipt that verifies against the published keys and matches
// its entry in the log.
func TestSuccessPageOffersTheReceipt(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	v := newTab(t)
	dir := t.TempDir()
	_, err := chromedp.CallBrowser(v.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
	require.NoError(t, err)

	sendHosted(v, a.base, a.form, "ada@example.com", a.optional)
	recs := a.records(t, a.form)
	require.Len(t, recs, 2)
	links := evalJS[[]string](v, `Array.from(document.querySelectorAll('.cf-success__receipts a'), function (a) {
  return a.getAttribute('download') + '|' + a.textContent;
})`)
	require.Equal(t, []string{
		fmt.Sprintf("%s|Download receipt: I agree to the processing of my data for this enquiry.", formbuilder.ReceiptFileName(recs[0].ID)),
		fmt.Sprintf("%s|Download receipt: Send me the monthly newsletter.", formbuilder.ReceiptFileName(recs[1].ID)),
	}, links)

	// The visitor clicks the second link: the file lands in the download
	// directory under its name.
	v.do(chromedp.Click(chromedp.CSS(".cf-success__receipts li:nth-child(2) a")))
	file := filepath.Join(dir, formbuilder.ReceiptFileName(recs[1].ID))
	var token []byte
	eventually(t, waitTimeout, "the downloaded receipt", func() error {
		token, err = os.ReadFile(file)
		return err
	})
	jwks, err := a.keys.Load().MarshalJWKS()
	require.NoError(t, err)
	published, err := formbuilder.ParseKeySet(jwks)
	require.NoError(t, err)
	r, err := formbuilder.VerifyReceipt(strings.TrimSpace(string(token)), published)
	require.NoError(t, err, "the downloaded receipt verifies against the published keys")
	require.NoError(t, r.CheckEntry(recs[1]), "and matches its entry")
	require.Error(t, r.CheckEntry(recs[0]), "not another entry")
	v.requireClean()
}

// TestDoubleOptInInTheBrowser: a visitor ticks a consent that needs
// confirmation; the success box says a mail is on its way; the mail
// arrives at the SMTP server with a link; the link opens the confirmation
// page, and its button appends the confirmation to the log.
func TestDoubleOptInInTheBrowser(t *testing.T) {
	t.Parallel()
	m := newMailApp(t)
	v := newTab(t)
	sendHosted(v, m.base, m.doi, "grace@example.com", m.news)
	require.Contains(t, evalJS[string](v, `document.querySelector('.cf-success__confirm').textContent`),
		"your consent “Send me the quarterly letter by e-mail.” counts only once you confirm it")
	for _, w := range []int64{320, 1280} {
		layoutAt(t, v, "success-to-confirm", w)
	}
	recs := m.records(t, m.doi)
	require.Len(t, recs, 2)
	given := recs[1]
	require.Equal(t, m.news.ID, given.ConsentID)
	require.True(t, given.NeedsConfirmation())

	hdr, body, link := m.mails.waitLink(t, "grace@example.com", m.base+"/confirm/")
	require.Equal(t, "en", hdr.Get("Content-Language"))
	require.Contains(t, body, "Send me the quarterly letter by e-mail.")

	v.navigate(link, 200)
	text := evalJS[string](v, `document.body.innerText`)
	require.Contains(t, text, "Confirm your consent")
	require.Contains(t, text, "One letter every three months")
	for _, w := range []int64{320, 1280} {
		layoutAt(t, v, "confirm", w)
	}
	runAxe(t, v, "the confirmation page")
	require.Len(t, m.records(t, m.doi), 2, "opening the link confirms nothing")

	v.do(chromedp.Click(chromedp.CSS("form.cf-form button[type=submit]")))
	v.waitJS("the confirmation is shown", `document.body.innerText.indexOf('Consent confirmed') >= 0`)
	require.NotEmpty(t, evalJS[string](v, `document.querySelector('.cf-receipt__jws').textContent`), "the receipt of what is now confirmed")
	// Opened, the receipt's long token must wrap, not widen the page.
	v.do(chromedp.Click(chromedp.CSS(".cf-receipt summary")))
	v.waitJS("the receipt is open", `document.querySelector('.cf-receipt').open`)
	for _, w := range []int64{320, 1280} {
		layoutAt(t, v, "confirm-done", w)
	}

	recs = m.records(t, m.doi)
	require.Len(t, recs, 3)
	require.Equal(t, formbuilder.ActionConfirmed, recs[2].Action, "the log gains a confirmation")
	require.Equal(t, given.ID, recs[2].ConfirmsID)
	ok, err := m.db.Confirmed(context.Background(), []int64{given.ID})
	require.NoError(t, err)
	require.True(t, ok[given.ID])
	v.requireClean()
}

// TestSelfServiceInTheBrowser: in German and in English, a data subject
// asks for the link, reads the mail, opens the list of their consents and
// withdraws one.
func TestSelfServiceInTheBrowser(t *testing.T) {
	t.Parallel()
	texts := map[string]struct{ title, sent, withdraw, withdrawn, inForce string }{
		"de": {"Ihre Einwilligungen", "Danke. Haben wir Einwilligungen zu dieser Adresse", "Einwilligung widerrufen", "widerrufen", "wirksam"},
		"en": {"Your consents", "Thank you. If we have consents for this address", "Withdraw consent", "withdrawn", "in force"},
	}
	for _, lang := range []string{"de", "en"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			want := texts[lang]
			m := newMailApp(t)
			address := "linus-" + lang + "@example.com"
			recs := m.give(t, address)
			v := newTab(t)

			v.navigate(m.base+"/my-consents?lang="+lang, 200)
			require.Equal(t, lang, evalJS[string](v, `document.documentElement.lang`))
			require.Equal(t, want.title, evalJS[string](v, `document.querySelector('h1').textContent`))
			for _, w := range []int64{320, 1280} {
				layoutAt(t, v, "my-consents-"+lang, w)
			}
			runAxe(t, v, "the self-service page")
			typeInto(v, "#cf-mine-email", address)
			v.do(chromedp.Click(chromedp.CSS("form.cf-form button[type=submit]")))
			v.waitJS("the answer", `!!document.querySelector('.cf-mine__sent')`)
			require.Contains(t, evalJS[string](v, `document.querySelector('.cf-mine__sent').textContent`), want.sent)

			// The address has a confirmation mail too, in the form's
			// language; the self-service one is in the page's.
			hdr, _, link := m.mails.waitLink(t, address, m.base+"/my-consents/")
			require.Equal(t, lang, hdr.Get("Content-Language"))

			v.navigate(link, 200)
			require.Equal(t, lang, evalJS[string](v, `document.documentElement.lang`))
			require.Equal(t, 2, evalJS[int](v, `document.querySelectorAll('.cf-mine__entry').length`))
			for _, w := range []int64{320, 1280} {
				layoutAt(t, v, "my-consents-list-"+lang, w)
			}
			runAxe(t, v, "the list of consents")
			buttons := evalJS[[]string](v, `Array.from(document.querySelectorAll('.cf-mine__entry button'), function (b) { return b.textContent; })`)
			require.Equal(t, []string{want.withdraw, want.withdraw}, buttons)

			// Withdraw the privacy consent (the older entry, listed last).
			v.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#cf-entry-%d ~ form button`, recs[0].ID))))
			v.waitJS("the list shows the withdrawal", fmt.Sprintf(`document.querySelector('[aria-labelledby=cf-entry-%d] .cf-mine__state').textContent === %s`,
				recs[0].ID, js(want.withdrawn)))
			require.Equal(t, 1, evalJS[int](v, `document.querySelectorAll('.cf-mine__entry button').length`), "one button left")
			log := m.records(t, m.doi)
			require.Len(t, log, 3)
			require.Equal(t, formbuilder.ActionWithdrawn, log[2].Action)
			require.Equal(t, recs[0].ID, log[2].WithdrawsID)
			v.requireClean()
		})
	}
}
