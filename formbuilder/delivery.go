package formbuilder

import (
	"context"
	"strings"
	"time"
)

// Delivery kinds: how a stored submission reaches the form's owner besides
// the admin inbox.
const (
	DeliveryWebhook = "webhook"
	DeliveryEmail   = "email"
	// DeliveryConfirm is the double opt-in mail to a submission's subject:
	// a signed link per consent that needs confirmation.
	DeliveryConfirm = "confirm"
	// DeliveryAccess is the mail with a signed link to a data subject's
	// own entries (the self-service page); it belongs to no form.
	DeliveryAccess = "access"
	// DeliveryAnchor sends a checkpoint (RefID is its Seq) to an anchor
	// receiver: a webhook URL or a directory. It belongs to no form.
	DeliveryAnchor = "anchor"
)

// DeliveryKinds are every kind of outbox message.
var DeliveryKinds = []string{DeliveryWebhook, DeliveryEmail, DeliveryConfirm, DeliveryAccess, DeliveryAnchor}

// ValidDeliveryKind reports whether k is one of DeliveryKinds.
func ValidDeliveryKind(k string) bool {
	for _, x := range DeliveryKinds {
		if x == k {
			return true
		}
	}
	return false
}

// FormlessKind reports whether messages of kind k belong to no form.
func FormlessKind(k string) bool { return k == DeliveryAccess || k == DeliveryAnchor }

// Webhook is a receiver URL of a form. Each stored submission is POSTed to
// it as JSON, signed with HMAC-SHA256 over "timestamp.body" with Secret.
type Webhook struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// Notifications says where a form's submissions are delivered.
type Notifications struct {
	Webhooks []Webhook `json:"webhooks,omitempty"`
	// Emails receive a notification mail per submission.
	Emails []string `json:"emails,omitempty"`
}

// MaxWebhooks and MaxNotifyEmails bound one form's deliveries.
const (
	MaxWebhooks     = 5
	MaxNotifyEmails = 10
)

// Validate checks receivers; errors are named like "notifications.webhooks.0.url".
func (n *Notifications) Validate() error {
	errs := map[string]Msg{}
	n.validate(errs)
	return FieldErrors(errs)
}

func (n *Notifications) validate(errs map[string]Msg) {
	if len(n.Webhooks) > MaxWebhooks {
		errs["notifications.webhooks"] = M(MsgTooManyWebhooks)
	}
	for i, w := range n.Webhooks {
		p := "notifications.webhooks." + itoa(i)
		if !validHTTPURL(w.URL) || len(w.URL) > 2048 {
			errs[p+".url"] = M(MsgHTTPURL)
		}
		if len(w.Secret) < 16 || len(w.Secret) > 200 {
			errs[p+".secret"] = M(MsgWebhookSecret)
		}
	}
	if len(n.Emails) > MaxNotifyEmails {
		errs["notifications.emails"] = M(MsgTooManyAddresses)
	}
	for i, e := range n.Emails {
		if !validEmail(strings.TrimSpace(e)) {
			errs["notifications.emails."+itoa(i)] = M(MsgInvalidEmail)
		}
	}
}

// Webhook events: what the "event" member of a webhook document says.
const (
	// EventSubmissionCreated is sent for every stored submission.
	EventSubmissionCreated = "submission.created"
	// EventTest is sent by "send test": a sample submission, so a receiver
	// can be checked before real data flows.
	EventTest = "test"
	// EventConsentConfirmed is sent when a visitor confirms a consent that
	// needed confirmation by e-mail: the submission again, with the
	// consents' states now.
	EventConsentConfirmed = "consent.confirmed"
	// EventCheckpoint is what anchor webhooks receive: a signed checkpoint
	// of the consent log's head.
	EventCheckpoint = "chain.checkpoint"
)

// NewWebhookSecret returns a random signing secret for a webhook: "whsec_"
// and 160 random bits, so it passes Validate and cannot be guessed.
func NewWebhookSecret() string { return "whsec_" + RandomKey(20) }

