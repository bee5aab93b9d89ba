package storagetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const appendOnly = "consent log is append-only"

// testConsentLogIsAppendOnlyInTheDatabase: the database itself refuses to
// change or remove an entry, whoever asks. Engine-specific attacks (SQLite's
// INSERT OR REPLACE, PostgreSQL's TRUNCATE) are tested by each backend.
func testConsentLogIsAppendOnlyInTheDatabase(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	f.Submit(t, f.FormA, "192.0.2.1")
	f.Submit(t, f.FormA, "192.0.2.2")
	ctx := context.Background()

	for name, q := range AppendOnlyAttacks {
		t.Run(name, func(t *testing.T) {
			err := e.Exec(ctx, q)
			require.Error(t, err)
			assert.Contains(t, err.Error(), AppendOnlyMessage)
		})
	}
	recs := allRecords(t, db)
	require.Len(t, recs, 4)
	assert.NotEqual(t, "forged", recs[0].Subject)
	requireVerified(t, db, 4)
}

// AppendOnlyMessage is what the database's refusal to change the log says.
const AppendOnlyMessage = "consent log is append-only"

// AppendOnlyAttacks are statements every backend's database must refuse on
// the log (each after at least one entry with id 1 exists).
var AppendOnlyAttacks = map[string]string{
	"update": "UPDATE consent_records SET subject = 'forged' WHERE id = 1",
	"delete": "DELETE FROM consent_records WHERE id = 1",
	"upsert": `INSERT INTO consent_records SELECT * FROM consent_records WHERE id = 1
		ON CONFLICT (id) DO UPDATE SET subject = 'forged'`,
	"insert copy": `INSERT INTO consent_records (id, time, action, consent_id, consent_name, version_id,
		version_no, text_hash, prev_hash, hash, initial_state, interacted)
		SELECT id + 1000, time, action, consent_id, consent_name, version_id, version_no, text_hash,
		prev_hash, hash, initial_state, interacted FROM consent_records WHERE id = 1`,
}

// insertRecordSQL inserts one entry with every column, as a second writer
// that bypasses the application would.
const insertRecordSQL = `INSERT INTO consent_records (id, time, action, consent_id, consent_name,
	version_id, version_no, text_hash, form_id, form_key, channel_id, source, page_url, user_id,
	user_name, ip, user_agent, subject, initial_state, interacted, submission_id, withdraws_id,
	prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
	$17, $18, $19, $20, $21, $22, $23, $24)`

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func recordArgs(r *formbuilder.ConsentRecord) []any {
	return []any{r.ID, r.Time.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"), r.Action, r.ConsentID, r.ConsentName,
		r.VersionID, r.VersionNo, r.TextHash, nullID(r.FormID), r.FormKey, nullID(r.ChannelID),
		r.Source, r.PageURL, nullID(r.UserID), r.User, r.IP, r.UserAgent, r.Subject,
		r.InitialState, r.Interacted, nullID(r.SubmissionID), nullID(r.WithdrawsID),
		r.PrevHash, r.Hash}
}

func testInsertGuardRejectsForks(t *testing.T, open Opener) {
	e := newEnv(t, open)
	f := newFixture(t, e)
	recs := f.Submit(t, f.FormA, "192.0.2.1")
	ctx := context.Background()
	// A record with the right next id but a stale prev hash (a second
	// writer that missed an append) is refused by the database.
	r := *recs[0]
	r.ID = recs[1].ID + 1
	r.Seal(recs[0].PrevHash)
	err := e.Exec(ctx, insertRecordSQL, recordArgs(&r)...)
	require.Error(t, err)
	assert.Contains(t, err.Error(), AppendOnlyMessage)
	// And a gap in the ids.
	r.ID = recs[1].ID + 2
	r.Seal(recs[1].Hash)
	require.Error(t, e.Exec(ctx, insertRecordSQL, recordArgs(&r)...))
	// The right id and hash pass: the guard is not simply refusing all.
	r.ID = recs[1].ID + 1
	r.Seal(recs[1].Hash)
	require.NoError(t, e.Exec(ctx, insertRecordSQL, recordArgs(&r)...))
	requireVerified(t, e.db, 3)
}

