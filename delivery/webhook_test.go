package delivery_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/consentforms/consentforms/delivery"
	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const hookSecret = "whsec_receiver-shared-secret-123"

// received is one request as a receiver saw it.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a real HTTP server on 127.0.0.1 that verifies every request
// with the documented algorithm, written out here independently of
// delivery.Verify: HMAC-SHA256(secret, timestamp + "." + body), hex, after
// "sha256=", and a timestamp at most 5 minutes off.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	bad    []string
	answer func(n int) int // status for the n-th request (1-based)
}

func newReceiver(t *testing.T, answer func(n int) int) *receiver {
	r := &receiver{t: t, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	require.True(t, strings.HasPrefix(r.srv.URL, "http://127.0.0.1:"), r.srv.URL)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	now := time.Now()
	problem := ""
	ts, err := strconv.ParseInt(req.Header.Get("X-Consentforms-Timestamp"), 10, 64)
	switch {
	case req.Method != http.MethodPost:
		problem = "method " + req.Method
	case err != nil:
		problem = "no timestamp"
	case now.Sub(time.Unix(ts, 0)).Abs() > 5*time.Minute:
		problem = "stale timestamp"
	default:
		mac := hmac.New(sha256.New, []byte(hookSecret))
		mac.Write([]byte(strconv.FormatInt(ts, 10) + "." + string(body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(req.Header.Get("X-Consentforms-Signature"))) {
			problem = "bad signature"
		}
	}
	r.mu.Lock()
	r.got = append(r.got, received{header: req.Header.Clone(), body: body, at: now})
	if problem != "" {
		r.bad = append(r.bad, problem)
	}
	n := len(r.got)
	r.mu.Unlock()
	status := http.StatusOK
	if problem != "" {
		status = http.StatusUnauthorized
	} else if r.answer != nil {
		status = r.answer(n)
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, "ok")
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) problems() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

func TestWebhookArrivesSignedAtARealReceiver(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.srv.URL + "/hook", Secret: hookSecret}}})
	e.start(e.config())

	sub := e.submit("jane@example.com", "Hello <b>there</b>\nsecond line")
	msgs := e.waitState(formbuilder.OutboxDelivered, 1)
	require.Empty(t, rcv.problems(), "every request verifies")
	reqs := rcv.requests()
	require.Len(t, reqs, 1)
	got := reqs[0]
	assert.Equal(t, "application/json", got.header.Get("Content-Type"))
	assert.Equal(t, "submission.created", got.header.Get("X-Consentforms-Event"))
	id := strconv.FormatInt(msgs[0].ID, 10)
	assert.Equal(t, id, got.header.Get("X-Consentforms-Delivery"))
	assert.Equal(t, id, got.header.Get("Idempotency-Key"))
	require.NoError(t, delivery.Verify(hookSecret, got.header.Get("X-Consentforms-Timestamp"),
		got.header.Get("X-Consentforms-Signature"), got.body, time.Now(), delivery.DefaultTolerance),
		"the package's own Verify agrees")

	var doc map[string]any
	require.NoError(t, json.Unmarshal(got.body, &doc))
	keys := []string{}
	for k := range doc {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"event", "form", "submission", "consents", "sent_at"}, keys)
	var d delivery.Document
	require.NoError(t, json.Unmarshal(got.body, &d))
	assert.Equal(t, "submission.created", d.Event)
	assert.Equal(t, delivery.DocForm{ID: e.form.ID, Key: e.form.Key, Name: "Contact"}, d.Form)
	assert.Equal(t, sub.ID, d.Submission.ID)
	assert.Equal(t, []string{"Hello <b>there</b>\nsecond line"}, d.Submission.Values["message"])
	assert.Equal(t, "jane@example.com", d.Submission.Subject)
	assert.Equal(t, "https://shop.example.com/contact", d.Submission.PageURL)
	assert.True(t, d.Submission.CreatedAt.Equal(sub.CreatedAt))
	require.Len(t, d.Consents, 1)
	recs, err := e.db.RecordsOfSubmission(e.ctx, sub.ID)
	require.NoError(t, err)
	assert.Equal(t, delivery.DocConsent{RecordID: recs[0].ID, ConsentID: e.consent.ID, ConsentName: "Privacy",
		Version: 1, TextHash: e.consent.Current.Hash, InitialState: true, Interacted: false}, d.Consents[0])
	assert.WithinDuration(t, time.Now(), d.SentAt, time.Minute)
	sub2 := doc["submission"].(map[string]any)
	assert.NotContains(t, sub2, "ip", "the document carries no IP address")

	log := e.attempts()
	require.Len(t, log, 1)
	assert.True(t, log[0].Delivered)
	assert.Equal(t, 200, log[0].Status)
	assert.Equal(t, sub.ID, log[0].SubmissionID)
}