// Webhook returns the form's webhook with the given URL.
func (n *Notifications) Webhook(url string) (Webhook, bool) {
	for _, w := range n.Webhooks {
		if w.URL == url {
			return w, true
		}
	}
	return Webhook{}, false
}

// HasEmail reports whether addr is one of the notification addresses.
func (n *Notifications) HasEmail(addr string) bool {
	for _, e := range n.Emails {
		if strings.EqualFold(strings.TrimSpace(e), addr) {
			return true
		}
	}
	return false
}

// OutboxMessage is one pending delivery, written in the same transaction as
// its submission so that no stored submission is ever left undelivered, and
// retried by a background worker until it is delivered or too old.
//
// A message names its receiver (Target), not the receiver's settings: the
// worker looks the webhook secret up when it sends, so a rotated secret
// signs the retries, and a receiver removed from the form gets nothing more.
type OutboxMessage struct {
	ID           int64  `json:"id"`
	FormID       int64  `json:"form_id"`
	SubmissionID int64  `json:"submission_id,omitempty"`
	Kind         string `json:"kind"`
	// Target is the webhook URL or the one e-mail address: each address of
	// a form gets its own message, so one refusing mailbox does not hold
	// up (or repeat mails to) the others.
	Target string `json:"target"`
	// Test marks a "send test" message, which carries a sample payload.
	Test bool `json:"test"`
	// RefID is, for an anchor message, the checkpoint's Seq; for a webhook
	// of EventConsentConfirmed, the confirmation entry.
	RefID int64 `json:"ref_id,omitempty"`
	// Lang is the language of a mail to a visitor (DeliveryAccess).
	Lang        string    `json:"lang,omitempty"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	// DeliveredAt is zero until delivered; GaveUpAt is set when retries end.
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	GaveUpAt    time.Time `json:"gave_up_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// LastErrorMsg is LastError by message code (as DeliveryAttempt.ErrorMsg).
	LastErrorMsg Msg       `json:"last_error_msg,omitzero"`
	CreatedAt    time.Time `json:"created_at"`
}

// Outbox message states, as State reports them.
const (
	OutboxPending   = "pending"   // not tried yet
	OutboxRetrying  = "retrying"  // failed at least once, will be tried again
	OutboxDelivered = "delivered" // the receiver accepted it
	OutboxFailed    = "failed"    // retries ended without success
)

// State returns one of the Outbox* states.
func (m *OutboxMessage) State() string {
	switch {
	case !m.DeliveredAt.IsZero():
		return OutboxDelivered
	case !m.GaveUpAt.IsZero():
		return OutboxFailed
	case m.Attempts > 0:
		return OutboxRetrying
	}
	return OutboxPending
}

// DeliveryAttempt is one try of an outbox message, for the delivery log.
type DeliveryAttempt struct {
	ID           int64     `json:"id"`
	MessageID    int64     `json:"message_id"`
	FormID       int64     `json:"form_id"`
	SubmissionID int64     `json:"submission_id,omitempty"`
	Kind         string    `json:"kind"`
	Target       string    `json:"target"`
	Test         bool      `json:"test"`
	At           time.Time `json:"at"`
	// Status is the HTTP status of a webhook answer (0 when none came) or
	// the SMTP reply code of a refused mail.
	Status int `json:"status"`
	// Error says why the attempt failed, in English words fit for the
	// admin UI: a category ("timed out", "HTTP 500"), never a raw internal
	// error. ErrorMsg says the same by message code, for the admin in the
	// reader's language (zero on attempts recorded before it was kept).
	Error     string `json:"error,omitempty"`
	ErrorMsg  Msg    `json:"error_msg,omitzero"`
	Duration  int64  `json:"duration_ms"`
	Delivered bool   `json:"delivered"`
}

// OutboxFilter selects outbox messages for the admin UI, newest first.
type OutboxFilter struct {
	FormID       int64
	SubmissionID int64
	// Kind, when set, is DeliveryWebhook or DeliveryEmail.
	Kind string
	// Pending keeps only messages that are neither delivered nor given up.
	Pending bool
	Limit   int
}

