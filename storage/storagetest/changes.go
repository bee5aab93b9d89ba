package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Process state through the database: the IP mode that storage applies
// itself, and the change feed (formbuilder.ChangeFeed).

// changeLog collects what a subscription receives.
type changeLog struct {
	mu   sync.Mutex
	list []formbuilder.Change
}

func subscribeChanges(t testing.TB, db Store) *changeLog {
	t.Helper()
	l := &changeLog{}
	stop, err := db.SubscribeChanges(func(c formbuilder.Change) {
		l.mu.Lock()
		l.list = append(l.list, c)
		l.mu.Unlock()
	})
	require.NoError(t, err)
	t.Cleanup(stop)
	return l
}

func (l *changeLog) snapshot() []formbuilder.Change {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.list)
}

// next waits for the changes received after the first n to include the
// marker a SaveSettings delivers, and returns those before it: changes are
// delivered in commit order, so a write whose change is not among them
// announced nothing.
func (l *changeLog) next(t testing.TB, n int) []formbuilder.Change {
	t.Helper()
	var got []formbuilder.Change
	require.Eventually(t, func() bool {
		all := l.snapshot()[n:]
		i := slices.IndexFunc(all, func(c formbuilder.Change) bool { return c.Kind == formbuilder.ChangeSettings })
		if i < 0 {
			return false
		}
		got = all[:i]
		return true
	}, waitLong, waitTick, "waiting for the marker change; got %+v", l.snapshot()[n:])
	return got
}

