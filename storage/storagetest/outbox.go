package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNotifications = formbuilder.Notifications{
	Webhooks: []formbuilder.Webhook{
		{URL: "https://hooks.example.com/a", Secret: "whsec_aaaaaaaaaaaaaaaa"},
		{URL: "https://hooks.example.com/b", Secret: "whsec_bbbbbbbbbbbbbbbb"},
	},
	Emails: []string{"sales@example.com", "Boss@Example.com", "sales@example.com"},
}

// withNotifications stores n on form and returns the updated form.
func withNotifications(t *testing.T, db Store, form *formbuilder.Form, n formbuilder.Notifications) *formbuilder.Form {
	t.Helper()
	form.Notifications = n
	require.NoError(t, db.UpdateForm(context.Background(), form))
	return form
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func testNotificationsAreStoredWithTheForm(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	got, err := db.FindFormByID(ctx, fx.FormA.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Notifications.Webhooks)
	assert.Empty(t, got.Notifications.Emails)

	withNotifications(t, db, fx.FormA, testNotifications)
	got, err = db.FindFormByKey(ctx, fx.FormA.Key)
	require.NoError(t, err)
	assert.Equal(t, testNotifications, got.Notifications)

	f := NewForm("With receivers", 0, fx.C1.ID)
	f.Notifications = formbuilder.Notifications{Emails: []string{"x@example.com"}}
	require.NoError(t, db.CreateForm(ctx, f))
	assert.Equal(t, []string{"x@example.com"}, f.Notifications.Emails, "CreateForm reloads the stored form")

	f.Notifications.Webhooks = []formbuilder.Webhook{{URL: "javascript:alert(1)", Secret: "short"}}
	err = db.UpdateForm(ctx, f)
	requireCode(t, formbuilder.EINVALID, err)
	assert.Contains(t, formbuilder.ErrorFields(err), "notifications.webhooks.0.url")
	assert.Contains(t, formbuilder.ErrorFields(err), "notifications.webhooks.0.secret")
}

// The outbox rows of a submission are written by the same job, in the same
// savepoint: one per webhook and per distinct address, none for a form
// without receivers, and a signal after the commit.
func testSubmissionQueuesDeliveries(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	withNotifications(t, db, fx.FormA, testNotifications)
	drain(db.OutboxSignal())

	fx.Submit(t, fx.FormB, "192.0.2.1")
	select {
	case <-db.OutboxSignal():
		t.Fatal("a form without receivers queues nothing and signals nothing")
	default:
	}
	recs := fx.Submit(t, fx.FormA, "192.0.2.2")
	subID := recs[0].SubmissionID
	select {
	case <-db.OutboxSignal():
	default:
		t.Fatal("no signal after a submission with receivers")
	}

	msgs, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID})
	require.NoError(t, err)
	targets := map[string]string{}
	for _, m := range msgs {
		targets[m.Target] = m.Kind
		assert.Equal(t, subID, m.SubmissionID)
		assert.False(t, m.Test)
		assert.Equal(t, formbuilder.OutboxPending, m.State())
		assert.True(t, m.NextAttempt.Equal(m.CreatedAt), "due at once")
	}
	assert.Equal(t, map[string]string{
		"https://hooks.example.com/a": formbuilder.DeliveryWebhook,
		"https://hooks.example.com/b": formbuilder.DeliveryWebhook,
		"sales@example.com":           formbuilder.DeliveryEmail,
		"Boss@Example.com":            formbuilder.DeliveryEmail,
	}, targets)
	assert.Len(t, msgs, 4, "the duplicate address gets one mail")

	other, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormB.ID})
	require.NoError(t, err)
	assert.Empty(t, other)
	mine, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{SubmissionID: subID, Kind: formbuilder.DeliveryEmail})
	require.NoError(t, err)
	assert.Len(t, mine, 2)
}

// When the outbox rows cannot be written, the submission and its consent
// entries are not stored either: one transaction.
func testSubmissionAndOutboxAreOneTransaction(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	withNotifications(t, db, fx.FormA, testNotifications)
	require.NoError(t, e.Exec(ctx, "UPDATE forms SET notifications = '{not json' WHERE id = $1", fx.FormA.ID))
	before := len(allRecords(t, db))

	sub, recs := fx.Submission(t, fx.FormA, "lost@example.com", "192.0.2.9")
	err := db.CreateSubmission(ctx, sub, recs)
	require.Error(t, err)
	assert.Zero(t, sub.ID, "undone")
	assert.Equal(t, 0, e.count(t, "submissions"))
	assert.Equal(t, 0, e.count(t, "outbox"))
	assert.Len(t, allRecords(t, db), before)

	// The other form is unaffected, and the chain is intact.
	fx.Submit(t, fx.FormB, "192.0.2.10")
	res, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, res.OK())
}

