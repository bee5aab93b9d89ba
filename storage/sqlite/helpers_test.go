package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/stretchr/testify/require"
)

// Polling bounds for require.Eventually.
const (
	waitLong = 10 * time.Second
	waitTick = time.Millisecond
)

// testClock is a clock that moves one second per reading, so every stored
// time is distinct and predictable.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// newTestDB opens a fresh database file in t.TempDir() with a test clock and
// closes it when the test ends.
func newTestDB(t testing.TB, opts ...Option) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := Open(path, append([]Option{WithClock(newTestClock().Now)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// rawDB opens the file with a plain connection and none of our pragmas: what
// someone with a copy of the file and the sqlite3 shell has.
func rawDB(t testing.TB, db *DB) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+db.Path()+"?_busy_timeout=5000")
	require.NoError(t, err)
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	return raw
}

func requireCode(t testing.TB, code string, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, formbuilder.ErrorCode(err), "error: %v", err)
}

// fixture is a small installation: a user, two consents and two forms
// (A asks for both consents, B for the second only).
type fixture struct {
	user     *formbuilder.User
	c1, c2   *formbuilder.Consent
	formA    *formbuilder.Form
	formB    *formbuilder.Form
	ctx      context.Context
	db       *DB
	submitNo int
}

func content(text string) formbuilder.ConsentContent {
	return formbuilder.ConsentContent{Text: "<p>" + text + "</p>", Label: "I agree to the %terms%.", Language: "en"}
}

func newFixture(t testing.TB, db *DB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{ctx: ctx, db: db}
	f.user = &formbuilder.User{Email: "owner@example.com", Name: "Olga Owner"}
	require.NoError(t, db.CreateUser(ctx, f.user))
	f.c1 = &formbuilder.Consent{Name: "Newsletter", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, f.c1, content("We send you news."), "olga"))
	f.c2 = &formbuilder.Consent{Name: "Privacy", Type: formbuilder.ConsentCustom}
	require.NoError(t, db.CreateConsent(ctx, f.c2, content("We process your data."), "olga"))
	f.formA = newForm("Contact A", f.user.ID, f.c1.ID, f.c2.ID)
	require.NoError(t, db.CreateForm(ctx, f.formA))
	f.formB = newForm("Contact B", 0, f.c2.ID)
	require.NoError(t, db.CreateForm(ctx, f.formB))
	return f
}

func newForm(name string, userID int64, consentIDs ...int64) *formbuilder.Form {
	f := &formbuilder.Form{
		Name:     name,
		Language: "en",
		Fields: []formbuilder.Field{
			{Key: "email", Label: "E-mail", Kind: formbuilder.KindEmail, Required: true},
			{Key: "message", Label: "Message", Kind: formbuilder.KindTextarea},
		},
		ResponsibleUserID: userID,
	}
	for _, id := range consentIDs {
		f.Consents = append(f.Consents, formbuilder.FormConsent{ConsentID: id, CheckedByDefault: true, Required: true})
	}
	return f
}

// submission builds a valid submission of form with every consent ticked,
// through formbuilder.ValidateSubmission as the web layer does.
func (f *fixture) submission(t testing.TB, form *formbuilder.Form, email, ip string) (*formbuilder.Submission, []*formbuilder.ConsentRecord) {
	t.Helper()
	in := formbuilder.SubmissionInput{
		Values:    map[string][]string{"email": {email}, "message": {"hello"}},
		Consents:  map[int64]formbuilder.ConsentInput{},
		PageURL:   "https://shop.example.com/contact",
		IP:        ip,
		UserAgent: "test-agent",
	}
	for _, fc := range form.Consents {
		in.Consents[fc.ConsentID] = formbuilder.ConsentInput{Checked: true, Initial: true}
	}
	sub, recs, err := formbuilder.ValidateSubmission(form, in)
	require.NoError(t, err)
	return sub, recs
}

// submit stores a submission and returns its records.
func (f *fixture) submit(t testing.TB, form *formbuilder.Form, ip string) []*formbuilder.ConsentRecord {
	t.Helper()
	f.submitNo++
	sub, recs := f.submission(t, form, fmt.Sprintf("visitor%d@example.com", f.submitNo), ip)
	require.NoError(t, f.db.CreateSubmission(f.ctx, sub, recs))
	return recs
}

func count(t testing.TB, q *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

// bulkAppend appends n log entries built by gen through the writer, in
// jobs of a few hundred: a fast way to fill the log for benchmarks that
// still computes every hash and keeps the chain valid. Entries go from
// several goroutines, so the writer groups them into large transactions
// as it does submissions. Entry i is not necessarily entry i+1 of the log.
func bulkAppend(t testing.TB, db *DB, n int, gen func(i int) *formbuilder.ConsentRecord) {
	t.Helper()
	const perJob, workers = 100, 64
	ctx := context.Background()
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range next {
				end := min(start+perJob, n)
				recs := make([]*formbuilder.ConsentRecord, 0, end-start)
				for i := start; i < end; i++ {
					recs = append(recs, gen(i))
				}
				if err := db.AppendForTest(ctx, recs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for start := 0; start < n; start += perJob {
		select {
		case next <- start:
		case err := <-errs:
			close(next)
			wg.Wait()
			require.NoError(t, err)
		}
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