// testChangesAnnounced: every write that changes what servers cache
// announces it once, after its commit, with ids only; failed writes
// announce nothing. Where the backend's feed spans processes, the writes go
// through a second handle.
func testChangesAnnounced(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newChatFixture(t, e)
	w := e.db
	if e.SharedChanges {
		w = e.Reopen(t)
	}
	log := subscribeChanges(t, e.db)
	ctx := e.ctx
	seen := 0
	// step runs write, then the marker, and checks what came before it.
	step := func(name string, write func() error, want ...formbuilder.Change) {
		t.Helper()
		require.NoError(t, write(), name)
		st, err := w.GetSettings(ctx)
		require.NoError(t, err)
		require.NoError(t, w.SaveSettings(ctx, st))
		got := log.next(t, seen)
		seen += len(got) + 1
		if len(want) == 0 {
			assert.Empty(t, got, name)
			return
		}
		assert.Equal(t, want, got, name)
	}
	failing := func(code string, write func() error) func() error {
		return func() error {
			requireCode(t, code, write())
			return nil
		}
	}
	none := []formbuilder.Change(nil)

	formA := *f.FormA
	formA.Title = "Changed"
	step("UpdateForm", func() error { return w.UpdateForm(ctx, &formA) },
		formbuilder.Change{Kind: formbuilder.ChangeForm, ID: f.FormA.ID, Key: f.FormA.Key})
	step("ArchiveForm", func() error { return w.ArchiveForm(ctx, f.FormB.ID, true) },
		formbuilder.Change{Kind: formbuilder.ChangeForm, ID: f.FormB.ID, Key: f.FormB.Key})
	step("ArchiveForm unchanged", func() error { return w.ArchiveForm(ctx, f.FormB.ID, true) }, none...)
	step("ArchiveForm missing", failing(formbuilder.ENOTFOUND, func() error { return w.ArchiveForm(ctx, 1e6, true) }), none...)
	c1 := *f.C1
	step("UpdateConsent", func() error {
		_, err := w.UpdateConsent(ctx, &c1, Content("We send you other news."), "olga")
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeForms})
	step("CreateSubmission", func() error {
		sub, recs := f.Submission(t, f.FormA, "quiet@example.com", "192.0.2.1")
		return w.CreateSubmission(ctx, sub, recs)
	}, none...)

	// The chat: the held first message, the acceptance that delivers it,
	// an operator's reply, a visitor's next message, and a second visitor
	// who declines and asks again.
	visitor := newVisitorID(t)
	var conv *formbuilder.Conversation
	step("PostVisitorMessage held", func() error {
		res, err := w.PostVisitorMessage(ctx, f.ch, formbuilder.VisitorPost{VisitorID: visitor, Text: "hello"})
		if err == nil {
			conv = res.Conversation
		}
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: 1, ChannelID: f.ch.ID, StateChanged: true})
	require.EqualValues(t, 1, conv.ID)
	step("PostVisitorMessage while pending", failing(formbuilder.ECONFLICT, func() error {
		_, err := w.PostVisitorMessage(ctx, f.ch, formbuilder.VisitorPost{VisitorID: visitor, Text: "again"})
		return err
	}), none...)
	var held *formbuilder.Message
	step("AcceptConsent", func() error {
		var err error
		held, err = w.AcceptConsent(ctx, conv.ID, f.record(conv))
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv.ID, ChannelID: f.ch.ID, FirstMessage: 1, LastMessage: 1, StateChanged: true})
	require.EqualValues(t, 1, held.ID)
	step("AcceptConsent again", failing(formbuilder.ECONFLICT, func() error {
		_, err := w.AcceptConsent(ctx, conv.ID, f.record(conv))
		return err
	}), none...)
	step("AddOperatorMessage", func() error {
		return w.AddOperatorMessage(ctx, &formbuilder.Message{ConversationID: conv.ID, UserID: f.operator.ID, Text: "Hi!"})
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv.ID, ChannelID: f.ch.ID, FirstMessage: 2, LastMessage: 2})
	step("PostVisitorMessage delivered", func() error {
		_, err := w.PostVisitorMessage(ctx, f.ch, formbuilder.VisitorPost{VisitorID: visitor, Text: "thanks"})
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv.ID, ChannelID: f.ch.ID, FirstMessage: 3, LastMessage: 3})

	other := newVisitorID(t)
	var conv2 *formbuilder.Conversation
	step("second visitor", func() error {
		res, err := w.PostVisitorMessage(ctx, f.ch, formbuilder.VisitorPost{VisitorID: other, Text: "psst"})
		if err == nil {
			conv2 = res.Conversation
		}
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: 2, ChannelID: f.ch.ID, StateChanged: true})
	step("DeclineConsent", func() error {
		_, err := w.DeclineConsent(ctx, conv2.ID)
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv2.ID, ChannelID: f.ch.ID, StateChanged: true})
	step("DeclineConsent again", failing(formbuilder.ECONFLICT, func() error {
		_, err := w.DeclineConsent(ctx, conv2.ID)
		return err
	}), none...)
	step("ReopenConversation", func() error {
		_, err := w.ReopenConversation(ctx, f.ch, conv2.ID)
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv2.ID, ChannelID: f.ch.ID, StateChanged: true})
	step("ReopenConversation unchanged", func() error {
		_, err := w.ReopenConversation(ctx, f.ch, conv2.ID)
		return err
	}, none...)

	// A message held under a consent the channel no longer asks is
	// delivered first, with the new one: one change names both.
	step("second visitor again", func() error {
		_, err := w.PostVisitorMessage(ctx, f.ch, formbuilder.VisitorPost{VisitorID: other, Text: "held"})
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv2.ID, ChannelID: f.ch.ID, StateChanged: true})
	ch := *f.ch
	ch.WarnPersonalData, ch.ConsentID = false, 0
	step("UpdateChannel", func() error { return w.UpdateChannel(ctx, &ch) }, none...)
	step("held and new delivered", func() error {
		res, err := w.PostVisitorMessage(ctx, &ch, formbuilder.VisitorPost{VisitorID: other, Text: "new"})
		if err == nil && len(res.Delivered) != 2 {
			return fmt.Errorf("delivered %d messages", len(res.Delivered))
		}
		return err
	}, formbuilder.Change{Kind: formbuilder.ChangeChat, ID: conv2.ID, ChannelID: f.ch.ID, FirstMessage: 4, LastMessage: 5, StateChanged: true})

	stop, err := e.db.SubscribeChanges(func(formbuilder.Change) { t.Error("a stopped subscription got a change") })
	require.NoError(t, err)
	stop()
	stop() // twice is harmless
	step("after stop", func() error { return nil }, none...)
}