func testClaimLeaseAndAttempts(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	withNotifications(t, db, fx.FormA, formbuilder.Notifications{
		Webhooks: testNotifications.Webhooks[:1], Emails: []string{"sales@example.com"}})
	subID := fx.Submit(t, fx.FormA, "192.0.2.1")[0].SubmissionID
	now := time.Now().UTC().Add(time.Hour) // later than the test clock's times
	lease := now.Add(2 * time.Minute)
	webhooks := []string{formbuilder.DeliveryWebhook}

	got, err := db.ClaimDue(ctx, now, lease, 10, webhooks)
	require.NoError(t, err)
	require.Len(t, got, 1, "only the kinds asked for")
	m := got[0]
	assert.Equal(t, formbuilder.DeliveryWebhook, m.Kind)
	assert.True(t, m.NextAttempt.Equal(lease), "the claim is leased")

	again, err := db.ClaimDue(ctx, now.Add(time.Minute), lease, 10, webhooks)
	require.NoError(t, err)
	assert.Empty(t, again, "a leased message is not handed out twice")
	// A worker that died with the claim: the lease runs out, it comes back.
	again, err = db.ClaimDue(ctx, lease, lease.Add(2*time.Minute), 10, webhooks)
	require.NoError(t, err)
	require.Len(t, again, 1)
	assert.Equal(t, m.ID, again[0].ID)

	// A failed try schedules the next.
	next := now.Add(30 * time.Second)
	a := &formbuilder.DeliveryAttempt{MessageID: m.ID, FormID: m.FormID, SubmissionID: subID, Kind: m.Kind,
		Target: m.Target, At: now, Status: 500, Error: "HTTP 500", Duration: 12,
		ErrorMsg: formbuilder.M(formbuilder.MsgDlvHTTP, "status", "500")}
	require.NoError(t, db.RecordAttempt(ctx, a, next))
	assert.NotZero(t, a.ID)
	msgs, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID, Kind: formbuilder.DeliveryWebhook})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, 1, msgs[0].Attempts)
	assert.Equal(t, "HTTP 500", msgs[0].LastError)
	assert.Equal(t, formbuilder.M(formbuilder.MsgDlvHTTP, "status", "500"), msgs[0].LastErrorMsg)
	assert.Equal(t, formbuilder.OutboxRetrying, msgs[0].State())
	assert.True(t, msgs[0].NextAttempt.Equal(next))

	got, err = db.ClaimDue(ctx, next, next.Add(time.Minute), 10, webhooks)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.NoError(t, db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: m.ID, FormID: m.FormID,
		Kind: m.Kind, Target: m.Target, At: next, Status: 204, Delivered: true}, time.Time{}))
	msgs, err = db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID, Kind: formbuilder.DeliveryWebhook})
	require.NoError(t, err)
	assert.Equal(t, formbuilder.OutboxDelivered, msgs[0].State())
	assert.Equal(t, 2, msgs[0].Attempts)
	assert.Empty(t, msgs[0].LastError)
	assert.True(t, msgs[0].LastErrorMsg.IsZero())
	got, err = db.ClaimDue(ctx, now.Add(48*time.Hour), now.Add(49*time.Hour), 10, webhooks)
	require.NoError(t, err)
	assert.Empty(t, got, "a delivered message is never claimed again")

	// Giving up: next is zero. The message keeps its parts (the SMTP
	// step and the problem), so the admin reads it whole in any language.
	refused := formbuilder.M(formbuilder.MsgDlvSMTPServer).With("problem", formbuilder.M(formbuilder.MsgDlvConnRefused))
	email, err := db.ClaimDue(ctx, now, lease, 10, []string{formbuilder.DeliveryEmail})
	require.NoError(t, err)
	require.Len(t, email, 1)
	require.NoError(t, db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: email[0].ID, FormID: m.FormID,
		Kind: formbuilder.DeliveryEmail, Target: email[0].Target, At: now, Error: "SMTP server: connection refused",
		ErrorMsg: refused}, time.Time{}))
	pending, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID, Pending: true})
	require.NoError(t, err)
	assert.Empty(t, pending)
	all, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID, Kind: formbuilder.DeliveryEmail})
	require.NoError(t, err)
	assert.Equal(t, formbuilder.OutboxFailed, all[0].State())

	log, err := db.ListAttempts(ctx, fx.FormA.ID, 10)
	require.NoError(t, err)
	require.Len(t, log, 3)
	assert.Equal(t, "SMTP server: connection refused", log[0].Error, "newest first")
	assert.Equal(t, refused, log[0].ErrorMsg)
	assert.Equal(t, "SMTP-Server: Verbindung abgelehnt", log[0].ErrorMsg.Text(formbuilder.LangDE))
	assert.Equal(t, formbuilder.OutboxFailed, all[0].State())
	assert.Equal(t, refused, all[0].LastErrorMsg)
	assert.True(t, log[1].ErrorMsg.IsZero())
	assert.True(t, log[1].Delivered)
	assert.Equal(t, 500, log[2].Status)
	assert.Equal(t, int64(12), log[2].Duration)
	assert.Equal(t, subID, log[2].SubmissionID)

	_, err = db.ClaimDue(ctx, now, lease, 10, []string{"carrier-pigeon"})
	require.NoError(t, err, "unknown kinds are ignored")
	requireCode(t, formbuilder.EINVALID, db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{}, time.Time{}))
}