// A receiver that fails five times and then answers 200 gets the message
// six times under one delivery id, and it ends delivered exactly once.
func TestFailsFiveTimesThenDeliveredOnce(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, func(n int) int {
		if n <= 5 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.srv.URL, Secret: hookSecret}}})
	var backoffs []int
	var mu sync.Mutex
	cfg := e.config()
	cfg.Backoff = func(n int) time.Duration {
		mu.Lock()
		backoffs = append(backoffs, n)
		mu.Unlock()
		return time.Millisecond
	}
	w := e.start(cfg)

	e.submit("retry@example.com", "")
	msgs := e.waitState(formbuilder.OutboxDelivered, 1)
	assert.Equal(t, 6, msgs[0].Attempts)
	assert.Empty(t, msgs[0].LastError)

	// Give the worker time to (wrongly) send again: several polls and a kick.
	for i := 0; i < 5; i++ {
		w.Wake()
		time.Sleep(30 * time.Millisecond)
	}
	reqs := rcv.requests()
	require.Len(t, reqs, 6, "nothing is sent after the 2xx")
	for _, r := range reqs {
		assert.Equal(t, strconv.FormatInt(msgs[0].ID, 10), r.header.Get("X-Consentforms-Delivery"), "one delivery id")
	}
	assert.Empty(t, rcv.problems())
	mu.Lock()
	assert.Equal(t, []int{1, 2, 3, 4, 5}, backoffs, "backoff asked after each failure")
	mu.Unlock()

	log := e.attempts()
	require.Len(t, log, 6)
	ok := 0
	for i, a := range log {
		if a.Delivered {
			ok++
			assert.Equal(t, 0, i, "the success is the newest")
			assert.Equal(t, 204, a.Status)
		} else {
			assert.Equal(t, 503, a.Status)
			assert.Equal(t, "HTTP 503", a.Error)
		}
	}
	assert.Equal(t, 1, ok, "5 failed + 1 delivered")
}

func TestDefaultBackoff(t *testing.T) {
	within := func(n int, base time.Duration) {
		for i := 0; i < 50; i++ {
			d := delivery.DefaultBackoff(n)
			assert.GreaterOrEqual(t, d, base*8/10, "attempt %d", n)
			assert.LessOrEqual(t, d, base*12/10, "attempt %d", n)
		}
	}
	within(1, 30*time.Second)
	within(2, time.Minute)
	within(3, 2*time.Minute)
	within(7, 32*time.Minute)
	within(8, time.Hour)
	within(50, time.Hour)
	// Roughly a day of retries: the number of attempts in 24h.
	var total time.Duration
	n := 0
	for total < 24*time.Hour {
		n++
		total += 30 * time.Second << min(n-1, 7)
		if 30*time.Second<<min(n-1, 7) > time.Hour {
			total += time.Hour - 30*time.Second<<min(n-1, 7)
		}
	}
	t.Logf("about %d attempts in the first 24 hours", n+1)
}

