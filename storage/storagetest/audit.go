package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditEvent is an entry the web layer would append for user u.
func auditEvent(u *formbuilder.User, target, action string, id int64) *formbuilder.AuditEvent {
	return &formbuilder.AuditEvent{UserID: u.ID, Actor: u.Email, Via: formbuilder.ViaAdmin, IP: "192.0.2.7",
		Target: target, Action: action, TargetID: id, TargetName: "thing " + action}
}

func testAuditAppendAndList(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	ctx := context.Background()
	ada := &formbuilder.User{Email: "ada@example.com"}
	bob := &formbuilder.User{Email: "bob@example.com", Role: formbuilder.RoleOperator}
	require.NoError(t, db.CreateUser(ctx, ada))
	require.NoError(t, db.CreateUser(ctx, bob))
	tok := &formbuilder.APIToken{Name: "ci", Hash: hashOf("ci"), UserID: ada.ID}
	require.NoError(t, db.CreateToken(ctx, tok))

	first := auditEvent(ada, formbuilder.AuditConsent, "update", 3)
	first.Details = map[string]string{"old_version": "1", "new_version": "2"}
	require.NoError(t, db.AppendAudit(ctx, first))
	assert.NotZero(t, first.ID)
	assert.False(t, first.Time.IsZero())

	var all []*formbuilder.AuditEvent
	all = append(all, first)
	for i := range 9 {
		ev := auditEvent(ada, formbuilder.AuditForm, "update", int64(i+1))
		switch {
		case i%3 == 1:
			ev = auditEvent(bob, formbuilder.AuditConversation, "reply", int64(i))
		case i%3 == 2:
			ev.Via, ev.TokenID = formbuilder.ViaAPI, tok.ID
		}
		require.NoError(t, db.AppendAudit(ctx, ev))
		all = append(all, ev)
	}
	cli := &formbuilder.AuditEvent{Actor: "cli", Via: formbuilder.ViaCLI, Target: formbuilder.AuditUser,
		Action: "deactivate", TargetID: bob.ID, TargetName: bob.Email}
	require.NoError(t, db.AppendAudit(ctx, cli))
	all = append(all, cli)

	got, err := db.ListAudit(ctx, formbuilder.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, got, len(all))
	assert.Equal(t, cli.ID, got[0].ID, "newest first")
	last := got[len(got)-1]
	assert.Equal(t, first, last, "read back as stored, details and all")
	assert.Equal(t, "2", last.Details["new_version"])

	// Who, what, when, and keyset pages both ways.
	got, err = db.ListAudit(ctx, formbuilder.AuditFilter{UserID: bob.ID})
	require.NoError(t, err)
	require.Len(t, got, 3)
	for _, ev := range got {
		assert.Equal(t, "bob@example.com", ev.Actor)
	}
	got, err = db.ListAudit(ctx, formbuilder.AuditFilter{Target: formbuilder.AuditConsent})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, first.ID, got[0].ID)
	got, err = db.ListAudit(ctx, formbuilder.AuditFilter{Since: all[4].Time, Until: all[7].Time})
	require.NoError(t, err)
	assert.Equal(t, []int64{all[6].ID, all[5].ID, all[4].ID}, auditIDs(got), "since inclusive, until exclusive")
	page, err := db.ListAudit(ctx, formbuilder.AuditFilter{Limit: 4})
	require.NoError(t, err)
	older, err := db.ListAudit(ctx, formbuilder.AuditFilter{Limit: 4, BeforeID: page[3].ID})
	require.NoError(t, err)
	assert.Equal(t, []int64{all[6].ID, all[5].ID, all[4].ID, all[3].ID}, auditIDs(older))
	newer, err := db.ListAudit(ctx, formbuilder.AuditFilter{Limit: 2, AfterID: older[0].ID})
	require.NoError(t, err)
	assert.Equal(t, []int64{all[8].ID, all[7].ID}, auditIDs(newer), "the page just above, newest first")

	var exported []int64
	require.NoError(t, db.ExportAudit(ctx, formbuilder.AuditFilter{UserID: ada.ID}, func(ev *formbuilder.AuditEvent) error {
		exported = append(exported, ev.ID)
		return nil
	}))
	assert.Len(t, exported, 7)
	assert.IsIncreasing(t, exported, "exports run oldest first")

	// Refused input stores nothing.
	before := e.count(t, "audit_events")
	for field, bad := range map[string]*formbuilder.AuditEvent{
		"via":     {UserID: ada.ID, Actor: "a", Via: "web", Target: formbuilder.AuditForm, Action: "update"},
		"user_id": {Actor: "a", Via: formbuilder.ViaAdmin, Target: formbuilder.AuditForm, Action: "update"},
		"target":  {UserID: ada.ID, Actor: "a", Via: formbuilder.ViaAdmin, Target: "planet", Action: "update"},
		"action":  {UserID: ada.ID, Actor: "a", Via: formbuilder.ViaAdmin, Target: formbuilder.AuditForm, Action: "DROP TABLE"},
		"ip":      {UserID: ada.ID, Actor: "a", Via: formbuilder.ViaAdmin, Target: formbuilder.AuditForm, Action: "x", IP: "localhost"},
		"details": {UserID: ada.ID, Actor: "a", Via: formbuilder.ViaAdmin, Target: formbuilder.AuditForm, Action: "x",
			Details: map[string]string{"Bad Key": "v"}},
	} {
		err := db.AppendAudit(ctx, bad)
		requireCode(t, formbuilder.EINVALID, err)
		assert.Contains(t, formbuilder.ErrorFields(err), field)
	}
	_, err = db.ListAudit(ctx, formbuilder.AuditFilter{Target: "planet"})
	requireCode(t, formbuilder.EINVALID, err)
	assert.Equal(t, before, e.count(t, "audit_events"))
}