func testEnqueueTestOnlyForConfiguredReceivers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	withNotifications(t, db, fx.FormA, testNotifications)
	drain(db.OutboxSignal())

	m := &formbuilder.OutboxMessage{FormID: fx.FormA.ID, Kind: formbuilder.DeliveryWebhook, Target: "https://evil.example/"}
	requireCode(t, formbuilder.EINVALID, db.EnqueueTest(ctx, m))
	m = &formbuilder.OutboxMessage{FormID: fx.FormA.ID, Kind: formbuilder.DeliveryEmail, Target: "someone@else.example"}
	requireCode(t, formbuilder.EINVALID, db.EnqueueTest(ctx, m))
	requireCode(t, formbuilder.ENOTFOUND, db.EnqueueTest(ctx, &formbuilder.OutboxMessage{FormID: 999,
		Kind: formbuilder.DeliveryEmail, Target: "x@example.com"}))

	m = &formbuilder.OutboxMessage{FormID: fx.FormA.ID, Kind: formbuilder.DeliveryEmail, Target: "boss@example.com"}
	require.NoError(t, db.EnqueueTest(ctx, m))
	assert.NotZero(t, m.ID)
	assert.True(t, m.Test)
	assert.Equal(t, "Boss@Example.com", m.Target, "spelled as configured")
	select {
	case <-db.OutboxSignal():
	default:
		t.Fatal("no signal after a test was queued")
	}
	w := &formbuilder.OutboxMessage{FormID: fx.FormA.ID, Kind: formbuilder.DeliveryWebhook, Target: "https://hooks.example.com/b"}
	require.NoError(t, db.EnqueueTest(ctx, w))
	assert.Greater(t, w.ID, m.ID)
	msgs, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID})
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	assert.Zero(t, msgs[0].SubmissionID)
}

// Retention takes a submission's undelivered messages with it; the log of
// attempts stays until it is pruned by age. Ids are never reused, because
// receivers dedupe on them.
func testRetentionDropsOutboxAndPruneBoundsTheLog(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	fx := newFixture(t, e)
	ctx := context.Background()
	withNotifications(t, db, fx.FormA, formbuilder.Notifications{Webhooks: testNotifications.Webhooks[:1]})
	old := fx.Submit(t, fx.FormA, "192.0.2.1")[0].SubmissionID
	oldMsgs, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{SubmissionID: old})
	require.NoError(t, err)
	require.Len(t, oldMsgs, 1)
	require.NoError(t, db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: oldMsgs[0].ID,
		FormID: fx.FormA.ID, SubmissionID: old, Kind: formbuilder.DeliveryWebhook, Target: oldMsgs[0].Target,
		Error: "HTTP 503", Status: 503}, time.Now().Add(time.Hour)))
	cut := e.now()
	newer := fx.Submit(t, fx.FormA, "192.0.2.2")[0].SubmissionID

	n, err := db.DeleteSubmissionsBefore(ctx, fx.FormA.ID, cut)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	left, err := db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID})
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, newer, left[0].SubmissionID)
	log, err := db.ListAttempts(ctx, fx.FormA.ID, 10)
	require.NoError(t, err)
	assert.Len(t, log, 1, "the attempt log outlives the message")
	recs, err := db.RecordsOfSubmission(ctx, old)
	require.NoError(t, err)
	assert.Len(t, recs, 2, "consent entries stay")

	// An attempt for a message that is gone only adds to the log.
	require.NoError(t, db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: oldMsgs[0].ID,
		FormID: fx.FormA.ID, Kind: formbuilder.DeliveryWebhook, Target: oldMsgs[0].Target, Delivered: true}, time.Time{}))

	// Finish the remaining message, then prune everything older than now.
	require.NoError(t, db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: left[0].ID,
		FormID: fx.FormA.ID, Kind: formbuilder.DeliveryWebhook, Target: left[0].Target, Delivered: true}, time.Time{}))
	pending := fx.Submit(t, fx.FormA, "192.0.2.3")[0].SubmissionID
	pruned, err := db.PruneDeliveries(ctx, e.now().Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(1+3), pruned, "one finished message and three log entries")
	left, err = db.ListOutbox(ctx, formbuilder.OutboxFilter{FormID: fx.FormA.ID})
	require.NoError(t, err)
	require.Len(t, left, 1, "unfinished messages are never pruned")
	assert.Equal(t, pending, left[0].SubmissionID)
	assert.Greater(t, left[0].ID, oldMsgs[0].ID+1, "ids are not reused")
}

func init() {
	register("NotificationsAreStoredWithTheForm", testNotificationsAreStoredWithTheForm)
	register("SubmissionQueuesDeliveries", testSubmissionQueuesDeliveries)
	register("SubmissionAndOutboxAreOneTransaction", testSubmissionAndOutboxAreOneTransaction)
	register("ClaimLeaseAndAttempts", testClaimLeaseAndAttempts)
	register("EnqueueTestOnlyForConfiguredReceivers", testEnqueueTestOnlyForConfiguredReceivers)
	register("RetentionDropsOutboxAndPruneBoundsTheLog", testRetentionDropsOutboxAndPruneBoundsTheLog)
}
