package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tests of issue 16's storage: double opt-in (a deadline on the given
// entry, the confirmation entry, its webhooks and mail), the subject
// lookup of the self-service page, checkpoints, and the outbox messages of
// no form.

// doiFixture is the suite's fixture with a third consent, "News", that
// needs confirmation by e-mail, and form N asking for it (not required,
// not pre-ticked) with one webhook.
type doiFixture struct {
	*fixture
	news *formbuilder.Consent
	form *formbuilder.Form
}

func newDOIFixture(t testing.TB, e *env) *doiFixture {
	t.Helper()
	f := &doiFixture{fixture: newFixture(t, e)}
	f.news = &formbuilder.Consent{Name: "News", Type: formbuilder.ConsentCustom, ConfirmByEmail: true}
	require.NoError(t, e.db.CreateConsent(e.ctx, f.news, Content("We send you news by e-mail."), "olga"))
	f.form = NewForm("News form", f.User.ID, f.C2.ID, f.news.ID)
	f.form.Consents[1].CheckedByDefault, f.form.Consents[1].Required = false, false
	f.form.Notifications = formbuilder.Notifications{Webhooks: []formbuilder.Webhook{
		{URL: "https://hooks.example.com/n", Secret: "whsec_nnnnnnnnnnnnnnnn"}}}
	require.NoError(t, e.db.CreateForm(e.ctx, f.form))
	return f
}

// give stores a submission of form N from email ticking both consents,
// with deadline as the confirmation deadline; it returns the news entry.
func (f *doiFixture) give(t testing.TB, email string, deadline time.Time) *formbuilder.ConsentRecord {
	t.Helper()
	sub, recs, err := formbuilder.ValidateSubmission(f.form, formbuilder.SubmissionInput{
		Values:    map[string][]string{"email": {email}},
		Consents:  map[int64]formbuilder.ConsentInput{f.C2.ID: {Checked: true}, f.news.ID: {Checked: true}},
		IP:        "192.0.2.7",
		ConfirmBy: deadline,
	})
	require.NoError(t, err)
	require.NoError(t, f.db.CreateSubmission(f.ctx, sub, recs))
	require.Len(t, recs, 2)
	require.True(t, recs[0].ConfirmBy.IsZero())
	return recs[1]
}

func testConsentConfirmByEmailIsStored(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newDOIFixture(t, e)
	got, err := e.db.FindConsentByID(e.ctx, f.news.ID)
	require.NoError(t, err)
	assert.True(t, got.ConfirmByEmail)
	form, err := e.db.FindFormByKey(e.ctx, f.form.Key)
	require.NoError(t, err)
	assert.False(t, form.Consents[0].Consent.ConfirmByEmail)
	assert.True(t, form.Consents[1].Consent.ConfirmByEmail, "forms load it with their consents")
	list, err := e.db.ListConsents(e.ctx)
	require.NoError(t, err)
	for _, c := range list {
		assert.Equal(t, c.ID == f.news.ID, c.ConfirmByEmail, c.Name)
	}

	// Switching it is no new version (the text is the same).
	got.ConfirmByEmail = false
	upd, err := e.db.UpdateConsent(e.ctx, got, got.Current.Content(), "olga")
	require.NoError(t, err)
	assert.False(t, upd.ConfirmByEmail)
	assert.Equal(t, 1, upd.Current.Number)

	// A chat has no address to confirm through: a channel may not use such
	// a consent, and a consent a channel uses may not become one.
	ch := &formbuilder.Channel{Name: "Help", Language: "en", WarnPersonalData: true, ConsentID: f.C1.ID}
	require.NoError(t, e.db.CreateChannel(e.ctx, ch))
	c1, err := e.db.FindConsentByID(e.ctx, f.C1.ID)
	require.NoError(t, err)
	c1.ConfirmByEmail = true
	_, err = e.db.UpdateConsent(e.ctx, c1, c1.Current.Content(), "olga")
	requireCode(t, formbuilder.EINVALID, err)
	assert.Equal(t, formbuilder.M(formbuilder.MsgChatCannotConfirm), formbuilder.ErrorFieldMsgs(err)["confirm_by_email"])
	news := &formbuilder.Channel{Name: "News chat", Language: "en", WarnPersonalData: true, ConsentID: f.news.ID}
	got.ConfirmByEmail = true
	_, err = e.db.UpdateConsent(e.ctx, got, got.Current.Content(), "olga")
	require.NoError(t, err)
	err = e.db.CreateChannel(e.ctx, news)
	requireCode(t, formbuilder.EINVALID, err)
	assert.Equal(t, formbuilder.M(formbuilder.MsgChatCannotConfirm), formbuilder.ErrorFieldMsgs(err)["consent_id"])
	ch.ConsentID = f.news.ID
	requireCode(t, formbuilder.EINVALID, e.db.UpdateChannel(e.ctx, ch))
}