func TestSignAndVerify(t *testing.T) {
	body := []byte(`{"event":"test"}`)
	now := time.Unix(1_800_000_000, 0)
	sig := delivery.Sign("s3cret-s3cret-s3cret", now.Unix(), body)
	require.True(t, strings.HasPrefix(sig, "sha256="))
	mac := hmac.New(sha256.New, []byte("s3cret-s3cret-s3cret"))
	mac.Write([]byte("1800000000." + string(body)))
	assert.Equal(t, "sha256="+hex.EncodeToString(mac.Sum(nil)), sig)

	ts := "1800000000"
	assert.NoError(t, delivery.Verify("s3cret-s3cret-s3cret", ts, sig, body, now.Add(4*time.Minute), delivery.DefaultTolerance))
	assert.NoError(t, delivery.Verify("s3cret-s3cret-s3cret", ts, "sha256=00,"+sig, body, now, delivery.DefaultTolerance),
		"one of several signatures")
	assert.ErrorIs(t, delivery.Verify("s3cret-s3cret-s3cret", ts, sig, body, now.Add(6*time.Minute), delivery.DefaultTolerance),
		delivery.ErrStale, "a replay after 5 minutes")
	assert.ErrorIs(t, delivery.Verify("s3cret-s3cret-s3cret", ts, sig, body, now.Add(-6*time.Minute), delivery.DefaultTolerance),
		delivery.ErrStale, "from the future")
	assert.ErrorIs(t, delivery.Verify("s3cret-s3cret-s3cret", ts, sig, []byte(`{"event":"tesT"}`), now, delivery.DefaultTolerance),
		delivery.ErrBadSignature)
	assert.ErrorIs(t, delivery.Verify("s3cret-s3cret-s3cret", "1800000001", sig, body, now, delivery.DefaultTolerance),
		delivery.ErrBadSignature, "the timestamp is signed too")
	assert.ErrorIs(t, delivery.Verify("another-secret-xx", ts, sig, body, now, delivery.DefaultTolerance), delivery.ErrBadSignature)
	assert.ErrorIs(t, delivery.Verify("s3cret-s3cret-s3cret", "", sig, body, now, delivery.DefaultTolerance), delivery.ErrNoSignature)
	assert.ErrorIs(t, delivery.Verify("s3cret-s3cret-s3cret", ts, "", body, now, delivery.DefaultTolerance), delivery.ErrNoSignature)
}

// Redirects: 307/308 keep the POST and are followed (to http(s) only);
// 301/302/303 would drop the body and are a failed attempt; non-http
// targets are refused.
func TestWebhookRedirects(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	var hits atomic.Int32
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/307":
			http.Redirect(w, r, rcv.srv.URL+"/final", http.StatusTemporaryRedirect)
		case "/302":
			http.Redirect(w, r, rcv.srv.URL+"/final", http.StatusFound)
		case "/ftp":
			http.Redirect(w, r, "ftp://files.example.com/x", http.StatusTemporaryRedirect)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusPermanentRedirect)
		}
	}))
	t.Cleanup(redir.Close)
	hooks := []formbuilder.Webhook{}
	for _, p := range []string{"/307", "/302", "/ftp", "/loop"} {
		hooks = append(hooks, formbuilder.Webhook{URL: redir.URL + p, Secret: hookSecret})
	}
	e.setNotifications(formbuilder.Notifications{Webhooks: hooks})
	cfg := e.config()
	cfg.MaxAge = time.Nanosecond // one attempt each
	e.start(cfg)
	e.submit("redirect@example.com", "")

	require.Eventually(t, func() bool {
		for _, m := range e.messages() {
			if m.State() == formbuilder.OutboxPending || m.State() == formbuilder.OutboxRetrying {
				return false
			}
		}
		return len(e.messages()) == 4
	}, waitLong, waitTick)
	byTarget := map[string]*formbuilder.OutboxMessage{}
	for _, m := range e.messages() {
		byTarget[strings.TrimPrefix(m.Target, redir.URL)] = m
	}
	assert.Equal(t, formbuilder.OutboxDelivered, byTarget["/307"].State())
	assert.Equal(t, formbuilder.OutboxFailed, byTarget["/302"].State())
	assert.Contains(t, byTarget["/302"].LastError, "HTTP 302")
	assert.Equal(t, "refused a redirect to a URL that is not http or https", byTarget["/ftp"].LastError)
	assert.Equal(t, "too many redirects", byTarget["/loop"].LastError)
	reqs := rcv.requests()
	require.Len(t, reqs, 1, "only the 307 reached the receiver")
	assert.Empty(t, rcv.problems(), "with its body and signature intact")
}

