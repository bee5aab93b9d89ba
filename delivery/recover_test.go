package delivery_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
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

// logBuffer is a logger's output, safe to read while goroutines log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// bugOnce is a bug in the sending path: the first webhook request panics
// (as a nil map or a bad index in our code would), every other one goes
// out through a real transport.
type bugOnce struct {
	next  http.RoundTripper
	fired atomic.Bool
}

func (b *bugOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.fired.CompareAndSwap(false, true) {
		var m map[string]int
		m["boom"]++
	}
	return b.next.RoundTrip(r)
}

// A panic while sending ends neither the worker nor the process: it is
// logged with its stack, the attempt is recorded as an internal error and
// retried, and the next message is sent.
func TestPanickingSenderDoesNotEndTheWorker(t *testing.T) {
	e := newEnv(t)
	rcv := newReceiver(t, nil)
	e.setNotifications(formbuilder.Notifications{Webhooks: []formbuilder.Webhook{{URL: rcv.srv.URL + "/hook", Secret: hookSecret}}})
	var logs logBuffer
	cfg := e.config()
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &bugOnce{next: http.DefaultTransport}}
	e.start(cfg)

	first := e.submit("first@example.com", "the bug hits this one")
	e.waitState(formbuilder.OutboxDelivered, 1)
	second := e.submit("second@example.com", "and this one goes out")
	e.waitState(formbuilder.OutboxDelivered, 2)

	subjects := map[string]int{}
	for _, r := range rcv.requests() {
		for _, s := range []*formbuilder.Submission{first, second} {
			if bytes.Contains(r.body, []byte(s.Subject)) {
				subjects[s.Subject]++
			}
		}
	}
	assert.Equal(t, map[string]int{"first@example.com": 1, "second@example.com": 1}, subjects)
	var internal int
	for _, a := range e.attempts() {
		if a.Error == "internal error (see the server log)" {
			internal++
			assert.Equal(t, first.ID, a.SubmissionID)
		}
	}
	assert.Equal(t, 1, internal, "the panicking attempt is in the delivery log")
	out := logs.String()
	assert.Contains(t, out, "panicked")
	assert.Contains(t, out, "assignment to entry in nil map")
	assert.Contains(t, out, "delivery_test.(*bugOnce).RoundTrip", "the stack is logged")
}

// panicsOnce is the real form service whose first ListForms panics, as a
// bug in a retention run would.
type panicsOnce struct {
	formbuilder.FormService
	fired atomic.Bool
}

func (p *panicsOnce) ListForms(ctx context.Context, f formbuilder.FormFilter) ([]*formbuilder.Form, error) {
	if p.fired.CompareAndSwap(false, true) {
		var forms []*formbuilder.Form
		_ = forms[3]
	}
	return p.FormService.ListForms(ctx, f)
}

// A retention run that panics is logged with its stack and the job goes
// on: the next run deletes what has expired.
func TestPanickingRetentionRunDoesNotEndTheJob(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	e := newEnv(t, withClock(clock.Now))
	e.form.RetentionDays = 1
	e.setNotifications(formbuilder.Notifications{})
	s := e.submit("old@example.com", "")
	clock.Add(49 * time.Hour)
	var logs logBuffer
	r := &delivery.Retention{Forms: &panicsOnce{FormService: e.db}, Inbox: e.db, Now: clock.Now,
		Interval: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	require.Eventually(t, func() bool {
		_, err := e.db.FindSubmission(e.ctx, s.ID)
		return formbuilder.ErrorCode(err) == formbuilder.ENOTFOUND
	}, waitLong, waitTick, "a later run deletes the expired submission")
	cancel()
	<-done
	out := logs.String()
	assert.Contains(t, out, "retention run panicked")
	assert.Contains(t, out, "index out of range")
	assert.True(t, strings.Contains(out, "delivery_test.(*panicsOnce).ListForms"), "the stack is logged")
}
