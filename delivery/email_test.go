package delivery_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http/httptest"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A real SMTP server (go-smtp) inside the test: PLAIN authentication, mails
// kept in memory.

const (
	smtpUser     = "mailer"
	smtpPassword = "mail-secret"
)

type storedMail struct {
	from string
	to   []string
	data []byte
	auth string
	tls  bool
}

type mailBackend struct {
	mu    sync.Mutex
	mails []storedMail
	// refuseRcpt, when set, makes RCPT TO fail with a 550.
	refuseRcpt bool
}

func (b *mailBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &mailSession{b: b, tls: isTLS, conn: c}, nil
}

func (b *mailBackend) all() []storedMail {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]storedMail(nil), b.mails...)
}

type mailSession struct {
	b    *mailBackend
	conn *smtp.Conn
	tls  bool
	cur  storedMail
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != smtpUser || password != smtpPassword {
			return smtp.ErrAuthFailed
		}
		s.cur.auth = username
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.cur.auth == "" {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}

func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.b.refuseRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.cur.to = append(s.cur.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.b.mu.Lock()
	s.b.mails = append(s.b.mails, s.cur)
	s.b.mu.Unlock()
	s.cur = storedMail{auth: s.cur.auth}
	return nil
}

func (s *mailSession) Reset()        { s.cur = storedMail{auth: s.cur.auth} }
func (s *mailSession) Logout() error { return nil }

// startSMTP runs the server on 127.0.0.1 and returns its port. With
// tlsCfg it offers STARTTLS.
func startSMTP(t *testing.T, be *mailBackend, tlsCfg *tls.Config) int {
	t.Helper()
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.TLSConfig = tlsCfg
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func smtpConfig(port int) *delivery.SMTPConfig {
	return &delivery.SMTPConfig{Host: "127.0.0.1", Port: port, TLS: delivery.TLSNone, User: smtpUser,
		Password: smtpPassword, From: "Forms Robot <robot@forms.example>"}
}

// parseMail reads a stored mail and returns it with its decoded body.
func parseMail(t *testing.T, m storedMail) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	require.NoError(t, err)
	require.Equal(t, "quoted-printable", msg.Header.Get("Content-Transfer-Encoding"))
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	require.NoError(t, err)
	return msg, string(body)
}

func TestNotificationMailThroughARealSMTPServer(t *testing.T) {
	e := newEnv(t)
	be := &mailBackend{}
	port := startSMTP(t, be, nil)
	// The form's name tries to add a header; a value tries the same.
	e.form.Name = "Contact\r\nBcc: spy@evil.example – Ümläut"
	e.setNotifications(formbuilder.Notifications{Emails: []string{"sales@example.com", "boss@example.com"}})
	cfg := e.config()
	cfg.SMTP = smtpConfig(port)
	cfg.BaseURL = "https://forms.example"
	e.start(cfg)

	sub := e.submit("jane@example.com", "Hello,\r\nBcc: spy@evil.example\r\n.\r\nthird line")
	e.waitState(formbuilder.OutboxDelivered, 2)
	mails := be.all()
	require.Len(t, mails, 2, "one mail per address")
	var tos []string
	for _, m := range mails {
		require.Len(t, m.to, 1)
		tos = append(tos, m.to[0])
		assert.Equal(t, "robot@forms.example", m.from, "envelope sender")
		assert.Equal(t, smtpUser, m.auth, "PLAIN authentication")
	}
	assert.ElementsMatch(t, []string{"sales@example.com", "boss@example.com"}, tos)

	msg, body := parseMail(t, mails[0])
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	require.NoError(t, err)
	assert.Equal(t, &mail.Address{Name: "Forms Robot", Address: "robot@forms.example"}, from)
	assert.Equal(t, "<"+mails[0].to[0]+">", msg.Header.Get("To"))
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	require.NoError(t, err)
	assert.Equal(t, "New submission: Contact Bcc: spy@evil.example – Ümläut", subject)
	assert.Empty(t, msg.Header.Get("Bcc"), "no header from the form name or the values")
	assert.Equal(t, "<jane@example.com>", msg.Header.Get("Reply-To"))
	assert.Equal(t, "auto-generated", msg.Header.Get("Auto-Submitted"))
	_, err = msg.Header.Date()
	assert.NoError(t, err)
	assert.Contains(t, msg.Header.Get("Message-Id"), "@forms.example>")

	for _, want := range []string{
		"Your name\n  Erika Mustermann\n",
		"E-mail address\n  jane@example.com\n",
		"Message\n  Hello,\n  Bcc: spy@evil.example\n  .\n  third line\n",
		"Page:  https://shop.example.com/contact",
		"Consents given:\n  - Privacy, version 1 – pre-ticked, not touched by the visitor",
		"https://forms.example/admin/forms/" + itoa(e.form.ID) + "/submissions/" + itoa(sub.ID),
	} {
		assert.Contains(t, strings.ReplaceAll(body, "\r\n", "\n"), want)
	}
	assert.NotContains(t, body, "192.0.2.44", "no IP address in mails")
	log := e.attempts()
	require.Len(t, log, 2)
	assert.True(t, log[0].Delivered)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A notification mail speaks its reader's language: the language of the
// user whose address it goes to, else the form's. Here a German form
// notifies an address nobody signs in with (German), a German-speaking
// user (German) and an English-speaking one (English).
func TestNotificationMailSpeaksTheReadersLanguage(t *testing.T) {
	e := newEnv(t)
	be := &mailBackend{}
	port := startSMTP(t, be, nil)
	for _, u := range []*formbuilder.User{{Email: "chefin@example.com", Name: "Chefin", Language: "de"},
		{Email: "boss@example.com", Name: "Boss", Language: "en"}} {
		require.NoError(t, e.db.CreateUser(e.ctx, u))
	}
	e.form.Name = "Kontakt"
	e.form.Language = "de"
	e.setNotifications(formbuilder.Notifications{Emails: []string{"vertrieb@example.com", "chefin@example.com", "boss@example.com"}})
	cfg := e.config()
	cfg.SMTP = smtpConfig(port)
	cfg.BaseURL = "https://forms.example"
	cfg.Users = e.db
	e.start(cfg)
	sub := e.submit("jane@example.com", "Hallo")
	e.waitState(formbuilder.OutboxDelivered, 3)

	german := []string{
		"Neue Einsendung des Formulars „Kontakt“ (Einsendung " + itoa(sub.ID) + ").",
		"Gesendet:  " + sub.CreatedAt.UTC().Format("02.01.2006 15:04:05 UTC"),
		"Seite:     https://shop.example.com/contact",
		"Erteilte Einwilligungen:\n  - Privacy, Version 1 – vorab angekreuzt, vom Besucher nicht berührt",
		"Im Admin öffnen: https://forms.example/admin/forms/",
		"Von consentforms an die Benachrichtigungsadressen dieses Formulars gesendet.",
	}
	english := []string{
		"New submission of the form “Kontakt” (submission " + itoa(sub.ID) + ").",
		"Sent:  " + sub.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		"Consents given:\n  - Privacy, version 1 – pre-ticked, not touched by the visitor",
		"Open it in the admin: https://forms.example/admin/forms/",
	}
	got := map[string]bool{}
	for _, m := range be.all() {
		msg, body := parseMail(t, m)
		body = strings.ReplaceAll(body, "\r\n", "\n")
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		require.NoError(t, err)
		want, subj, lang := german, "Neue Einsendung: Kontakt", "de"
		if m.to[0] == "boss@example.com" {
			want, subj, lang = english, "New submission: Kontakt", "en"
		}
		assert.Equal(t, subj, subject, m.to[0])
		assert.Equal(t, lang, msg.Header.Get("Content-Language"), m.to[0])
		for _, w := range want {
			assert.Contains(t, body, w, m.to[0])
		}
		got[m.to[0]] = true
	}
	assert.Len(t, got, 3)
}

// STARTTLS is the default mode: the session is encrypted before the
// password is sent, and a server without STARTTLS is refused.
func TestNotificationMailSTARTTLS(t *testing.T) {
	ts := httptest.NewTLSServer(nil) // borrows its certificate for 127.0.0.1
	t.Cleanup(ts.Close)
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())

	e := newEnv(t)
	be := &mailBackend{}
	port := startSMTP(t, be, ts.TLS.Clone())
	plainBE := &mailBackend{}
	plainPort := startSMTP(t, plainBE, nil)
	e.setNotifications(formbuilder.Notifications{Emails: []string{"sales@example.com"}})

	cfg := e.config()
	cfg.SMTP = smtpConfig(port)
	cfg.SMTP.TLS = delivery.TLSStartTLS
	cfg.SMTP.TLSConfig = &tls.Config{RootCAs: roots}
	w, err := delivery.New(cfg)
	require.NoError(t, err)
	require.True(t, w.SMTPConfigured())
	e.start(cfg)
	e.submit("tls@example.com", "over TLS")
	e.waitState(formbuilder.OutboxDelivered, 1)
	require.Len(t, be.all(), 1)
	assert.True(t, be.all()[0].tls, "the mail went over the upgraded connection")

	// The same against a server that offers no STARTTLS: nothing is sent,
	// the log says why.
	e2 := newEnv(t)
	e2.setNotifications(formbuilder.Notifications{Emails: []string{"sales@example.com"}})
	cfg2 := e2.config()
	cfg2.SMTP = smtpConfig(plainPort)
	cfg2.SMTP.TLS = delivery.TLSStartTLS
	cfg2.MaxAge = time.Nanosecond
	e2.start(cfg2)
	e2.submit("tls@example.com", "")
	msgs := e2.waitState(formbuilder.OutboxFailed, 1)
	assert.Contains(t, msgs[0].LastError, "does not offer STARTTLS")
	assert.Empty(t, plainBE.all())
}

func TestMailErrorsAreLoggedAndRetried(t *testing.T) {
	e := newEnv(t)
	be := &mailBackend{refuseRcpt: true}
	port := startSMTP(t, be, nil)
	e.setNotifications(formbuilder.Notifications{Emails: []string{"nobody@example.com"}})
	cfg := e.config()
	cfg.SMTP = smtpConfig(port)
	cfg.SMTP.Password = "wrong"
	cfg.Backoff = func(int) time.Duration { return time.Hour }
	e.start(cfg)
	e.submit("x@example.com", "")
	msgs := e.waitState(formbuilder.OutboxRetrying, 1)
	assert.Contains(t, msgs[0].LastError, "SMTP authentication refused: 535")

	e2 := newEnv(t)
	e2.setNotifications(formbuilder.Notifications{Emails: []string{"nobody@example.com"}})
	cfg2 := e2.config()
	cfg2.SMTP = smtpConfig(port)
	cfg2.Backoff = func(int) time.Duration { return time.Hour }
	e2.start(cfg2)
	e2.submit("x@example.com", "")
	msgs = e2.waitState(formbuilder.OutboxRetrying, 1)
	assert.Contains(t, msgs[0].LastError, "SMTP recipient refused: 550")
	log := e2.attempts()
	require.Len(t, log, 1)
	assert.Equal(t, 550, log[0].Status)
}

// Without SMTP, e-mail messages wait in the outbox untouched while
// webhooks go out; configured later, they are sent.
func TestMailsWaitWithoutSMTP(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	e.setNotifications(formbuilder.Notifications{Emails: []string{"sales@example.com"},
		Webhooks: []formbuilder.Webhook{{URL: rcv.srv.URL, Secret: hookSecret}}})
	cfg := e.config()
	cfg.MaxAge = time.Nanosecond // were mails tried, they would fail for good
	w := e.start(cfg)
	assert.False(t, w.SMTPConfigured())
	e.submit("wait@example.com", "")
	require.Eventually(t, func() bool { return len(rcv.requests()) == 1 }, waitLong, waitTick)
	time.Sleep(60 * time.Millisecond)
	var mailMsg *formbuilder.OutboxMessage
	for _, m := range e.messages() {
		if m.Kind == formbuilder.DeliveryEmail {
			mailMsg = m
		}
	}
	require.NotNil(t, mailMsg)
	assert.Equal(t, formbuilder.OutboxPending, mailMsg.State())
	assert.Zero(t, mailMsg.Attempts)

	be := &mailBackend{}
	cfg.SMTP = smtpConfig(startSMTP(t, be, nil))
	cfg.MaxAge = 0
	e.start(cfg)
	require.Eventually(t, func() bool { return len(be.all()) == 1 }, waitLong, waitTick)
}

func TestSMTPConfigValidate(t *testing.T) {
	ok := &delivery.SMTPConfig{Host: "mail.example.com", From: "robot@example.com"}
	require.NoError(t, ok.Validate())
	assert.Equal(t, 587, ok.Port)
	assert.Equal(t, delivery.TLSStartTLS, ok.TLS)
	implicit := &delivery.SMTPConfig{Host: "mail.example.com", From: "robot@example.com", TLS: "tls"}
	require.NoError(t, implicit.Validate())
	assert.Equal(t, 465, implicit.Port)
	for name, c := range map[string]*delivery.SMTPConfig{
		"no host":      {From: "robot@example.com"},
		"bad from":     {Host: "mail.example.com", From: "robot"},
		"header in it": {Host: "mail.example.com", From: "robot@example.com\r\nBcc: x@example.com"},
		"bad mode":     {Host: "mail.example.com", From: "robot@example.com", TLS: "ssl3"},
		"bad port":     {Host: "mail.example.com", From: "robot@example.com", Port: 70000},
		"bad host":     {Host: "mail.example.com\r\n", From: "robot@example.com"},
	} {
		assert.Error(t, c.Validate(), name)
	}
	var none *delivery.SMTPConfig
	assert.False(t, none.Configured())
	_, err := delivery.New(delivery.Config{})
	assert.Error(t, err)
}
