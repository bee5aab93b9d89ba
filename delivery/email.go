package delivery

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/consentforms/consentforms/formbuilder"
)

// SMTP security modes.
const (
	// TLSStartTLS connects in plain text and upgrades with STARTTLS before
	// anything else is sent; a server without STARTTLS is refused. The
	// usual mode for the submission port 587.
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (port 465).
	TLSImplicit = "tls"
	// TLSNone sends in plain text. Credentials are then only sent to a
	// server on the loopback interface (net/smtp refuses otherwise).
	TLSNone = "none"
)

// SMTPConfig is the mail server notification mails go through.
type SMTPConfig struct {
	Host string
	// Port defaults to 587 (465 for TLSImplicit).
	Port int
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS      string
	User     string
	Password string
	// From is the sender, "name@example.com" or "Name <name@example.com>".
	From string
	// HeloName is the name the client greets with; default the host name.
	HeloName string
	// Timeout bounds one whole SMTP session; default 30s.
	Timeout time.Duration
	// TLSConfig, when set, is the base of the TLS settings (tests pass their
	// own root certificates); ServerName is always set to Host.
	TLSConfig *tls.Config

	from *mail.Address
}

// Configured reports whether mails can be sent at all: a host and a sender.
func (c *SMTPConfig) Configured() bool { return c != nil && c.Host != "" && c.From != "" }

// Validate checks the configuration and fills in defaults. A partial
// configuration (a host without a sender, say) is an error, so a typo in a
// flag does not silently hold back every mail.
func (c *SMTPConfig) Validate() error {
	if c.TLS == "" {
		c.TLS = TLSStartTLS
	}
	switch c.TLS {
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("smtp tls must be %s, %s or %s, not %q", TLSStartTLS, TLSImplicit, TLSNone, c.TLS)
	}
	if c.Port == 0 {
		c.Port = 587
		if c.TLS == TLSImplicit {
			c.Port = 465
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		return fmt.Errorf("smtp port %d is out of range", c.Port)
	}
	if c.Host == "" {
		return errors.New("smtp host is required")
	}
	if strings.ContainsAny(c.Host, " \r\n/") {
		return fmt.Errorf("smtp host %q is not a host name", c.Host)
	}
	a, err := mail.ParseAddress(c.From)
	if err != nil || !formbuilder.ValidEmail(a.Address) {
		return fmt.Errorf("smtp from %q is not an e-mail address", c.From)
	}
	c.from = a
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.HeloName == "" {
		c.HeloName = "localhost"
		if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") && !strings.ContainsAny(h, " \r\n") {
			c.HeloName = h
		}
	}
	return nil
}

// mailData is what a notification mail says.
type mailData struct {
	messageID int64
	to        string
	form      *formbuilder.Form
	sub       *formbuilder.Submission
	records   []*formbuilder.ConsentRecord
	test      bool
	// adminURL links to the submission in the admin UI; empty for none.
	adminURL string
	// lang is the language the mail is written in (mailLang).
	lang string
	now  time.Time
}

// headerText makes admin-written text (the form's name) fit for one header
// line: control characters become spaces, and it is shortened.
func headerText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// buildMail returns the message: headers from validated addresses and the
// encoded subject, the text in a quoted-printable body, in d.lang.
func buildMail(from *mail.Address, d *mailData) ([]byte, error) {
	if !formbuilder.ValidEmail(d.to) {
		return nil, permanent(dm(formbuilder.MsgDlvBadAddress))
	}
	key := "mail.subject"
	if d.test {
		key = "mail.subject_test"
	}
	subject := formbuilder.T(d.lang, key, "form", headerText(d.form.Name, 150))
	replyTo := ""
	if d.sub.Subject != "" && formbuilder.ValidEmail(d.sub.Subject) {
		// Replying answers the visitor; the address passed the same check
		// as the recipients, so it cannot carry a header of its own.
		replyTo = d.sub.Subject
	}
	return composeMail(from, outgoing{messageID: d.messageID, to: d.to, subject: subject, replyTo: replyTo,
		text: mailText(d), lang: d.lang, now: d.now})
}

// outgoing is a plain-text mail: the recipient and reply address
// (validated by the caller), the subject and the text in lang.
type outgoing struct {
	messageID     int64
	to, replyTo   string
	subject, text string
	lang          string
	now           time.Time
}