// testChangesOfOtherHandles: with a feed that spans processes, two handles
// (servers) both hear the changes either makes.
func testChangesOfOtherHandles(t *testing.T, open Opener) {
	e := newEnv(t, open)
	if !e.SharedChanges {
		t.Skip("this backend serves a database from one process; its feed is in memory")
	}
	other := e.Reopen(t)
	logs := []*changeLog{subscribeChanges(t, e.db), subscribeChanges(t, other)}
	f := newFixture(t, e)
	for i, h := range []Store{e.db, other, e.db} {
		form := *f.FormA
		form.Title = fmt.Sprint("Title ", i)
		require.NoError(t, h.UpdateForm(e.ctx, &form))
	}
	want := formbuilder.Change{Kind: formbuilder.ChangeForm, ID: f.FormA.ID, Key: f.FormA.Key}
	for _, l := range logs {
		require.Eventually(t, func() bool { return len(l.snapshot()) == 3 }, waitLong, waitTick)
		assert.Equal(t, []formbuilder.Change{want, want, want}, l.snapshot())
	}
}

// testIPModeAppliedByStorage: once one server saved "truncated", another
// server that has not re-read the settings (nothing told it yet) stores
// submissions, their entries, withdrawals and chat consents truncated, and
// full again after "full" is saved.
func testIPModeAppliedByStorage(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newChatFixture(t, e)
	b := e.Reopen(t)
	ctx := e.ctx
	const full, cut = "203.0.113.77", "203.0.113.0"
	const full6, cut6 = "2001:db8:1234:5678::9", "2001:db8:1234::"
	setMode := func(mode string) {
		st, err := e.db.GetSettings(ctx)
		require.NoError(t, err)
		st.IPMode = mode
		require.NoError(t, e.db.SaveSettings(ctx, st))
	}
	submit := func(email, ip string) (*formbuilder.Submission, []*formbuilder.ConsentRecord) {
		sub, recs := f.Submission(t, f.FormA, email, ip)
		require.NoError(t, b.CreateSubmission(ctx, sub, recs))
		return sub, recs
	}
	check := func(sub *formbuilder.Submission, recs []*formbuilder.ConsentRecord, want string) {
		t.Helper()
		assert.Equal(t, want, sub.IP, "the submission as returned")
		got, err := e.db.FindSubmission(ctx, sub.ID)
		require.NoError(t, err)
		assert.Equal(t, want, got.IP, "the submission as stored")
		for _, r := range recs {
			assert.Equal(t, want, r.IP, "entry %d as returned", r.ID)
			stored, err := e.db.FindRecord(ctx, r.ID)
			require.NoError(t, err)
			assert.Equal(t, want, stored.IP, "entry %d as stored", r.ID)
		}
	}

	sub, recs := submit("before@example.com", full)
	check(sub, recs, full)
	setMode(formbuilder.IPTruncated)
	sub2, recs2 := submit("after@example.com", full)
	check(sub2, recs2, cut)
	sub6, recs6 := submit("six@example.com", full6)
	check(sub6, recs6, cut6)

	w, err := b.Withdraw(ctx, recs[0].ID, full, "test-agent")
	require.NoError(t, err)
	check(&formbuilder.Submission{ID: sub.ID, IP: full}, nil, full) // the original keeps its address
	got, err := e.db.FindRecord(ctx, w.ID)
	require.NoError(t, err)
	assert.Equal(t, cut, got.IP, "the withdrawal")

	res, err := f.db.PostVisitorMessage(ctx, f.ch, formbuilder.VisitorPost{VisitorID: newVisitorID(t), Text: "hi"})
	require.NoError(t, err)
	rec := f.record(res.Conversation)
	rec.IP = full
	_, err = b.AcceptConsent(ctx, res.Conversation.ID, rec)
	require.NoError(t, err)
	assert.Equal(t, cut, rec.IP)
	got, err = e.db.FindRecord(ctx, rec.ID)
	require.NoError(t, err)
	assert.Equal(t, cut, got.IP, "the chat consent")

	setMode(formbuilder.IPFull)
	sub3, recs3 := submit("full-again@example.com", full)
	check(sub3, recs3, full)
	requireVerified(t, e.db, -1)
}