// A receiver slower than the client's timeout is a failed attempt named
// "timed out"; a receiver that sends an endless answer is cut off.
func TestWebhookTimeoutAndLongAnswer(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for i := 0; i < 1<<12; i++ { // 128 MiB, unless the client stops reading
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(endless.Close)
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{
		{URL: slow.URL, Secret: hookSecret}, {URL: endless.URL, Secret: hookSecret}}})
	cfg := e.config()
	cfg.HTTPClient = delivery.NewHTTPClient(300*time.Millisecond, true)
	cfg.MaxAge = time.Nanosecond
	e.start(cfg)
	e.submit("slow@example.com", "")
	require.Eventually(t, func() bool { return len(e.attempts()) == 2 }, waitLong, waitTick)
	for _, a := range e.attempts() {
		if a.Target == slow.URL {
			assert.False(t, a.Delivered)
			assert.Equal(t, "timed out", a.Error)
			assert.Less(t, a.Duration, int64(5000))
		} else {
			assert.True(t, a.Delivered, "a 200 with a long answer counts; only 64 KiB are read")
		}
	}
}

// A webhook removed from the form gets nothing more; the message gives up
// at once. A dead receiver is given up after MaxAge.
func TestRemovedWebhookAndGiveUp(t *testing.T) {
	e := newEnv(t)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused from now on
	rcv := newReceiver(t, func(int) int { return 500 })
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{
		{URL: deadURL, Secret: hookSecret}, {URL: rcv.srv.URL, Secret: hookSecret}}})
	e.submit("gone@example.com", "")
	// The receiver that answers 500 is taken off the form before anything
	// is sent.
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: deadURL, Secret: hookSecret}}})

	// The worker's clock, moved by hand from just after the submission.
	clock := &manualClock{t: time.Now().Add(time.Second)}
	cfg := e.config()
	cfg.Now = clock.Now
	cfg.Backoff = func(int) time.Duration { return time.Hour }
	w := e.start(cfg)
	require.Eventually(t, func() bool { return len(e.attempts()) == 2 }, waitLong, waitTick)
	byURL := map[string]*formbuilder.OutboxMessage{}
	for _, m := range e.messages() {
		byURL[m.Target] = m
	}
	assert.Equal(t, formbuilder.OutboxFailed, byURL[rcv.srv.URL].State())
	assert.Equal(t, "this webhook was removed from the form", byURL[rcv.srv.URL].LastError)
	assert.Empty(t, rcv.requests())
	assert.Equal(t, formbuilder.OutboxRetrying, byURL[deadURL].State())
	assert.Equal(t, "connection refused", byURL[deadURL].LastError)

	// Hours later it is still retried; a day after the submission, the
	// next failure is the last.
	clock.Add(2 * time.Hour)
	w.Wake()
	require.Eventually(t, func() bool { return len(e.attempts()) == 3 }, waitLong, waitTick)
	for _, m := range e.messages() {
		if m.Target == deadURL {
			assert.Equal(t, formbuilder.OutboxRetrying, m.State())
			assert.Equal(t, 2, m.Attempts)
		}
	}
	clock.Add(23 * time.Hour)
	w.Wake()
	require.Eventually(t, func() bool { return len(e.attempts()) == 4 }, waitLong, waitTick)
	for _, m := range e.messages() {
		assert.Equal(t, formbuilder.OutboxFailed, m.State())
	}
	clock.Add(48 * time.Hour)
	w.Wake()
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, e.attempts(), 4, "a given-up message is not tried again")
}