// A consent given with double opt-in: its deadline is stored (and hashed),
// the subject's mail is queued with the submission, the confirmation is an
// entry of its own that the form's webhooks hear of, and the states follow.
// testDoubleOptInWithoutReceivers: a form with no webhook and no mail
// still queues the confirmation mail, whose row refers to a submission
// that PostgreSQL's writer holds back until the batch flushes.
func testDoubleOptInWithoutReceivers(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newDOIFixture(t, e)
	f.form.Notifications = formbuilder.Notifications{}
	require.NoError(t, e.db.UpdateForm(e.ctx, f.form))
	given := f.give(t, "ada@example.com", e.now().Add(time.Hour))
	msgs, err := e.db.ListOutbox(e.ctx, formbuilder.OutboxFilter{FormID: f.form.ID})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	assert.Equal(t, formbuilder.DeliveryConfirm, msgs[0].Kind)
	assert.Equal(t, given.SubmissionID, msgs[0].SubmissionID)
}

func testDoubleOptIn(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newDOIFixture(t, e)
	deadline := e.now().Add(time.Hour).Truncate(time.Second)
	given := f.give(t, "Ada@Example.com", deadline)
	assert.Equal(t, deadline, given.ConfirmBy)
	stored, err := db.FindRecord(e.ctx, given.ID)
	require.NoError(t, err)
	assert.Equal(t, given, stored, "the deadline comes back exactly")
	assert.Equal(t, formbuilder.ConfirmPending, stored.ConfirmationState(false, e.now()))

	msgs, err := db.ListOutbox(e.ctx, formbuilder.OutboxFilter{FormID: f.form.ID})
	require.NoError(t, err)
	kinds := map[string]string{}
	for _, m := range msgs {
		kinds[m.Kind] = m.Target
		assert.Equal(t, given.SubmissionID, m.SubmissionID)
	}
	assert.Equal(t, map[string]string{formbuilder.DeliveryWebhook: "https://hooks.example.com/n",
		formbuilder.DeliveryConfirm: "Ada@Example.com"}, kinds, "one webhook and one confirmation mail")

	// A consent that needs no confirmation cannot be confirmed.
	privacy := f.Submit(t, f.FormB, "192.0.2.8")[0]
	_, err = db.Confirm(e.ctx, privacy.ID, "198.51.100.1", "")
	requireCode(t, formbuilder.EINVALID, err)
	_, err = db.Confirm(e.ctx, 9999, "198.51.100.1", "")
	requireCode(t, formbuilder.ENOTFOUND, err)

	drain(db.OutboxSignal())
	c, err := db.Confirm(e.ctx, given.ID, "198.51.100.1", "confirming-agent")
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ActionConfirmed, c.Action)
	assert.Equal(t, given.ID, c.ConfirmsID)
	assert.Equal(t, []any{given.ConsentID, given.VersionID, given.Subject, given.SubmissionID, "198.51.100.1", "confirming-agent"},
		[]any{c.ConsentID, c.VersionID, c.Subject, c.SubmissionID, c.IP, c.UserAgent})
	storedC, err := db.FindRecord(e.ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, c, storedC)
	select {
	case <-db.OutboxSignal():
	case <-time.After(waitLong):
		t.Fatal("the confirmation's webhook was not signalled")
	}
	msgs, err = db.ListOutbox(e.ctx, formbuilder.OutboxFilter{FormID: f.form.ID, Kind: formbuilder.DeliveryWebhook})
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	assert.Equal(t, c.ID, msgs[0].RefID, "the newest webhook message names the confirmation")
	assert.Zero(t, msgs[1].RefID)

	m, err := db.Confirmed(e.ctx, []int64{given.ID, privacy.ID, c.ID})
	require.NoError(t, err)
	assert.Equal(t, map[int64]bool{given.ID: true}, m)
	_, err = db.Confirm(e.ctx, given.ID, "198.51.100.1", "")
	requireCode(t, formbuilder.ECONFLICT, err)
	_, err = db.Confirm(e.ctx, c.ID, "198.51.100.1", "")
	requireCode(t, formbuilder.EINVALID, err)
	_, err = db.Withdraw(e.ctx, c.ID, "198.51.100.1", "")
	requireCode(t, formbuilder.EINVALID, err) // a confirmation is not withdrawn; the consent is
	_, err = db.Withdraw(e.ctx, given.ID, "198.51.100.1", "")
	require.NoError(t, err)

	// Too late, and withdrawn before confirming.
	late := f.give(t, "late@example.com", e.now().Add(2*time.Second))
	e.now() // the test clock moves a second per reading
	e.now()
	_, err = db.Confirm(e.ctx, late.ID, "198.51.100.1", "")
	requireCode(t, formbuilder.EGONE, err)
	gone := f.give(t, "gone@example.com", e.now().Add(time.Hour))
	_, err = db.Withdraw(e.ctx, gone.ID, "198.51.100.1", "")
	require.NoError(t, err)
	_, err = db.Confirm(e.ctx, gone.ID, "198.51.100.1", "")
	requireCode(t, formbuilder.ECONFLICT, err)

	confirmed, err := db.ListRecords(e.ctx, formbuilder.RecordFilter{Action: formbuilder.ActionConfirmed})
	require.NoError(t, err)
	require.Len(t, confirmed, 1)
	requireVerified(t, db, -1)

	// The database refuses a second confirmation of one entry, however it
	// got there.
	dup := *c
	dup.ID = c.ID + 1000
	err = e.Tamper(e.ctx, insertRecordSQLV2, recordArgsV2(&dup)...)
	require.Error(t, err)
	assert.Regexp(t, "UNIQUE|unique", err.Error())
}

