package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// Defaults of Config.
const (
	DefaultInterval    = time.Second
	DefaultLease       = 2 * time.Minute
	DefaultMaxAge      = 24 * time.Hour
	DefaultConcurrency = 8
	DefaultHTTPTimeout = 10 * time.Second
)

// Config is what a Worker needs. Outbox, Forms, Submissions and Inbox are
// required; everything else has a default.
type Config struct {
	Outbox      formbuilder.OutboxService
	Forms       formbuilder.FormService
	Submissions formbuilder.SubmissionService
	Inbox       formbuilder.SubmissionReader
	// Wake, when set, starts a round at once (sqlite.DB.OutboxSignal), so
	// a submission is sent right after its commit rather than at the next
	// poll.
	Wake <-chan struct{}
	// SMTP sends the notification mails; nil (or not Configured) leaves
	// e-mail messages waiting in the outbox.
	SMTP *SMTPConfig
	// HTTPClient sends webhooks; nil means NewHTTPClient(10s, AllowPrivate).
	// A client given here must make its own address check.
	HTTPClient *http.Client
	// AllowPrivate lets webhooks go to loopback, private and other
	// non-public addresses (--webhook-allow-private). Off, they go to
	// public addresses only, checked on every connection.
	AllowPrivate bool
	// Users, when set, lets a notification mail to the address of an
	// active user speak that user's language (users.language); any other
	// address gets the form's language.
	Users UserFinder
	// BaseURL of the admin UI, for the link in mails; empty for none.
	BaseURL string
	// Log, Consents and Links make the mails to visitors: double opt-in
	// confirmations and links to one's own entries. Without all three
	// (and SMTP) those mails wait in the outbox.
	Log      formbuilder.ConsentLog
	Consents formbuilder.ConsentService
	Links    VisitorLinks
	// Anchors holds the checkpoints that anchor messages carry; nil leaves
	// those waiting. AnchorReceivers are the receivers configured now: a
	// message to any other is given up. AnchorSecret signs the anchor
	// webhooks as a form's secret signs its webhooks.
	Anchors         formbuilder.AnchorService
	AnchorReceivers []string
	AnchorSecret    string
	// Interval between polls when nothing wakes the worker (default 1s).
	Interval time.Duration
	// Lease is how long a claimed message is reserved; a worker that dies
	// meanwhile leaves it to be sent again after that (default 2m). It must
	// exceed the longest attempt (HTTP 10s, SMTP 30s).
	Lease time.Duration
	// MaxAge is how long after its creation a message is retried before
	// the worker gives up (default 24h).
	MaxAge time.Duration
	// Concurrency bounds the attempts in flight (default 8), so a slow
	// receiver holds one slot, not the worker.
	Concurrency int
	// Backoff returns the wait after the n-th failed attempt (n >= 1);
	// default DefaultBackoff. Tests make it short.
	Backoff func(n int) time.Duration
	// Now is the clock; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Observer, when set, hears the result of every attempt (metrics).
	Observer formbuilder.DeliveryObserver
}

// UserFinder finds a user by e-mail address (formbuilder.UserService
// does).
type UserFinder interface {
	FindUserByEmail(ctx context.Context, email string) (*formbuilder.User, error)
}

// DefaultBackoff waits 30s after the first failure, doubling up to 1h,
// with ±20% jitter so that messages that failed together (a receiver's
// outage) do not all come back in the same second.
func DefaultBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := 30 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	d = min(d, time.Hour)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// Worker sends the outbox's messages. Run it in a goroutine of its own.
type Worker struct {
	cfg  Config
	kick chan struct{}
	// kinds are the message kinds this worker sends: webhooks, and e-mails
	// when SMTP is configured.
	kinds    []string
	inflight atomic.Int32
	wg       sync.WaitGroup
	// Counters for tests and the admin UI.
	sent, failed atomic.Int64
}