func testSubmissionIsOneTransaction(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	sub, recs := f.Submission(t, f.FormA, "a@example.com", "192.0.2.1")
	require.Len(t, recs, 2)
	recs[1].VersionID = 9999 // no such version: a foreign key violation on the 2nd record

	err := db.CreateSubmission(ctx, sub, recs)
	requireCode(t, formbuilder.EINVALID, err)
	assert.Zero(t, e.count(t, "submissions"), "the submission is rolled back with its records")
	assert.Zero(t, e.count(t, "consent_records"))
	assert.Zero(t, sub.ID)
	assert.Zero(t, recs[0].ID)
	assert.Empty(t, recs[0].Hash)

	// The chain head was restored: the next submission links to genesis.
	ok := f.Submit(t, f.FormA, "192.0.2.1")
	assert.EqualValues(t, 1, ok[0].ID)
	assert.Equal(t, formbuilder.GenesisHash, ok[0].PrevHash)
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
}

func testGroupCommitConcurrent(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	const n = 200
	type sent struct {
		sub  *formbuilder.Submission
		recs []*formbuilder.ConsentRecord
	}
	all := make([]sent, n)
	for i := range all {
		form := f.FormA
		if i%3 == 0 {
			form = f.FormB
		}
		sub, recs := f.Submission(t, form, fmt.Sprintf("v%d@example.com", i), fmt.Sprintf("198.51.100.%d", i%250))
		all[i] = sent{sub, recs}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = db.CreateSubmission(ctx, all[i].sub, all[i].recs)
		}()
	}
	close(start)
	wg.Wait()

	total := 0
	for i, s := range all {
		require.NoError(t, errs[i])
		got, err := db.FindSubmission(ctx, s.sub.ID)
		require.NoError(t, err)
		assert.Equal(t, s.sub.Values, got.Values)
		for _, r := range s.recs {
			stored, err := db.FindRecord(ctx, r.ID)
			require.NoError(t, err)
			assert.Equal(t, r, stored, "what the caller got back is what is stored")
			assert.Equal(t, s.sub.ID, stored.SubmissionID)
			total++
		}
	}
	assert.Equal(t, total, e.count(t, "consent_records"))
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
	assert.EqualValues(t, total, vr.Checked)
	st := e.Stats()
	assert.Zero(t, st.Retried, "batches without a failure commit without savepoints")
	t.Logf("%d submissions in %d batches", st.Jobs, st.Batches)
}

// testGroupCommitBadSubmissionFailsAlone queues submissions in a known order
// while the writer is held, so the bad one lands in the middle of a batch.
func testGroupCommitBadSubmissionFailsAlone(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()

	// The writer takes the first job and then waits.
	resume := e.PauseWriter()

	const n = 101
	const bad = 50
	subs := make([]*formbuilder.Submission, n)
	recs := make([][]*formbuilder.ConsentRecord, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		subs[i], recs[i] = f.Submission(t, f.FormA, fmt.Sprintf("v%d@example.com", i), "203.0.113.7")
		if i == bad {
			recs[i][0].VersionID = 9999 // passes the checks, fails the foreign key
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.CreateSubmission(ctx, subs[i], recs[i])
		}()
		// Enqueue in order: job 0 is taken by the writer (which then
		// waits), jobs 1..i wait in the queue.
		require.Eventually(t, func() bool {
			st := e.Stats()
			return st.Jobs == 1 && st.Queued == i
		}, waitLong, waitTick)
	}
	batchesBefore := e.Stats().Batches
	resume()
	wg.Wait()

	// Job 0 was alone; jobs 1..100 came in one batch with the bad one inside,
	// which ran without savepoints first and again with them.
	assert.EqualValues(t, 1, e.Stats().Batches-batchesBefore)
	assert.EqualValues(t, 1, e.Stats().Retried)
	for i := 0; i < n; i++ {
		if i == bad {
			requireCode(t, formbuilder.EINVALID, errs[i])
			assert.Zero(t, subs[i].ID)
			continue
		}
		require.NoError(t, errs[i], i)
		_, err := db.FindSubmission(ctx, subs[i].ID)
		require.NoError(t, err)
	}
	assert.Equal(t, n-1, e.count(t, "submissions"))
	assert.Equal(t, 2*(n-1), e.count(t, "consent_records"))
	// The neighbours of the bad one are chained directly to each other.
	assert.Equal(t, recs[bad-1][1].Hash, recs[bad+1][0].PrevHash)
	assert.Equal(t, recs[bad-1][1].ID+1, recs[bad+1][0].ID)
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
}

