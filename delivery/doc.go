// Package delivery gets stored submissions to the people who own the forms:
// a background Worker sends the outbox's messages as signed webhooks and
// notification mails, and a Retention job deletes submissions older than
// each form keeps them.
//
// The submit path never waits for any of this. Storage writes one outbox
// message per receiver in the transaction that stores the submission; the
// worker claims due messages with a lease (a crashed worker's claims come
// due again), sends them, and records every attempt. Delivery is therefore
// at least once: a receiver may see a message twice and should dedupe on
// its Idempotency-Key.
//
// # Webhooks
//
// Each stored submission is POSTed to every webhook URL of its form as JSON
// (see Document):
//
//	{"event":"submission.created",
//	 "form":{"id":1,"key":"…","name":"Contact"},
//	 "submission":{"id":42,"values":{"email":["jane@example.com"]},"subject":"jane@example.com",
//	               "page_url":"https://shop.example.com/contact","created_at":"2026-05-04T10:00:00Z"},
//	 "consents":[{"record_id":7,"consent_id":2,"consent_name":"Privacy","version":3,
//	              "text_hash":"…","initial_state":false,"interacted":true}],
//	 "sent_at":"2026-05-04T10:00:01Z"}
//
// "Send test" in the admin UI sends the same shape with "event":"test" and a
// made-up submission (id 0).
//
// Headers:
//
//	Content-Type: application/json
//	X-Consentforms-Event: submission.created
//	X-Consentforms-Delivery: <outbox message id>   (also sent as Idempotency-Key)
//	X-Consentforms-Timestamp: <unix seconds when this attempt was signed>
//	X-Consentforms-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// A receiver verifies a request like this (Verify does exactly this):
//
//  1. Read the raw body bytes; do not re-encode the JSON.
//  2. Compute HMAC-SHA256 with the webhook's secret over the timestamp
//     header, a full stop and the body, and hex-encode it.
//  3. Compare it in constant time with the part after "sha256=" of the
//     signature header; refuse the request when they differ.
//  4. Refuse timestamps more than 5 minutes from the receiver's clock: a
//     captured request cannot be replayed later, because the timestamp is
//     signed with the body.
//  5. Answer 2xx quickly (within 10 seconds) and process afterwards;
//     remember X-Consentforms-Delivery to drop repeats.
//
// Any 2xx answer marks the message delivered. Anything else (another
// status, a timeout after 10 s, a refused connection) is retried with
// exponential backoff — 30 s, doubling, at most 1 h apart, with jitter — for
// a day after the submission, then given up. Redirects are followed only
// with 307/308 (which keep the POST and its body) and only to http(s) URLs;
// at most 64 KiB of an answer are read. Every attempt lands in the delivery
// log shown per form in the admin UI, with its status, a short error and
// its duration; the answer's body is never stored or shown.
//
// Unless Config.AllowPrivate, webhooks reach public addresses only
// (formbuilder.NonPublicAddr), checked on the address each connection dials:
// after DNS resolution and on every redirect (see NewHTTPClient).
//
// # E-mail
//
// Each notification address of a form gets a plain-text mail per submission
// through the configured SMTP server (SMTPConfig): the form's field labels
// with their values, the page, the time and the consents given. Values go
// only into the quoted-printable body; the subject is built from the form's
// name and encoded with RFC 2047, addresses are validated, so no visitor
// input can reach a header. Without SMTP configured, e-mail messages wait
// in the outbox until it is.
package delivery