// insertRecordSQLV2 is insertRecordSQL with the double opt-in columns.
const insertRecordSQLV2 = `INSERT INTO consent_records (id, time, action, consent_id, consent_name,
	version_id, version_no, text_hash, form_id, form_key, channel_id, source, page_url, user_id,
	user_name, ip, user_agent, subject, initial_state, interacted, submission_id, withdraws_id,
	prev_hash, hash, confirm_by, confirms_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
	$13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`

// recordArgsV2 is recordArgs with the double opt-in columns, for
// insertRecordSQLV2.
func recordArgsV2(r *formbuilder.ConsentRecord) []any {
	return append(recordArgs(r), formbuilder.FormatConfirmBy(r.ConfirmBy), nullID(r.ConfirmsID))
}

// testConfirmRaces: two servers confirm one entry at once; one entry
// results, the other gets ECONFLICT.
func testConfirmRaces(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newDOIFixture(t, e)
	// The second handle runs on the real clock.
	other := e.Reopen(t)
	for i := 0; i < 5; i++ {
		given := f.give(t, fmt.Sprintf("race%d@example.com", i), time.Now().Add(100*365*24*time.Hour))
		handles := []Store{e.db, other}
		ok := raceConflicts(t, len(handles), func(j int) error {
			_, err := handles[j].Confirm(e.ctx, given.ID, "198.51.100.1", "")
			return err
		})
		assert.Equal(t, 1, ok, "exactly one confirmation of entry %d", given.ID)
	}
	requireVerified(t, e.db, -1)
}