func testCancelledBeforeTakenIsNotStored(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	resume := e.PauseWriter()

	// The first occupies the writer; the second waits in the queue.
	first, firstRecs := f.Submission(t, f.FormB, "a@example.com", "192.0.2.1")
	firstErr := make(chan error)
	go func() { firstErr <- db.CreateSubmission(ctx, first, firstRecs) }()
	require.Eventually(t, func() bool { return e.Stats().Batches == 1 }, waitLong, waitTick)

	cctx, cancel := context.WithCancel(ctx)
	second, secondRecs := f.Submission(t, f.FormB, "b@example.com", "192.0.2.2")
	secondErr := make(chan error)
	go func() { secondErr <- db.CreateSubmission(cctx, second, secondRecs) }()
	require.Eventually(t, func() bool { return e.Stats().Queued == 1 }, waitLong, waitTick)
	cancel()
	err := <-secondErr
	require.ErrorIs(t, err, context.Canceled)

	// The first was taken before, so its caller gets the real outcome even
	// when its context ends while it waits.
	resume()
	require.NoError(t, <-firstErr)
	assert.Equal(t, 1, e.count(t, "submissions"))
	assert.Zero(t, second.ID)
}

func testTakenSubmissionOutlivesCancel(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	resume := e.PauseWriter()
	cctx, cancel := context.WithCancel(ctx)
	sub, recs := f.Submission(t, f.FormB, "a@example.com", "192.0.2.1")
	done := make(chan error)
	go func() { done <- db.CreateSubmission(cctx, sub, recs) }()
	require.Eventually(t, func() bool { return e.Stats().Batches == 1 }, waitLong, waitTick)
	cancel() // after the writer took it
	time.Sleep(10 * time.Millisecond)
	resume()
	require.NoError(t, <-done, "the caller learns that its consent was stored")
	_, err := db.FindSubmission(ctx, sub.ID)
	require.NoError(t, err)
}

func testVerifyDetectsTampering(t *testing.T, open Opener) {
	ctx := context.Background()
	setup := func(t *testing.T) *env {
		e := newEnv(t, open)
		f := newFixture(t, e)
		for i := 0; i < 5; i++ {
			f.Submit(t, f.FormA, "192.0.2.1") // 2 records each: ids 1..10
		}
		requireVerified(t, e.db, 10)
		return e
	}

	t.Run("changed entry", func(t *testing.T) {
		e := setup(t)
		require.NoError(t, e.Tamper(ctx, "UPDATE consent_records SET subject = 'someone-else@example.com' WHERE id = 5"))
		vr, err := e.db.Verify(ctx)
		require.NoError(t, err)
		assert.False(t, vr.OK())
		assert.EqualValues(t, 5, vr.BrokenID)
		assert.Contains(t, vr.Reason, "changed")
	})

	t.Run("deleted middle entry", func(t *testing.T) {
		e := setup(t)
		require.NoError(t, e.Tamper(ctx, "DELETE FROM consent_records WHERE id = 5"))
		vr, err := e.db.Verify(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 6, vr.BrokenID)
		assert.Contains(t, vr.Reason, "missing")
	})

	t.Run("changed and rehashed entry", func(t *testing.T) {
		e := setup(t)
		r, err := e.db.FindRecord(ctx, 5)
		require.NoError(t, err)
		r.Subject = "forged@example.com"
		r.Seal(r.PrevHash)
		require.NoError(t, e.Tamper(ctx, "UPDATE consent_records SET subject = $1, hash = $2 WHERE id = 5", r.Subject, r.Hash))
		vr, err := e.db.Verify(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 6, vr.BrokenID, "the next entry no longer links")
	})

	t.Run("changed consent text", func(t *testing.T) {
		e := setup(t)
		require.NoError(t, e.Tamper(ctx, "UPDATE consent_versions SET text = '<p>something else</p>' WHERE id = 1"))
		vr, err := e.db.Verify(ctx)
		require.NoError(t, err)
		assert.False(t, vr.OK())
		assert.Contains(t, vr.Reason, "consent version 1")
	})

	t.Run("truncated end is not a broken chain", func(t *testing.T) {
		// Removing entries from the end leaves a valid, shorter chain: only
		// the count (and anchors kept elsewhere) show it.
		e := setup(t)
		require.NoError(t, e.Tamper(ctx, "DELETE FROM consent_records WHERE id > 8"))
		requireVerified(t, e.db, 8)
	})
}

