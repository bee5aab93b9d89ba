package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
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

// exportBatch is the batch size the backends read exports in; tests fill
// more than two batches to cross their borders.
const exportBatch = 1000

// env is one test's backend with the helpers the tests share.
type env struct {
	*Backend
	db  Store
	ctx context.Context
	// now reads the backend's clock.
	now func() time.Time
}

// newEnv opens a backend with the test clock unless o sets another.
func newEnv(t testing.TB, open Opener, o ...Options) *env {
	t.Helper()
	var opt Options
	if len(o) > 0 {
		opt = o[0]
	}
	if opt.Clock == nil {
		opt.Clock = NewTestClock().Now
	}
	b := open(t, opt)
	return &env{Backend: b, db: b.Store, ctx: context.Background(), now: opt.Clock}
}

// count returns the number of rows in table.
func (e *env) count(t testing.TB, table string) int {
	t.Helper()
	n, err := e.QueryInt(e.ctx, "SELECT COUNT(*) FROM "+table)
	require.NoError(t, err)
	return int(n)
}

func requireCode(t testing.TB, code string, err error) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, formbuilder.ErrorCode(err), "error: %v", err)
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fixture is the suite's Fixture with its backend.
type fixture struct {
	*env
	*Fixture
}

func newFixture(t testing.TB, e *env) *fixture {
	t.Helper()
	return &fixture{env: e, Fixture: NewFixture(t, e.db)}
}

// allRecords reads the whole log oldest first.
func allRecords(t testing.TB, db Store) []*formbuilder.ConsentRecord {
	t.Helper()
	var out []*formbuilder.ConsentRecord
	require.NoError(t, db.ExportRecords(context.Background(), formbuilder.RecordFilter{}, func(r *formbuilder.ConsentRecord) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func requireVerified(t testing.TB, db Store, checked int64) {
	t.Helper()
	vr, err := db.Verify(context.Background())
	require.NoError(t, err)
	require.True(t, vr.OK(), "%+v", vr)
	if checked >= 0 {
		require.EqualValues(t, checked, vr.Checked)
	}
}

// bulkAppend appends n entries built by gen through the writer, in jobs of
// a few hundred.
func bulkAppend(t testing.TB, e *env, n int, gen func(i int) *formbuilder.ConsentRecord) {
	t.Helper()
	const perJob = 500
	for start := 0; start < n; start += perJob {
		recs := make([]*formbuilder.ConsentRecord, 0, perJob)
		for i := start; i < min(start+perJob, n); i++ {
			recs = append(recs, gen(i))
		}
		require.NoError(t, e.Append(e.ctx, recs))
	}
}

// bulkSubmissions inserts n submissions of a form straight into the table,
// many rows per statement: a quick way to fill an inbox for export tests.
// Each message has a formula, a line break, a comma and quotes, the cells a
// CSV export must get right. Row i is created at + i ms.
func bulkSubmissions(t testing.TB, e *env, formID int64, key string, n int, at time.Time) {
	t.Helper()
	const perStmt = 400
	for start := 0; start < n; start += perStmt {
		end := min(start+perStmt, n)
		var q strings.Builder
		q.WriteString(`INSERT INTO submissions (form_id, form_key, "values", subject, page_url, ip, user_agent, created_at) VALUES `)
		args := make([]any, 0, 8*(end-start))
		for i := start; i < end; i++ {
			if i > start {
				q.WriteString(", ")
			}
			k := len(args)
			fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", k+1, k+2, k+3, k+4, k+5, k+6, k+7, k+8)
			email := fmt.Sprintf("visitor%d@example.com", i)
			msg := fmt.Sprintf(`=HYPERLINK("http://evil.example") line one`+"\n"+`line two, with a comma and "quotes" %d`, i)
			vals := fmt.Sprintf(`{"email":[%q],"message":[%q]}`, email, msg)
			ts := at.UTC().Add(time.Duration(i) * time.Millisecond).Format("2006-01-02T15:04:05.000000000Z07:00")
			args = append(args, formID, key, vals, email, fmt.Sprintf("https://shop.example.com/p?i=%d", i),
				"198.51.100.7", "bench-agent", ts)
		}
		require.NoError(t, e.Exec(e.ctx, q.String(), args...))
	}
}

func newVisitorID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