// raceConflicts runs do(0) … do(n-1) at once and returns how many
// succeeded; every other must fail with ECONFLICT.
func raceConflicts(t *testing.T, n int, do func(i int) error) int {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = do(i)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			requireCode(t, formbuilder.ECONFLICT, err)
		}
	}
	return ok
}

// testVerifyCoversConfirmBy: the deadline is part of what the hash covers.
func testVerifyCoversConfirmBy(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newDOIFixture(t, e)
	given := f.give(t, "ada@example.com", e.now().Add(time.Hour))
	requireVerified(t, e.db, 2)
	require.NoError(t, e.Tamper(e.ctx, "UPDATE consent_records SET confirm_by = $1 WHERE id = $2",
		formbuilder.FormatConfirmBy(given.ConfirmBy.Add(24*time.Hour)), given.ID))
	vr, err := e.db.Verify(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, given.ID, vr.BrokenID, "%+v", vr)
}

// testRecordsOfSubject: the self-service lookup finds one person's entries
// by the address as typed, ASCII letters in either case, and nothing else.
func testRecordsOfSubject(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newDOIFixture(t, e)
	a := f.give(t, "Ada.Lovelace@Example.com", e.now().Add(time.Hour))
	f.give(t, "ada.lovelace@example.com.evil", e.now().Add(time.Hour))
	f.give(t, "bob@example.com", e.now().Add(time.Hour))
	_, err := e.db.Withdraw(e.ctx, a.ID, "192.0.2.1", "")
	require.NoError(t, err)
	for _, q := range []string{"ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM", "Ada.Lovelace@Example.com"} {
		recs, err := e.db.ListRecords(e.ctx, formbuilder.RecordFilter{Subject: q})
		require.NoError(t, err)
		var ids []int64
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		assert.Equal(t, []int64{7, a.ID, a.ID - 1}, ids, "%s: the withdrawal and both given entries", q)
	}
	given, err := e.db.ListRecords(e.ctx, formbuilder.RecordFilter{Subject: "ada.lovelace@example.com", Action: formbuilder.ActionGiven})
	require.NoError(t, err)
	assert.Len(t, given, 2)
	none, err := e.db.ListRecords(e.ctx, formbuilder.RecordFilter{Subject: "ada"})
	require.NoError(t, err)
	assert.Empty(t, none, "a prefix is no match")
	// Only ASCII letters fold: other letters must match as typed, on every
	// engine alike.
	f.give(t, "jürgen@example.com", e.now().Add(time.Hour))
	for q, n := range map[string]int{"JÜRGEN@EXAMPLE.COM": 0, "Jürgen@Example.com": 2} {
		recs, err := e.db.ListRecords(e.ctx, formbuilder.RecordFilter{Subject: q})
		require.NoError(t, err)
		assert.Len(t, recs, n, q)
	}
}