func testWithdraw(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	recs := f.Submit(t, f.FormA, "192.0.2.1")
	other := f.Submit(t, f.FormB, "192.0.2.2")

	w, err := db.Withdraw(ctx, recs[0].ID, "198.51.100.1", "withdrawing-agent")
	require.NoError(t, err)
	assert.Equal(t, formbuilder.ActionWithdrawn, w.Action)
	assert.Equal(t, recs[0].ID, w.WithdrawsID)
	assert.Equal(t, other[0].ID+1, w.ID, "appended at the end")
	assert.Equal(t, other[0].Hash, w.PrevHash)
	assert.Equal(t, recs[0].ConsentID, w.ConsentID)
	assert.Equal(t, recs[0].VersionID, w.VersionID)
	assert.Equal(t, recs[0].TextHash, w.TextHash)
	assert.Equal(t, recs[0].FormID, w.FormID)
	assert.Equal(t, recs[0].Subject, w.Subject)
	assert.Equal(t, recs[0].Source, w.Source)
	assert.Equal(t, "198.51.100.1", w.IP)
	assert.Equal(t, "withdrawing-agent", w.UserAgent)
	stored, err := db.FindRecord(ctx, w.ID)
	require.NoError(t, err)
	assert.Equal(t, w, stored)

	m, err := db.Withdrawn(ctx, []int64{recs[0].ID, recs[1].ID, other[0].ID, 999})
	require.NoError(t, err)
	assert.Equal(t, map[int64]bool{recs[0].ID: true}, m)

	_, err = db.Withdraw(ctx, recs[0].ID, "198.51.100.1", "")
	requireCode(t, formbuilder.ECONFLICT, err)
	_, err = db.Withdraw(ctx, w.ID, "198.51.100.1", "")
	requireCode(t, formbuilder.EINVALID, err)
	_, err = db.Withdraw(ctx, 999, "198.51.100.1", "")
	requireCode(t, formbuilder.ENOTFOUND, err)

	// Failed withdrawals left the chain alone.
	next := f.Submit(t, f.FormB, "192.0.2.3")
	assert.Equal(t, w.ID+1, next[0].ID)
	assert.Equal(t, w.Hash, next[0].PrevHash)
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)

	given, err := db.ListRecords(ctx, formbuilder.RecordFilter{Action: formbuilder.ActionWithdrawn})
	require.NoError(t, err)
	require.Len(t, given, 1)
	assert.Equal(t, w.ID, given[0].ID)
}

// match is the reference implementation of a RecordFilter (without keyset).
func match(f formbuilder.RecordFilter, r *formbuilder.ConsentRecord) bool {
	q := strings.ToLower(f.Query)
	return (f.ConsentID == 0 || r.ConsentID == f.ConsentID) &&
		(f.FormID == 0 || r.FormID == f.FormID) &&
		(f.ChannelID == 0 || r.ChannelID == f.ChannelID) &&
		(f.IP == "" || r.IP == f.IP) &&
		(f.Action == "" || r.Action == f.Action) &&
		(f.Subject == "" || formbuilder.FoldSubject(r.Subject) == formbuilder.FoldSubject(f.Subject)) &&
		(f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Until.IsZero() || r.Time.Before(f.Until)) &&
		(q == "" || strings.Contains(strings.ToLower(r.Subject+"\x00"+r.PageURL+"\x00"+r.Source+"\x00"+r.ConsentName+"\x00"+r.User), q))
}