// OutboxService stores pending deliveries and their attempts. Messages of
// submissions are created by SubmissionService.CreateSubmission, in the
// transaction that stores the submission, one per webhook and per e-mail
// address of the form at that moment. Message ids are never reused (they
// are the receivers' idempotency keys). With several servers, a message is
// claimed by one ClaimDue at a time (PostgreSQL: FOR UPDATE SKIP LOCKED,
// so a second server takes the next rows instead of waiting), and
// PruneDeliveries runs on one server at a time.
type OutboxService interface {
	// EnqueueTest adds a test delivery for a form's receiver (FormID, Kind,
	// Target); it sets ID, NextAttempt (now) and CreatedAt. EINVALID.
	EnqueueTest(ctx context.Context, m *OutboxMessage) error
	// ClaimDue returns up to limit messages of the given kinds whose
	// NextAttempt is due and pushes their NextAttempt to leaseUntil, so a
	// crashed worker's claim runs again later and two workers never send
	// the same message at once. Kinds that cannot be sent now (e-mail
	// without SMTP) are simply not asked for, and wait.
	ClaimDue(ctx context.Context, now, leaseUntil time.Time, limit int, kinds []string) ([]*OutboxMessage, error)
	// RecordAttempt logs a try and updates the message: delivered when
	// a.Delivered, else retried at next, or given up when next is zero.
	// A message that no longer exists (its submission was deleted) only
	// gets the log entry.
	RecordAttempt(ctx context.Context, a *DeliveryAttempt, next time.Time) error
	// ListAttempts returns a form's delivery log, newest first.
	ListAttempts(ctx context.Context, formID int64, limit int) ([]*DeliveryAttempt, error)
	// ListOutbox returns messages, newest first.
	ListOutbox(ctx context.Context, f OutboxFilter) ([]*OutboxMessage, error)
	// EnqueueAccessLink queues a DeliveryAccess mail to address in lang,
	// whether or not the log knows the address: the worker decides, so
	// that asking takes the same path for every address (no
	// enumeration). EINVALID for an address that is not one.
	EnqueueAccessLink(ctx context.Context, address, lang string) error
	// PruneDeliveries removes finished messages (delivered or given up) and
	// log entries older than before, so the delivery log stays bounded;
	// finished DeliveryAccess messages (and their log entries) go whatever
	// their age, since they hold addresses anyone may have typed.
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
}

// SubmissionFilter selects a form's submissions for the inbox, newest first,
// keyset-paginated by BeforeID (or oldest first from AfterID for exports).
type SubmissionFilter struct {
	FormID int64
	// Query is a substring of the values or the subject (case-insensitive
	// for ASCII letters).
	Query    string
	BeforeID int64
	AfterID  int64
	Limit    int
}

// SubmissionReader lists and exports submissions and removes old ones.
type SubmissionReader interface {
	// ListSubmissions returns a page newest first: below BeforeID when set,
	// above AfterID when set. EINVALID for a bad query.
	ListSubmissions(ctx context.Context, f SubmissionFilter) ([]*Submission, error)
	// ExportSubmissions calls fn for every matching submission, oldest
	// first from AfterID, reading in bounded batches so memory stays flat
	// whatever the count. Limit > 0 caps the count.
	ExportSubmissions(ctx context.Context, f SubmissionFilter, fn func(*Submission) error) error
	// RecordsOfSubmission returns the consent entries given with a submission.
	RecordsOfSubmission(ctx context.Context, submissionID int64) ([]*ConsentRecord, error)
	// DeleteSubmissionsBefore removes a form's submissions older than before
	// (retention), with their undelivered outbox messages. Their consent
	// entries stay: the log is append-only and its chain does not cover
	// submission values. With several servers it runs on one at a time for
	// a form: a server that finds another at it returns 0 and leaves the
	// work to it.
	DeleteSubmissionsBefore(ctx context.Context, formID int64, before time.Time) (int64, error)
}