func testAnchors(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	head, err := db.ChainHead(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ChainHead{Hash: formbuilder.GenesisHash}, head, "an empty log")
	_, err = db.LastAnchor(e.ctx)
	requireCode(t, formbuilder.ENOTFOUND, err)

	f := newFixture(t, e)
	recs := f.Submit(t, f.FormA, "192.0.2.1")
	head, err = db.ChainHead(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ChainHead{ID: recs[1].ID, Hash: recs[1].Hash, Time: recs[1].Time}, head)

	drain(db.OutboxSignal())
	a1 := &formbuilder.Anchor{Seq: 1, EntryID: head.ID, EntryHash: head.Hash, CreatedAt: e.now(), Token: "tok.en.1"}
	require.NoError(t, db.AppendAnchor(e.ctx, a1, []string{"https://anchors.example/in", "/var/lib/anchors"}))
	select {
	case <-db.OutboxSignal():
	case <-time.After(waitLong):
		t.Fatal("the anchor's deliveries were not signalled")
	}
	last, err := db.LastAnchor(e.ctx)
	require.NoError(t, err)
	assert.Equal(t, a1, last)
	msgs, err := db.ClaimDue(e.ctx, e.now(), e.now().Add(time.Minute), 10, []string{formbuilder.DeliveryAnchor})
	require.NoError(t, err)
	require.Len(t, msgs, 2)
	for _, m := range msgs {
		assert.Equal(t, formbuilder.DeliveryAnchor, m.Kind)
		assert.Zero(t, m.FormID)
		assert.Equal(t, int64(1), m.RefID)
	}
	require.NoError(t, db.RecordAttempt(e.ctx, &formbuilder.DeliveryAttempt{MessageID: msgs[0].ID, Kind: formbuilder.DeliveryAnchor,
		Target: msgs[0].Target, Delivered: true}, time.Time{}))

	// The number must follow, and the entry must be the log's.
	err = db.AppendAnchor(e.ctx, &formbuilder.Anchor{Seq: 1, EntryID: head.ID, EntryHash: head.Hash, CreatedAt: e.now(), Token: "t"}, nil)
	requireCode(t, formbuilder.ECONFLICT, err)
	err = db.AppendAnchor(e.ctx, &formbuilder.Anchor{Seq: 2, EntryID: head.ID, EntryHash: recs[0].Hash, CreatedAt: e.now(), Token: "t"}, nil)
	requireCode(t, formbuilder.EINVALID, err)
	err = db.AppendAnchor(e.ctx, &formbuilder.Anchor{Seq: 2, EntryID: 99, EntryHash: head.Hash, CreatedAt: e.now(), Token: "t"}, nil)
	requireCode(t, formbuilder.EINVALID, err)

	f.Submit(t, f.FormB, "192.0.2.2")
	head, err = db.ChainHead(e.ctx)
	require.NoError(t, err)
	a2 := &formbuilder.Anchor{Seq: 2, EntryID: head.ID, EntryHash: head.Hash, CreatedAt: e.now(), Token: "tok.en.2"}
	require.NoError(t, db.AppendAnchor(e.ctx, a2, nil))
	got, err := db.FindAnchor(e.ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, a2, got)
	_, err = db.FindAnchor(e.ctx, 3)
	requireCode(t, formbuilder.ENOTFOUND, err)
	list, err := db.ListAnchors(e.ctx, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []*formbuilder.Anchor{a1, a2}, list)
	list, err = db.ListAnchors(e.ctx, 1, 10)
	require.NoError(t, err)
	assert.Equal(t, []*formbuilder.Anchor{a2}, list)

	// Two servers anchoring at once: one checkpoint 3.
	other := e.Reopen(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, h := range []Store{db, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.AppendAnchor(e.ctx, &formbuilder.Anchor{Seq: 3, EntryID: head.ID, EntryHash: head.Hash,
				CreatedAt: e.now(), Token: fmt.Sprintf("tok.en.3-%d", i)}, nil)
		}()
	}
	wg.Wait()
	assert.True(t, (errs[0] == nil) != (errs[1] == nil), "one wins: %v", errs)
	assert.EqualValues(t, 3, e.count(t, "anchors"))

	// Kept in order, never changed.
	for _, q := range []string{"UPDATE anchors SET entry_id = 1", "DELETE FROM anchors WHERE seq = 3",
		"INSERT INTO anchors (seq, entry_id, entry_hash, created_at, token) SELECT 9, entry_id, entry_hash, created_at, token FROM anchors WHERE seq = 1"} {
		err := e.Exec(e.ctx, q)
		require.Error(t, err, q)
		assert.Contains(t, err.Error(), "checkpoints are append-only", q)
	}
}