func testListRecordsFiltersAndPagination(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	ips := []string{"192.0.2.1", "192.0.2.2", "2001:db8::1"}
	for i := 0; i < 30; i++ {
		form := f.FormA
		if i%4 == 0 {
			form = f.FormB
		}
		f.Submit(t, form, ips[i%len(ips)])
	}
	_, err := db.Withdraw(ctx, 3, "192.0.2.9", "")
	require.NoError(t, err)
	all := allRecords(t, db)
	require.Greater(t, len(all), 40)
	mid := all[len(all)/2].Time

	filters := map[string]formbuilder.RecordFilter{
		"none":          {},
		"consent":       {ConsentID: f.C1.ID},
		"form":          {FormID: f.FormB.ID},
		"ip":            {IP: "2001:db8::1"},
		"consent+ip":    {ConsentID: f.C2.ID, IP: "192.0.2.2"},
		"form+consent":  {FormID: f.FormA.ID, ConsentID: f.C2.ID},
		"since":         {Since: mid},
		"until":         {Until: mid},
		"range+form":    {Since: all[5].Time, Until: mid, FormID: f.FormA.ID},
		"query subject": {Query: "VISITOR1"},
		"query source":  {Query: "contact b"},
		"query user":    {Query: "olga"},
		"query consent": {Query: "newsletter", IP: "192.0.2.1"},
		"query literal": {Query: "100%"},
		"withdrawn":     {Action: formbuilder.ActionWithdrawn},
		"subject":       {Subject: "VISITOR7@example.COM"},
		"subject+form":  {Subject: "visitor8@example.com", FormID: f.FormA.ID, Action: formbuilder.ActionGiven},
		"no match":      {ConsentID: 999},
	}
	for name, flt := range filters {
		t.Run(name, func(t *testing.T) {
			var want []int64
			for i := len(all) - 1; i >= 0; i-- {
				if match(flt, all[i]) {
					want = append(want, all[i].ID)
				}
			}
			// Page through with a small page size: no overlap, no gap.
			var got []int64
			flt.Limit = 4
			for pages := 0; pages < 100; pages++ {
				page, err := db.ListRecords(ctx, flt)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page), 4)
				for _, r := range page {
					got = append(got, r.ID)
				}
				if len(page) < 4 {
					break
				}
				flt.BeforeID = page[len(page)-1].ID
			}
			assert.Equal(t, want, got)

			// Export: the same set, oldest first.
			flt.BeforeID, flt.Limit = 0, 0
			var exported []int64
			require.NoError(t, db.ExportRecords(ctx, flt, func(r *formbuilder.ConsentRecord) error {
				exported = append(exported, r.ID)
				return nil
			}))
			for i, j := 0, len(exported)-1; i < j; i, j = i+1, j-1 {
				exported[i], exported[j] = exported[j], exported[i]
			}
			assert.Equal(t, want, exported)
		})
	}

	page, err := db.ListRecords(ctx, formbuilder.RecordFilter{})
	require.NoError(t, err)
	assert.Len(t, page, min(len(all), formbuilder.DefaultPageSize))
	_, err = db.ListRecords(ctx, formbuilder.RecordFilter{Query: strings.Repeat("x", formbuilder.MaxQueryLength+1)})
	requireCode(t, formbuilder.EINVALID, err)
	_, err = db.ListRecords(ctx, formbuilder.RecordFilter{Action: "deleted"})
	requireCode(t, formbuilder.EINVALID, err)
}