// New checks cfg, fills in defaults and returns a worker.
func New(cfg Config) (*Worker, error) {
	if cfg.Outbox == nil || cfg.Forms == nil || cfg.Submissions == nil || cfg.Inbox == nil {
		return nil, errors.New("delivery: Outbox, Forms, Submissions and Inbox are required")
	}
	if cfg.SMTP != nil && (cfg.SMTP.Host != "" || cfg.SMTP.From != "") {
		// Half a configuration is a mistake to report, not a reason to
		// hold every mail back silently.
		if err := cfg.SMTP.Validate(); err != nil {
			return nil, err
		}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = NewHTTPClient(DefaultHTTPTimeout, cfg.AllowPrivate)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	kinds := []string{formbuilder.DeliveryWebhook}
	if cfg.SMTP.Configured() {
		kinds = append(kinds, formbuilder.DeliveryEmail)
		if cfg.Log != nil && cfg.Consents != nil && cfg.Links != nil {
			kinds = append(kinds, formbuilder.DeliveryConfirm, formbuilder.DeliveryAccess)
		}
	}
	if cfg.Anchors != nil {
		kinds = append(kinds, formbuilder.DeliveryAnchor)
	}
	return &Worker{cfg: cfg, kick: make(chan struct{}, 1), kinds: kinds}, nil
}

// SMTPConfigured reports whether e-mail messages are sent.
func (w *Worker) SMTPConfigured() bool { return w.cfg.SMTP.Configured() }

// Wake starts a round soon; it never blocks.
func (w *Worker) Wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run sends due messages until ctx ends, then waits for the attempts in
// flight (which ctx's end cuts short; they are not recorded and their
// leases bring them back later).
func (w *Worker) Run(ctx context.Context) {
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	defer w.wg.Wait()
	for {
		_ = protect(w.cfg.Logger, "delivery: a round", func() error { w.round(ctx); return nil })
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.cfg.Wake:
		case <-w.kick:
		}
	}
}

// round claims as many due messages as there are free slots and starts
// them. A finished attempt kicks the next round, so a backlog drains at
// the concurrency limit without waiting for the ticker.
func (w *Worker) round(ctx context.Context) {
	free := w.cfg.Concurrency - int(w.inflight.Load())
	if free <= 0 || ctx.Err() != nil {
		return
	}
	now := w.cfg.Now()
	msgs, err := w.cfg.Outbox.ClaimDue(ctx, now, now.Add(w.cfg.Lease), free, w.kinds)
	if err != nil {
		if ctx.Err() == nil {
			w.cfg.Logger.Error("delivery: claim due messages", "err", err)
		}
		return
	}
	for _, m := range msgs {
		w.inflight.Add(1)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer w.inflight.Add(-1)
			defer w.Wake()
			// A panic past attempt's own guard (recording the attempt)
			// leaves the message leased: it comes back after the lease.
			_ = protect(w.cfg.Logger, "delivery: an attempt", func() error { w.attempt(ctx, m); return nil })
		}()
	}
}

// attempt sends m once and records the outcome. A panic while sending is
// an internal error of this attempt: recorded, and retried like any other.
func (w *Worker) attempt(ctx context.Context, m *formbuilder.OutboxMessage) {
	start := w.cfg.Now()
	var status int
	err := protect(w.cfg.Logger, "delivery: sending message "+strconv.FormatInt(m.ID, 10), func() (err error) {
		status, err = w.send(ctx, m, start)
		return err
	})
	a := &formbuilder.DeliveryAttempt{
		MessageID: m.ID, FormID: m.FormID, SubmissionID: m.SubmissionID, Kind: m.Kind, Target: m.Target,
		Test: m.Test, At: start, Status: status, Duration: w.cfg.Now().Sub(start).Milliseconds(),
		Delivered: err == nil,
	}
	var next time.Time
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down: not the receiver's fault. The lease brings the
			// message back after a restart.
			return
		}
		var f *failure
		if !errors.As(err, &f) {
			// Our side failed (the database, say): log the detail, show
			// the admin only that it was internal.
			w.cfg.Logger.Error("delivery: preparing a message failed", "message", m.ID, "err", err)
			f = fail(dm(formbuilder.MsgDlvInternal))
		}
		a.Error, a.ErrorMsg = f.msg.String(), f.msg
		age := start.Sub(m.CreatedAt)
		switch {
		case f.permanent, m.Test, age >= w.cfg.MaxAge:
			// Tests are tried once: the admin is waiting for the result.
			if !m.Test {
				w.cfg.Logger.Warn("delivery given up", "message", m.ID, "form", m.FormID, "kind", m.Kind,
					"attempts", m.Attempts+1, "error", f.msg.String())
			}
		default:
			next = start.Add(w.cfg.Backoff(m.Attempts + 1))
		}
		w.failed.Add(1)
	} else {
		w.sent.Add(1)
	}
	if w.cfg.Observer != nil {
		w.cfg.Observer.ObserveDelivery(m.Kind, err == nil)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.cfg.Outbox.RecordAttempt(rctx, a, next); err != nil {
		// The message stays leased and comes back: at least once.
		w.cfg.Logger.Error("delivery: record attempt", "message", m.ID, "err", err)
	}
}

