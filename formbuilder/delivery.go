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
)

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
	errs := map[string]string{}
	n.validate(errs)
	return FieldErrors(errs)
}

func (n *Notifications) validate(errs map[string]string) {
	if len(n.Webhooks) > MaxWebhooks {
		errs["notifications.webhooks"] = "too many webhooks"
	}
	for i, w := range n.Webhooks {
		p := "notifications.webhooks." + itoa(i)
		if !validHTTPURL(w.URL) || len(w.URL) > 2048 {
			errs[p+".url"] = "must be an http or https URL"
		}
		if len(w.Secret) < 16 || len(w.Secret) > 200 {
			errs[p+".secret"] = "must be 16 to 200 characters"
		}
	}
	if len(n.Emails) > MaxNotifyEmails {
		errs["notifications.emails"] = "too many addresses"
	}
	for i, e := range n.Emails {
		if !validEmail(strings.TrimSpace(e)) {
			errs["notifications.emails."+itoa(i)] = "is not a valid e-mail address"
		}
	}
}

// OutboxMessage is one pending delivery, written in the same transaction as
// its submission so that no stored submission is ever left undelivered, and
// retried by a background worker until it is delivered or too old.
type OutboxMessage struct {
	ID           int64  `json:"id"`
	FormID       int64  `json:"form_id"`
	SubmissionID int64  `json:"submission_id,omitempty"`
	Kind         string `json:"kind"`
	// Target is the webhook URL or the comma-separated e-mail addresses.
	Target string `json:"target"`
	// Test marks a "send test" message, which carries a sample payload.
	Test        bool      `json:"test"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	// DeliveredAt is zero until delivered; GaveUpAt is set when retries end.
	DeliveredAt time.Time `json:"delivered_at,omitempty"`
	GaveUpAt    time.Time `json:"gave_up_at,omitempty"`
	LastError   string    `json:"last_error,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// DeliveryAttempt is one try of an outbox message, for the delivery log.
type DeliveryAttempt struct {
	ID        int64     `json:"id"`
	MessageID int64     `json:"message_id"`
	FormID    int64     `json:"form_id"`
	Kind      string    `json:"kind"`
	Target    string    `json:"target"`
	At        time.Time `json:"at"`
	// Status is the HTTP status of a webhook answer (0 when none came).
	Status    int    `json:"status"`
	Error     string `json:"error,omitempty"`
	Duration  int64  `json:"duration_ms"`
	Delivered bool   `json:"delivered"`
}

// OutboxService stores pending deliveries and their attempts.
type OutboxService interface {
	// EnqueueTest adds a test delivery for a form's receiver.
	EnqueueTest(ctx context.Context, m *OutboxMessage) error
	// ClaimDue returns up to limit messages whose NextAttempt is due and
	// pushes their NextAttempt to leaseUntil, so a crashed worker's claim
	// runs again later and two workers never send the same message at once.
	ClaimDue(ctx context.Context, now, leaseUntil time.Time, limit int) ([]*OutboxMessage, error)
	// RecordAttempt logs a try and updates the message: delivered, retried at
	// next, or given up when next is zero.
	RecordAttempt(ctx context.Context, a *DeliveryAttempt, next time.Time) error
	ListAttempts(ctx context.Context, formID int64, limit int) ([]*DeliveryAttempt, error)
	ListOutbox(ctx context.Context, formID int64, limit int) ([]*OutboxMessage, error)
}

// SubmissionFilter selects a form's submissions for the inbox, newest first,
// keyset-paginated by BeforeID (or oldest first from AfterID for exports).
type SubmissionFilter struct {
	FormID   int64
	Query    string
	BeforeID int64
	AfterID  int64
	Limit    int
}

// SubmissionReader lists and exports submissions and removes old ones.
type SubmissionReader interface {
	ListSubmissions(ctx context.Context, f SubmissionFilter) ([]*Submission, error)
	ExportSubmissions(ctx context.Context, f SubmissionFilter, fn func(*Submission) error) error
	// RecordsOfSubmission returns the consent entries given with a submission.
	RecordsOfSubmission(ctx context.Context, submissionID int64) ([]*ConsentRecord, error)
	// DeleteSubmissionsBefore removes a form's submissions older than before
	// (retention). Their consent entries stay: the log is append-only and its
	// chain does not cover submission values.
	DeleteSubmissionsBefore(ctx context.Context, formID int64, before time.Time) (int64, error)
}