// composeMail returns the message of o from from: headers from validated
// addresses and the RFC 2047-encoded subject, the text in a
// quoted-printable body, so nothing in a value can become a header.
func composeMail(from *mail.Address, o outgoing) ([]byte, error) {
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	var b bytes.Buffer
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from.String())
	h("To", "<"+o.to+">")
	h("Subject", mime.QEncoding.Encode("utf-8", o.subject))
	h("Date", o.now.UTC().Format(time.RFC1123Z))
	h("Message-ID", "<consentforms."+strconv.FormatInt(o.messageID, 10)+"."+formbuilder.RandomKey(8)+"@"+domain+">")
	if o.replyTo != "" {
		h("Reply-To", "<"+o.replyTo+">")
	}
	if o.lang != "" {
		h("Content-Language", o.lang)
	}
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated")
	h(HeaderDelivery, strconv.FormatInt(o.messageID, 10))
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(o.text)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// mailText is the plain text of a notification in d.lang: every answer
// under its field's label, then where and when it was sent and the
// consents given.
func mailText(d *mailData) string {
	var b strings.Builder
	nl := func(s ...string) {
		for _, x := range s {
			b.WriteString(x)
		}
		b.WriteString("\n")
	}
	t := func(key string, kv ...string) string { return formbuilder.T(d.lang, key, kv...) }
	if d.test {
		nl(t("mail.test_note"))
		nl()
	}
	name := headerText(d.form.Name, 200)
	if d.sub.ID > 0 {
		nl(t("mail.intro_id", "form", name, "id", strconv.FormatInt(d.sub.ID, 10)))
	} else {
		nl(t("mail.intro", "form", name))
	}
	nl()
	for _, v := range formbuilder.LabeledValues(d.form, d.sub, false) {
		nl(v.Label)
		for _, val := range v.Values {
			for _, line := range strings.Split(strings.ReplaceAll(val, "\r\n", "\n"), "\n") {
				nl("  ", line)
			}
		}
		nl()
	}
	nl(t("mail.sent", "time", d.sub.CreatedAt.UTC().Format(t("format.second_utc"))))
	if d.sub.PageURL != "" {
		nl(t("mail.page", "url", d.sub.PageURL))
	}
	given := 0
	for _, r := range d.records {
		if r.Action == formbuilder.ActionGiven {
			if given == 0 {
				nl()
				nl(t("mail.consents"))
			}
			given++
			key := "mail.consent"
			if r.PreTickedUntouched() {
				key = "mail.consent_pre_ticked"
			}
			if r.NeedsConfirmation() {
				key += "_doi"
			}
			nl("  - ", t(key, "name", r.ConsentName, "version", strconv.Itoa(r.VersionNo)))
		}
	}
	if d.adminURL != "" {
		nl()
		nl(t("mail.open", "url", d.adminURL))
	}
	nl()
	nl("-- ")
	nl(t("mail.footer"))
	return b.String()
}

// sendMail delivers msg to one recipient through cfg's server.
func sendMail(ctx context.Context, cfg *SMTPConfig, to string, msg []byte) error {
	deadline := time.Now().Add(cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := net.Dialer{Deadline: deadline}
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fail(dm(formbuilder.MsgDlvSMTPServer).With("problem", describeNetError(err)))
	}
	defer conn.Close()
	// One deadline for the whole session, and a cancelled ctx (shutdown)
	// ends it at once.
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	tlsCfg := &tls.Config{}
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	}
	tlsCfg.ServerName = cfg.Host
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	if cfg.TLS == TLSImplicit {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(dm(formbuilder.MsgDlvSMTPServer).With("problem", describeNetError(err)))
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		return smtpFailure("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(cfg.HeloName); err != nil {
		return smtpFailure("HELO", err)
	}
	if cfg.TLS == TLSStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return fail(dm(formbuilder.MsgDlvNoStartTLS))
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return smtpFailure("STARTTLS", err)
		}
	}
	if cfg.User != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fail(dm(formbuilder.MsgDlvNoAuth))
		}
		if err := c.Auth(smtp.PlainAuth("", cfg.User, cfg.Password, cfg.Host)); err != nil {
			return smtpFailure("authentication", err)
		}
	}
	if err := c.Mail(cfg.from.Address); err != nil {
		return smtpFailure("sender", err)
	}
	if err := c.Rcpt(to); err != nil {
		return smtpFailure("recipient", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpFailure("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpFailure("message", err)
	}
	if err := w.Close(); err != nil {
		return smtpFailure("message", err)
	}
	_ = c.Quit()
	return nil
}

// smtpSteps names the steps of the SMTP dialogue in the delivery log.
var smtpSteps = map[string]formbuilder.MsgCode{
	"DATA": formbuilder.MsgSMTPStepData, "HELO": formbuilder.MsgSMTPStepHELO, "STARTTLS": formbuilder.MsgSMTPStepStartTLS,
	"authentication": formbuilder.MsgSMTPStepAuth, "greeting": formbuilder.MsgSMTPStepGreeting,
	"message": formbuilder.MsgSMTPStepMessage, "recipient": formbuilder.MsgSMTPStepRecipient,
	"sender": formbuilder.MsgSMTPStepSender,
}

// smtpFailure describes an error of the SMTP dialogue: the server's reply
// code and (cleaned, shortened) text when it answered, else the kind of
// connection problem.
func smtpFailure(step string, err error) error {
	stepMsg := dm(smtpSteps[step])
	var te *textproto.Error
	if errors.As(err, &te) {
		return &failure{msg: dm(formbuilder.MsgDlvSMTPRefused, "code", strconv.Itoa(te.Code),
			"reply", headerText(te.Msg, 120)).With("step", stepMsg), status: te.Code}
	}
	if strings.Contains(err.Error(), "unencrypted connection") {
		return fail(dm(formbuilder.MsgDlvPlainPassword))
	}
	return fail(dm(formbuilder.MsgDlvSMTPStep).With("step", stepMsg).With("problem", describeNetError(err)))
}