// testAccessLinkMessages: the self-service mail is queued for any valid
// address and belongs to no form; once finished it is pruned at once.
func testAccessLinkMessages(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	withNotifications(t, db, f.FormA, testNotifications)
	f.Submit(t, f.FormA, "192.0.2.1")
	requireCode(t, formbuilder.EINVALID, db.EnqueueAccessLink(e.ctx, "not an address", "en"))
	requireCode(t, formbuilder.EINVALID, db.EnqueueAccessLink(e.ctx, "ada@example.com", "fr"))
	require.NoError(t, db.EnqueueAccessLink(e.ctx, " nobody@example.com ", "de"))

	msgs, err := db.ClaimDue(e.ctx, e.now(), e.now().Add(time.Minute), 10, []string{formbuilder.DeliveryAccess})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	m := msgs[0]
	assert.Equal(t, []any{formbuilder.DeliveryAccess, "nobody@example.com", "de", int64(0), int64(0)},
		[]any{m.Kind, m.Target, m.Lang, m.FormID, m.SubmissionID})
	// A message of no form has no form's attempts.
	requireCode(t, formbuilder.EINVALID, db.RecordAttempt(e.ctx, &formbuilder.DeliveryAttempt{MessageID: m.ID, FormID: f.FormA.ID,
		Kind: m.Kind, Target: m.Target, Delivered: true}, time.Time{}))
	require.NoError(t, db.RecordAttempt(e.ctx, &formbuilder.DeliveryAttempt{MessageID: m.ID, Kind: m.Kind, Target: m.Target,
		Delivered: true}, time.Time{}))

	// A finished webhook of today stays for the delivery log; the finished
	// access mail goes with the next pruning, whatever its age.
	hooks, err := db.ClaimDue(e.ctx, e.now(), e.now().Add(time.Minute), 1, []string{formbuilder.DeliveryWebhook})
	require.NoError(t, err)
	require.Len(t, hooks, 1)
	require.NoError(t, db.RecordAttempt(e.ctx, &formbuilder.DeliveryAttempt{MessageID: hooks[0].ID, FormID: f.FormA.ID,
		Kind: hooks[0].Kind, Target: hooks[0].Target, Delivered: true}, time.Time{}))
	_, err = db.PruneDeliveries(e.ctx, e.now().Add(-30*24*time.Hour))
	require.NoError(t, err)
	n, err := e.QueryInt(e.ctx, "SELECT COUNT(*) FROM outbox WHERE kind = 'access'")
	require.NoError(t, err)
	assert.Zero(t, n, "the finished access mail is gone")
	n, err = e.QueryInt(e.ctx, "SELECT COUNT(*) FROM delivery_attempts WHERE kind = 'access'")
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = e.QueryInt(e.ctx, "SELECT COUNT(*) FROM outbox WHERE id = $1", hooks[0].ID)
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "the webhook stays")
}

// testConfirmationIPMode: a confirmation stores the address as the
// settings' IP mode says when it commits, like every entry.
func testConfirmationIPMode(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newDOIFixture(t, e)
	st, err := e.db.GetSettings(e.ctx)
	require.NoError(t, err)
	st.IPMode = formbuilder.IPTruncated
	require.NoError(t, e.db.SaveSettings(e.ctx, st))
	given := f.give(t, "ip@example.com", time.Now().Add(time.Hour))
	c, err := e.db.Confirm(e.ctx, given.ID, "203.0.113.77", "test-agent")
	require.NoError(t, err)
	assert.Equal(t, "203.0.113.0", c.IP, "as returned")
	got, err := e.db.FindRecord(e.ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "203.0.113.0", got.IP, "as stored")
	requireVerified(t, e.db, -1)
}

func init() {
	register("ConfirmationIPMode", testConfirmationIPMode)
	register("ConsentConfirmByEmailIsStored", testConsentConfirmByEmailIsStored)
	register("DoubleOptIn", testDoubleOptIn)
	register("DoubleOptInWithoutReceivers", testDoubleOptInWithoutReceivers)
	register("ConfirmRaces", testConfirmRaces)
	register("VerifyCoversConfirmBy", testVerifyCoversConfirmBy)
	register("RecordsOfSubject", testRecordsOfSubject)
	register("Anchors", testAnchors)
	register("AccessLinkMessages", testAccessLinkMessages)
}