// protect runs fn and turns a panic in it into an error, after logging the
// panic with its stack. The worker and the retention job run beside the
// server in the same process: a bug in one delivery must not end it.
func protect(logger *slog.Logger, what string, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			logger.Error(what+" panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("%s: panic: %v", what, p)
		}
	}()
	return fn()
}

// send makes one attempt at m and returns the answer's status (webhooks),
// a *failure for the receiver's problems, or another error for ours.
func (w *Worker) send(ctx context.Context, m *formbuilder.OutboxMessage, now time.Time) (int, error) {
	// The messages of no form.
	switch m.Kind {
	case formbuilder.DeliveryAnchor:
		return w.sendAnchor(ctx, m, now)
	case formbuilder.DeliveryAccess:
		return mailStatus(w.sendAccessMail(ctx, m, now))
	}
	form, err := w.cfg.Forms.FindFormByID(ctx, m.FormID)
	if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
		return 0, permanent(dm(formbuilder.MsgDlvFormGone))
	}
	if err != nil {
		return 0, err
	}
	var sub *formbuilder.Submission
	var records []*formbuilder.ConsentRecord
	if m.Test {
		sub, records = SampleSubmission(form, w.cfg.BaseURL, now)
	} else {
		sub, err = w.cfg.Submissions.FindSubmission(ctx, m.SubmissionID)
		if formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND {
			return 0, permanent(dm(formbuilder.MsgDlvSubmissionGone))
		}
		if err != nil {
			return 0, err
		}
		if records, err = w.cfg.Inbox.RecordsOfSubmission(ctx, sub.ID); err != nil {
			return 0, err
		}
	}
	switch m.Kind {
	case formbuilder.DeliveryWebhook:
		hook, ok := form.Notifications.Webhook(m.Target)
		if !ok {
			return 0, permanent(dm(formbuilder.MsgDlvWebhookRemoved))
		}
		event := formbuilder.EventSubmissionCreated
		if m.Test {
			event = formbuilder.EventTest
		}
		if m.RefID != 0 {
			// A confirmation of a consent given with this submission.
			event = formbuilder.EventConsentConfirmed
		}
		doc := NewDocument(event, form, sub, records, now)
		return sendWebhook(ctx, w.cfg.HTTPClient, w.cfg.AllowPrivate, hook, m.ID, event, doc, now)
	case formbuilder.DeliveryConfirm:
		return mailStatus(w.sendConfirmMail(ctx, m, form, records, now))
	case formbuilder.DeliveryEmail:
		if !form.Notifications.HasEmail(m.Target) {
			return 0, permanent(dm(formbuilder.MsgDlvAddressRemoved))
		}
		if !w.SMTPConfigured() {
			return 0, fail(dm(formbuilder.MsgDlvSMTPOff))
		}
		d := &mailData{messageID: m.ID, to: m.Target, form: form, sub: sub, records: records, test: m.Test, now: now,
			lang: w.mailLang(ctx, m.Target, form)}
		if w.cfg.BaseURL != "" && sub.ID > 0 {
			d.adminURL = w.cfg.BaseURL + "/admin/forms/" + strconv.FormatInt(form.ID, 10) +
				"/submissions/" + strconv.FormatInt(sub.ID, 10)
		}
		msg, err := buildMail(w.cfg.SMTP.from, d)
		if err != nil {
			return 0, err
		}
		return mailStatus(sendMail(ctx, w.cfg.SMTP, m.Target, msg))
	}
	return 0, permanent(dm(formbuilder.MsgDlvUnknownKind))
}

