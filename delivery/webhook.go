package delivery

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// Header names of a webhook request.
const (
	HeaderEvent     = "X-Consentforms-Event"
	HeaderDelivery  = "X-Consentforms-Delivery"
	HeaderTimestamp = "X-Consentforms-Timestamp"
	HeaderSignature = "X-Consentforms-Signature"
	// HeaderIdempotency carries the delivery id too, under the name
	// generic receivers (payment-style APIs, queues) dedupe on.
	HeaderIdempotency = "Idempotency-Key"
)

// DefaultTolerance is how far a receiver should accept a timestamp from its
// own clock; older requests are refused as possible replays.
const DefaultTolerance = 5 * time.Minute

// Document is the JSON body of a webhook request.
type Document struct {
	Event      string        `json:"event"`
	Form       DocForm       `json:"form"`
	Submission DocSubmission `json:"submission"`
	Consents   []DocConsent  `json:"consents"`
	SentAt     time.Time     `json:"sent_at"`
}

// DocForm names the form a submission came through.
type DocForm struct {
	ID   int64  `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
}

// DocSubmission is the submission: values per field key (a list, because a
// checkbox group has several), the subject (the e-mail or phone it
// identifies the visitor by), the page it was sent from and when.
type DocSubmission struct {
	ID        int64               `json:"id"`
	Values    map[string][]string `json:"values"`
	Subject   string              `json:"subject"`
	PageURL   string              `json:"page_url"`
	CreatedAt time.Time           `json:"created_at"`
}

// DocConsent is one consent given with the submission, as the consent log
// recorded it: the entry's id, the consent and version, the SHA-256 of the
// text the visitor was shown, whether the box was pre-ticked and whether the
// visitor touched it.
type DocConsent struct {
	RecordID     int64  `json:"record_id"`
	ConsentID    int64  `json:"consent_id"`
	ConsentName  string `json:"consent_name"`
	Version      int    `json:"version"`
	TextHash     string `json:"text_hash"`
	InitialState bool   `json:"initial_state"`
	Interacted   bool   `json:"interacted"`
	// Confirmation is the state of a consent that needs confirmation by
	// e-mail (double opt-in): unconfirmed, confirmed or expired; absent
	// for one that needs none. ConfirmBy is its deadline.
	Confirmation string     `json:"confirmation,omitempty"`
	ConfirmBy    *time.Time `json:"confirm_by,omitempty"`
}

// NewDocument builds the document of a stored submission.
func NewDocument(event string, form *formbuilder.Form, sub *formbuilder.Submission,
	records []*formbuilder.ConsentRecord, sentAt time.Time) *Document {
	d := &Document{
		Event: event,
		Form:  DocForm{ID: form.ID, Key: form.Key, Name: form.Name},
		Submission: DocSubmission{ID: sub.ID, Values: sub.Values, Subject: sub.Subject, PageURL: sub.PageURL,
			CreatedAt: sub.CreatedAt.UTC()},
		Consents: []DocConsent{},
		SentAt:   sentAt.UTC(),
	}
	if d.Submission.Values == nil {
		d.Submission.Values = map[string][]string{}
	}
	// A confirmation keeps the submission, so it is among the records.
	confirmed := map[int64]bool{}
	for _, r := range records {
		if r.Action == formbuilder.ActionConfirmed {
			confirmed[r.ConfirmsID] = true
		}
	}
	for _, r := range records {
		if r.Action != formbuilder.ActionGiven {
			continue
		}
		dc := DocConsent{RecordID: r.ID, ConsentID: r.ConsentID, ConsentName: r.ConsentName,
			Version: r.VersionNo, TextHash: r.TextHash, InitialState: r.InitialState, Interacted: r.Interacted,
			Confirmation: r.ConfirmationState(confirmed[r.ID], sentAt)}
		if r.NeedsConfirmation() {
			by := r.ConfirmBy.UTC()
			dc.ConfirmBy = &by
		}
		d.Consents = append(d.Consents, dc)
	}
	return d
}

// Sign returns the signature header value for a body sent at ts (unix
// seconds): "sha256=" and the hex HMAC-SHA256 of ts + "." + body.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("delivery: missing or malformed signature headers")
	ErrBadSignature = errors.New("delivery: signature does not match")
	ErrStale        = errors.New("delivery: timestamp outside the tolerance (possible replay)")
)

// Verify checks a webhook request as a receiver should: the signature over
// the timestamp header and the raw body, and the timestamp within tolerance
// of now. The signature header may list several comma-separated values (a
// sender rotating secrets); one matching is enough.
func Verify(secret, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil || signature == "" {
		return ErrNoSignature
	}
	want := Sign(secret, ts, body)
	ok := false
	for _, s := range strings.Split(signature, ",") {
		if hmac.Equal([]byte(strings.TrimSpace(s)), []byte(want)) {
			ok = true
		}
	}
	if !ok {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// maxAnswer bounds how much of a receiver's answer is read: only its status
// counts, but reading a little lets the connection be reused.
const maxAnswer = 64 << 10

// maxRedirects bounds the redirects a delivery follows.
const maxRedirects = 3

// NewHTTPClient returns the webhook client: timeout bounds a whole attempt
// (connect, TLS, send, answer), redirects are followed only when they keep
// the POST and its body (307, 308) and lead to http(s).
//
// Unless allowPrivate, it connects to public addresses only
// (formbuilder.NonPublicAddr): the check runs on the address each
// connection actually dials, after DNS resolution and on every redirect, so
// a name that resolves (or is re-bound) to a private address is refused
// too. Such a client also ignores HTTP_PROXY and HTTPS_PROXY, since through
// a proxy the dialled address would be the proxy's.
func NewHTTPClient(timeout time.Duration, allowPrivate bool) *http.Client {
	if allowPrivate {
		return newHTTPClient(timeout, nil)
	}
	return newHTTPClient(timeout, formbuilder.NonPublicAddr)
}

// newHTTPClient is NewHTTPClient with the address rule: refuse returns why
// an address may not be dialled ("" when it may); nil allows every address.
func newHTTPClient(timeout time.Duration, refuse func(netip.Addr) string) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	tr.MaxIdleConnsPerHost = 4
	if refuse != nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second,
			// Control sees the IP address about to be connected to, whatever
			// name (or rebinding DNS answer) led there.
			Control: func(_, address string, _ syscall.RawConn) error {
				host, _, err := net.SplitHostPort(address)
				if err != nil {
					return &refusedAddrError{scope: "invalid"}
				}
				a, err := netip.ParseAddr(host)
				if err != nil {
					return &refusedAddrError{scope: "invalid"}
				}
				if scope := refuse(a); scope != "" {
					return &refusedAddrError{scope: scope}
				}
				return nil
			}}
		tr.DialContext = d.DialContext
		tr.Proxy = nil
	}
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: checkRedirect}
}

// refusedAddrError is a connection refused before it was made: its address
// is not public.
type refusedAddrError struct{ scope string }

func (e *refusedAddrError) Error() string {
	return "refused to connect to a non-public address (" + e.scope + ")"
}

var (
	errRedirectScheme = errors.New("redirect to a URL that is not http or https")
	errRedirectMany   = errors.New("too many redirects")
)

func checkRedirect(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return errRedirectScheme
	}
	if len(via) >= maxRedirects {
		return errRedirectMany
	}
	if req.Response != nil {
		switch req.Response.StatusCode {
		case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		default:
			// 301/302/303 would turn the POST into a GET without the
			// document: a 2xx for that is no delivery. Stop and let the
			// 3xx count as a failed attempt.
			return http.ErrUseLastResponse
		}
	}
	return nil
}

// failure is a failed attempt: a short message for the delivery log (by
// code, so the admin reads it in their language; its English text goes to
// logs and the API), the status or reply code when one came, and whether
// trying again is useless.
type failure struct {
	msg       formbuilder.Msg
	status    int
	permanent bool
}

func (f *failure) Error() string { return f.msg.String() }

func fail(msg formbuilder.Msg) *failure      { return &failure{msg: msg} }
func permanent(msg formbuilder.Msg) *failure { return &failure{msg: msg, permanent: true} }

// dm is formbuilder.M, short for the many messages of this package.
var dm = formbuilder.M

// sendWebhook POSTs doc to hook and returns the answer's status. Unless
// allowPrivate, a URL that names a non-public address outright fails for
// good without a connection; names are left to the client's dial check.
func sendWebhook(ctx context.Context, client *http.Client, allowPrivate bool, hook formbuilder.Webhook,
	messageID int64, event string, doc any, now time.Time) (int, error) {
	if !allowPrivate {
		if msg := formbuilder.WebhookTargetProblem(hook.URL); !msg.IsZero() {
			return 0, permanent(dm(formbuilder.MsgDlvRefusedURL).With("problem", msg))
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return 0, permanent(dm(formbuilder.MsgDlvBadURL))
	}
	id := strconv.FormatInt(messageID, 10)
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "consentforms-webhook/1")
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderDelivery, id)
	req.Header.Set(HeaderIdempotency, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(hook.Secret, ts, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, fail(describeNetError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		code := formbuilder.MsgDlvHTTP
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			code = formbuilder.MsgDlvHTTPRedirect
		}
		return resp.StatusCode, &failure{msg: dm(code, "status", strconv.Itoa(resp.StatusCode)), status: resp.StatusCode}
	}
	return resp.StatusCode, nil
}

// describeNetError names the kind of a transport error for the delivery
// log. The raw error text is not shown: it can carry internal addresses
// and is no more useful to the admin than its category.
func describeNetError(err error) formbuilder.Msg {
	var refused *refusedAddrError
	if errors.As(err, &refused) {
		// The scope, never the address: the host name may resolve to an
		// internal address the admin should not learn this way.
		return dm(formbuilder.MsgDlvNonPublic).With("scope", formbuilder.ScopeMsg(refused.scope))
	}
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.Is(err, errRedirectScheme):
		return dm(formbuilder.MsgDlvRedirectScheme)
	case errors.Is(err, errRedirectMany):
		return dm(formbuilder.MsgDlvRedirectMany)
	case errors.Is(err, context.Canceled):
		return dm(formbuilder.MsgDlvCancelled)
	case errors.As(err, &dnsErr):
		return dm(formbuilder.MsgDlvDNS)
	case errors.Is(err, syscall.ECONNREFUSED):
		return dm(formbuilder.MsgDlvConnRefused)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return dm(formbuilder.MsgDlvConnClosed)
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return dm(formbuilder.MsgDlvTimeout)
	case errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &certErr):
		return dm(formbuilder.MsgDlvTLSCert)
	case errors.As(err, &recErr):
		return dm(formbuilder.MsgDlvTLSHandshake)
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return dm(formbuilder.MsgDlvUnreachable)
	}
	return dm(formbuilder.MsgDlvConnFailed)
}