func testExportRecordsBatchesAndBounds(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	s := NewBenchSet(t, db, 3, 2)
	ctx := context.Background()
	const n = 2*exportBatch + 37
	bulkAppend(t, e, n, s.Record)
	var ids []int64
	require.NoError(t, db.ExportRecords(ctx, formbuilder.RecordFilter{}, func(r *formbuilder.ConsentRecord) error {
		ids = append(ids, r.ID)
		return nil
	}))
	require.Len(t, ids, n)
	for i, id := range ids {
		require.EqualValues(t, i+1, id)
	}

	ids = nil
	require.NoError(t, db.ExportRecords(ctx, formbuilder.RecordFilter{AfterID: 100, BeforeID: 1500, Limit: 1000}, func(r *formbuilder.ConsentRecord) error {
		ids = append(ids, r.ID)
		return nil
	}))
	require.Len(t, ids, 1000)
	assert.EqualValues(t, 101, ids[0])
	assert.EqualValues(t, 1100, ids[999])

	stop := fmt.Errorf("stop")
	calls := 0
	err := db.ExportRecords(ctx, formbuilder.RecordFilter{}, func(*formbuilder.ConsentRecord) error {
		calls++
		return stop
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
	assert.EqualValues(t, n, vr.Checked)
}

func testSearchIsBounded(t *testing.T, open Opener) {
	e := newEnv(t, open, Options{SearchTimeout: time.Nanosecond})
	db := e.db
	s := NewBenchSet(t, db, 3, 2)
	bulkAppend(t, e, 5000, s.Record)
	_, err := db.ListRecords(context.Background(), formbuilder.RecordFilter{Query: "no such text"})
	requireCode(t, formbuilder.EINVALID, err)
	assert.Contains(t, formbuilder.ErrorFields(err), "query")
}

// testTwoHandlesShareOneChain opens the database twice, as two server
// processes would, and appends through both at once: the chain stays
// linear because each batch reads the head under the chain's lock.
func testTwoHandlesShareOneChain(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	other := e.Reopen(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 50; i++ {
		for _, h := range []Store{db, other} {
			sub, recs := f.Submission(t, f.FormA, fmt.Sprintf("v%d@example.com", i), "192.0.2.1")
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- h.CreateSubmission(ctx, sub, recs)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err := other.Withdraw(ctx, 1, "192.0.2.2", "")
	require.NoError(t, err)
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
	assert.EqualValues(t, 201, vr.Checked)
}

// testGroupCommitMixedBatch puts a withdrawal (which reads the log) between
// submissions (whose entries the batch inserts together at the end): the
// withdrawal sees and extends the chain in order, without a retry.
func testGroupCommitMixedBatch(t *testing.T, open Opener) {
	e := newEnv(t, open)
	db := e.db
	f := newFixture(t, e)
	ctx := context.Background()
	first := f.Submit(t, f.FormA, "192.0.2.1")

	resume := e.PauseWriter()
	var wg sync.WaitGroup
	var subErrs [3]error
	var withdrawn *formbuilder.ConsentRecord
	var withdrawErr error
	subs := make([]*formbuilder.Submission, 3)
	recs := make([][]*formbuilder.ConsentRecord, 3)
	jobs := e.Stats().Jobs
	queue := func(i int, fn func()) {
		wg.Add(1)
		go func() { defer wg.Done(); fn() }()
		require.Eventually(t, func() bool {
			st := e.Stats()
			return st.Jobs == jobs+1 && st.Queued == i
		}, waitLong, waitTick)
	}
	for i := 0; i < 3; i++ {
		subs[i], recs[i] = f.Submission(t, f.FormA, fmt.Sprintf("m%d@example.com", i), "203.0.113.8")
	}
	queue(0, func() { subErrs[0] = db.CreateSubmission(ctx, subs[0], recs[0]) })
	queue(1, func() { subErrs[1] = db.CreateSubmission(ctx, subs[1], recs[1]) })
	queue(2, func() { withdrawn, withdrawErr = db.Withdraw(ctx, first[0].ID, "192.0.2.9", "ua") })
	queue(3, func() { subErrs[2] = db.CreateSubmission(ctx, subs[2], recs[2]) })
	resume()
	wg.Wait()

	require.NoError(t, withdrawErr)
	for i := range subErrs {
		require.NoError(t, subErrs[i], i)
	}
	assert.Zero(t, e.Stats().Retried)
	assert.Equal(t, recs[1][1].ID+1, withdrawn.ID)
	assert.Equal(t, recs[1][1].Hash, withdrawn.PrevHash)
	assert.Equal(t, withdrawn.Hash, recs[2][0].PrevHash)
	for _, r := range append(append(recs[0], recs[1]...), recs[2]...) {
		stored, err := db.FindRecord(ctx, r.ID)
		require.NoError(t, err)
		assert.Equal(t, r, stored)
	}
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
	assert.EqualValues(t, 9, vr.Checked)
}

func init() {
	register("ConsentLogIsAppendOnlyInTheDatabase", testConsentLogIsAppendOnlyInTheDatabase)
	register("InsertGuardRejectsForks", testInsertGuardRejectsForks)
	register("SubmissionIsOneTransaction", testSubmissionIsOneTransaction)
	register("GroupCommitConcurrent", testGroupCommitConcurrent)
	register("GroupCommitBadSubmissionFailsAlone", testGroupCommitBadSubmissionFailsAlone)
	register("CancelledBeforeTakenIsNotStored", testCancelledBeforeTakenIsNotStored)
	register("TakenSubmissionOutlivesCancel", testTakenSubmissionOutlivesCancel)
	register("VerifyDetectsTampering", testVerifyDetectsTampering)
	register("Withdraw", testWithdraw)
	register("ListRecordsFiltersAndPagination", testListRecordsFiltersAndPagination)
	register("ExportRecordsBatchesAndBounds", testExportRecordsBatchesAndBounds)
	register("SearchIsBounded", testSearchIsBounded)
	register("TwoHandlesShareOneChain", testTwoHandlesShareOneChain)
	register("GroupCommitMixedBatch", testGroupCommitMixedBatch)
}