// mailStatus is the status of a mail attempt that ended with err: the SMTP
// reply code of a refusal, else 0.
func mailStatus(err error) (int, error) {
	var f *failure
	if errors.As(err, &f) {
		return f.status, err
	}
	return 0, err
}

// mailLang is the language of a notification mail to address to: its
// user's, when the address is an active user's with a language, else the
// form's. A failed lookup falls back too: the mail matters more than its
// language.
func (w *Worker) mailLang(ctx context.Context, to string, form *formbuilder.Form) string {
	if w.cfg.Users != nil {
		u, err := w.cfg.Users.FindUserByEmail(ctx, to)
		if err == nil && u.Active() && formbuilder.ValidLanguage(u.Language) {
			return u.Language
		}
		if err != nil && formbuilder.ErrorCode(err) != formbuilder.ENOTFOUND {
			w.cfg.Logger.Warn("delivery: looking up the language of a mail's recipient", "err", err)
		}
	}
	return formbuilder.Lang(form.Language)
}

// SampleSubmission is what "send test" delivers: an example value for each
// field of form, and each of its consents as if given with the box as the
// form shows it. Its id is 0, so no receiver can mistake it for real data.
func SampleSubmission(form *formbuilder.Form, baseURL string, now time.Time) (*formbuilder.Submission, []*formbuilder.ConsentRecord) {
	sub := &formbuilder.Submission{FormID: form.ID, FormKey: form.Key, Values: map[string][]string{},
		CreatedAt: now.UTC()}
	if baseURL != "" {
		sub.PageURL = baseURL + "/f/" + form.Key
	}
	for _, f := range form.Fields {
		var v string
		switch f.Kind {
		case formbuilder.KindName:
			v = "Jane Doe"
		case formbuilder.KindEmail:
			v = "jane.doe@example.com"
		case formbuilder.KindPhone:
			v = "+49 30 1234567"
		case formbuilder.KindTextarea:
			v = "This is a test message from consentforms.\nIt has two lines."
		case formbuilder.KindDate:
			v = now.UTC().Format("2006-01-02")
		case formbuilder.KindNumber:
			v = "42"
		case formbuilder.KindCheckbox:
			v = "yes"
			if len(f.Options) > 0 {
				v = f.Options[0]
			}
		case formbuilder.KindSelect, formbuilder.KindRadio:
			if len(f.Options) > 0 {
				v = f.Options[0]
			}
		case formbuilder.KindHidden:
			v = f.Default
		default:
			v = "Example"
		}
		if v != "" {
			sub.Values[f.Key] = []string{v}
		}
		if sub.Subject == "" && f.Kind == formbuilder.KindEmail {
			sub.Subject = v
		}
	}
	var recs []*formbuilder.ConsentRecord
	for _, fc := range form.Consents {
		r := &formbuilder.ConsentRecord{Action: formbuilder.ActionGiven, ConsentID: fc.ConsentID,
			InitialState: fc.CheckedByDefault, Interacted: !fc.CheckedByDefault, Time: now.UTC()}
		if fc.Consent != nil {
			r.ConsentName = fc.Consent.Name
			if fc.Consent.Current != nil {
				r.VersionID, r.VersionNo, r.TextHash = fc.Consent.Current.ID, fc.Consent.Current.Number, fc.Consent.Current.Hash
			}
		}
		recs = append(recs, r)
	}
	return sub, recs
}