func auditIDs(evs []*formbuilder.AuditEvent) []int64 {
	out := make([]int64, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

// testAuditIsAppendOnly: the database itself refuses to change or delete
// an entry of the audit trail.
func testAuditIsAppendOnly(t *testing.T, open Opener) {
	e := newEnv(t, open)
	ctx := context.Background()
	u := &formbuilder.User{Email: "ada@example.com"}
	require.NoError(t, e.db.CreateUser(ctx, u))
	ev := auditEvent(u, formbuilder.AuditConsent, "update", 1)
	ev.Details = map[string]string{"old_version": "1", "new_version": "2"}
	require.NoError(t, e.db.AppendAudit(ctx, ev))
	for _, q := range []string{
		"UPDATE audit_events SET details = '{\"old_version\":\"1\",\"new_version\":\"1\"}' WHERE id = $1",
		"UPDATE audit_events SET actor = 'someone else'",
		"DELETE FROM audit_events WHERE id = $1",
		"DELETE FROM audit_events",
	} {
		var err error
		if containsParam(q) {
			err = e.Exec(ctx, q, ev.ID)
		} else {
			err = e.Exec(ctx, q)
		}
		require.Error(t, err, q)
		assert.Contains(t, err.Error(), "audit trail is append-only", q)
	}
	got, err := e.db.ListAudit(ctx, formbuilder.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, ev, got[0])
}

func containsParam(q string) bool {
	for i := 0; i+1 < len(q); i++ {
		if q[i] == '$' && q[i+1] == '1' {
			return true
		}
	}
	return false
}

// testGauges: the log's length and the pending deliveries, as a metrics
// scrape reads them.
func testGauges(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newFixture(t, e)
	ctx := context.Background()
	g, err := e.db.ReadGauges(ctx)
	require.NoError(t, err)
	assert.Equal(t, formbuilder.Gauges{}, g)

	form := f.FormA
	form.Notifications = formbuilder.Notifications{Emails: []string{"owner@example.com"}}
	require.NoError(t, e.db.UpdateForm(ctx, form))
	recs := f.Submit(t, form, "192.0.2.1")
	f.Submit(t, form, "192.0.2.2")
	g, err = e.db.ReadGauges(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2*len(recs), g.LogLength)
	assert.EqualValues(t, 2, g.OutboxPending, "one mail per submission waits")

	_, err = e.db.Withdraw(ctx, recs[0].ID, "192.0.2.1", "ua")
	require.NoError(t, err)
	msgs, err := e.db.ClaimDue(ctx, e.now().Add(time.Hour), e.now().Add(2*time.Hour), 1, []string{formbuilder.DeliveryEmail})
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.NoError(t, e.db.RecordAttempt(ctx, &formbuilder.DeliveryAttempt{MessageID: msgs[0].ID, FormID: form.ID,
		SubmissionID: msgs[0].SubmissionID, Kind: msgs[0].Kind, Target: msgs[0].Target, At: e.now(), Delivered: true}, time.Time{}))
	g, err = e.db.ReadGauges(ctx)
	require.NoError(t, err)
	assert.EqualValues(t, 2*len(recs)+1, g.LogLength, "a withdrawal is an entry too")
	assert.EqualValues(t, 1, g.OutboxPending)
}

// testConversationsOfOperator: an operator's list holds the conversations
// of their channels and those assigned to them, nothing else.
func testConversationsOfOperator(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newChatFixture(t, e)
	ctx := context.Background()
	db := e.db
	outsider := &formbuilder.User{Email: "olga@example.com", Role: formbuilder.RoleOperator}
	require.NoError(t, db.CreateUser(ctx, outsider))
	other := &formbuilder.Channel{Name: "Support", Language: "en", OperatorIDs: []int64{outsider.ID}}
	require.NoError(t, db.CreateChannel(ctx, other))
	open1 := func(ch *formbuilder.Channel) *formbuilder.Conversation {
		ch.WarnPersonalData = false
		require.NoError(t, db.UpdateChannel(ctx, ch))
		res, err := db.PostVisitorMessage(ctx, ch, formbuilder.VisitorPost{VisitorID: newVisitorID(t), Text: "hello"})
		require.NoError(t, err)
		return res.Conversation
	}
	mine := open1(f.ch)
	theirs := open1(other)
	assigned := open1(other)
	require.NoError(t, db.AssignConversation(ctx, assigned.ID, f.operator.ID))

	ids := func(f formbuilder.ConversationFilter) []int64 {
		list, err := db.ListConversations(ctx, f)
		require.NoError(t, err)
		var out []int64
		for _, c := range list {
			out = append(out, c.ID)
		}
		return out
	}
	assert.ElementsMatch(t, []int64{mine.ID, theirs.ID, assigned.ID}, ids(formbuilder.ConversationFilter{}))
	assert.ElementsMatch(t, []int64{mine.ID, assigned.ID}, ids(formbuilder.ConversationFilter{OperatorID: f.operator.ID}))
	assert.ElementsMatch(t, []int64{theirs.ID, assigned.ID}, ids(formbuilder.ConversationFilter{OperatorID: outsider.ID}))
	assert.Equal(t, []int64{assigned.ID}, ids(formbuilder.ConversationFilter{OperatorID: f.operator.ID, ChannelID: other.ID}))
}

// countingObserver counts what the writer reports.
type countingObserver struct {
	mu      sync.Mutex
	batches int
	jobs    int
	failed  int
	took    time.Duration
}

// ObserveBatch implements formbuilder.WriterObserver.
func (o *countingObserver) ObserveBatch(jobs int, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches++
	o.jobs += jobs
	o.took += took
	if err != nil {
		o.failed++
	}
}

// testWriterObserver: the observer hears every batch of the group-commit
// writer with its size, so the metrics' batch sizes add up to the jobs.
func testWriterObserver(t *testing.T, open Opener) {
	obs := &countingObserver{}
	e := newEnv(t, open, Options{Observer: obs})
	f := newFixture(t, e)
	const n = 12
	subs := make([]*formbuilder.Submission, n)
	recs := make([][]*formbuilder.ConsentRecord, n)
	for i := range n {
		subs[i], recs[i] = f.Submission(t, f.FormA, fmt.Sprintf("v%d@example.com", i), "192.0.2.1")
	}
	before := obs.jobs
	// Resumed on every way out: a failed wait below must not leave the
	// writer held, or the cleanup's Close waits for it forever.
	resume := sync.OnceFunc(e.PauseWriter())
	defer resume()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, e.db.CreateSubmission(context.Background(), subs[i], recs[i]))
		}()
	}
	// The writer took a job or two (those that arrived before it stopped
	// at the hold) and waits; the others queue up behind it, and half of
	// them queued is enough to prove they get grouped.
	require.Eventually(t, func() bool { return e.Stats().Queued >= n/2 }, waitLong, waitTick)
	resume()
	wg.Wait()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	assert.Equal(t, n, obs.jobs-before)
	assert.Less(t, obs.batches, n, "jobs were grouped")
	assert.Zero(t, obs.failed)
	assert.Positive(t, obs.took)
}

func init() {
	register("AuditAppendAndList", testAuditAppendAndList)
	register("AuditIsAppendOnly", testAuditIsAppendOnly)
	register("Gauges", testGauges)
	register("ConversationsOfOperator", testConversationsOfOperator)
	register("WriterObserver", testWriterObserver)
}