// testIPModeSaveWaitsForWriters: a save of "truncated" returns only after
// every transaction that read "full" has committed. One server stores
// submissions without pause while another switches the mode; the full
// addresses stored when a save of "truncated" returns are all there are
// until "full" is saved again. Without the settings lock a batch that read
// "full" just before the save commits just after it, which each round
// catches about every second time.
func testIPModeSaveWaitsForWriters(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newFixture(t, e)
	b := e.Reopen(t)
	const full = "203.0.113.77"
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				sub, recs := f.Submission(t, f.FormA, fmt.Sprintf("g%d-%d@example.com", g, i), full)
				if err := b.CreateSubmission(e.ctx, sub, recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	countFull := func() int64 {
		n, err := e.QueryInt(e.ctx, "SELECT COUNT(*) FROM submissions WHERE ip = $1", full)
		require.NoError(t, err)
		return n
	}
	// more waits until n more submissions are in the database: committed
	// after the call, unlike those a goroutine counts a moment late.
	more := func(n int64) {
		from := int64(e.count(t, "submissions"))
		require.Eventually(t, func() bool { return int64(e.count(t, "submissions")) >= from+n }, waitLong, waitTick)
	}
	save := func(mode string) {
		require.NoError(t, e.db.SaveSettings(e.ctx, &formbuilder.Settings{IPMode: mode}))
	}
	for round := range 6 {
		save(formbuilder.IPFull)
		// Also the first query on the connection, which is slow: the count
		// after the save must take its snapshot right away.
		start := countFull()
		more(30)
		save(formbuilder.IPTruncated)
		atSave := countFull()
		assert.GreaterOrEqual(t, atSave, start+30, "round %d: stored after \"full\" was saved, so full", round)
		more(30)
		assert.Equal(t, atSave, countFull(), "round %d: full addresses stored after the save of \"truncated\" returned", round)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	requireVerified(t, e.db, -1)
}

// waitChange waits for a change of kind in l after the first n.
func waitChange(t testing.TB, l *changeLog, n int, kind formbuilder.ChangeKind) {
	t.Helper()
	require.Eventually(t, func() bool {
		return slices.ContainsFunc(l.snapshot()[n:], func(c formbuilder.Change) bool { return c.Kind == kind })
	}, waitLong, waitTick)
}

// testChangesAfterClose: Close ends the subscriptions; subscribing to a
// closed database is refused or harmless.
func testChangesAfterClose(t *testing.T, open Opener) {
	e := newEnv(t, open)
	l := subscribeChanges(t, e.db)
	require.NoError(t, e.db.SaveSettings(e.ctx, &formbuilder.Settings{IPMode: formbuilder.IPFull}))
	waitChange(t, l, 0, formbuilder.ChangeSettings)
	require.NoError(t, e.db.Close())
	stop, err := e.db.SubscribeChanges(func(formbuilder.Change) { t.Error("change after Close") })
	if err == nil {
		stop()
	}
	assert.Len(t, l.snapshot(), 1)
}

func init() {
	register("ChangesAnnounced", testChangesAnnounced)
	register("ChangesOfOtherHandles", testChangesOfOtherHandles)
	register("ChangesAfterClose", testChangesAfterClose)
	register("IPModeAppliedByStorage", testIPModeAppliedByStorage)
	register("IPModeSaveWaitsForWriters", testIPModeSaveWaitsForWriters)
}