// A worker that dies after claiming leaves the message leased; when the
// lease runs out, another worker sends it: at least once.
func TestLeaseBringsBackACrashedClaim(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.srv.URL, Secret: hookSecret}}})
	e.submit("crash@example.com", "")
	clock := &manualClock{t: time.Now().Add(time.Second)}
	claimed, err := e.db.ClaimDue(e.ctx, clock.Now(), clock.Now().Add(delivery.DefaultLease), 10,
		[]string{formbuilder.DeliveryWebhook})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	// The "crashed" worker never records anything.

	cfg := e.config()
	cfg.Now = clock.Now
	w := e.start(cfg)
	time.Sleep(60 * time.Millisecond)
	assert.Empty(t, rcv.requests(), "leased: not sent twice at once")
	clock.Add(delivery.DefaultLease + time.Second)
	w.Wake()
	e.waitState(formbuilder.OutboxDelivered, 1)
	assert.Len(t, rcv.requests(), 1)
}

// "Send test" delivers a sample with event "test", once, whatever the answer.
func TestSendTestWebhook(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, func(int) int { return 500 })
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.srv.URL, Secret: hookSecret}}})
	cfg := e.config()
	cfg.BaseURL = "https://forms.example"
	e.start(cfg)
	require.NoError(t, e.db.EnqueueTest(e.ctx, &formbuilder.OutboxMessage{FormID: e.form.ID,
		Kind: formbuilder.DeliveryWebhook, Target: rcv.srv.URL}))
	msgs := e.waitState(formbuilder.OutboxFailed, 1)
	assert.True(t, msgs[0].Test)
	assert.Equal(t, 1, msgs[0].Attempts, "a test is tried once")
	reqs := rcv.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "test", reqs[0].header.Get("X-Consentforms-Event"))
	var d delivery.Document
	require.NoError(t, json.Unmarshal(reqs[0].body, &d))
	assert.Equal(t, "test", d.Event)
	assert.Zero(t, d.Submission.ID)
	assert.Equal(t, []string{"jane.doe@example.com"}, d.Submission.Values["email"])
	assert.Equal(t, "https://forms.example/f/"+e.form.Key, d.Submission.PageURL)
	require.Len(t, d.Consents, 1)
	assert.Equal(t, e.consent.Current.Hash, d.Consents[0].TextHash)
	assert.Zero(t, d.Consents[0].RecordID)
	log := e.attempts()
	require.Len(t, log, 1)
	assert.True(t, log[0].Test)
	assert.Equal(t, 500, log[0].Status)
}

// deliveryCounter counts what the worker tells its observer.
type deliveryCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (c *deliveryCounter) ObserveDelivery(kind string, delivered bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[kind+" "+strconv.FormatBool(delivered)]++
}

func (c *deliveryCounter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}

// The observer hears every attempt with its result: two failures, then
// the delivery, for a receiver that answers 500 twice.
func TestObserverHearsEveryAttempt(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, func(n int) int {
		if n <= 2 {
			return 500
		}
		return 200
	})
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.srv.URL, Secret: hookSecret}}})
	obs := &deliveryCounter{counts: map[string]int{}}
	cfg := e.config()
	cfg.Observer = obs
	e.start(cfg)
	e.submit("observed@example.com", "")
	e.waitState(formbuilder.OutboxDelivered, 1)
	require.Eventually(t, func() bool { return obs.get("webhook true") == 1 }, waitLong, waitTick)
	assert.Equal(t, 2, obs.get("webhook false"))
	assert.Len(t, e.attempts(), 3)
}
