package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// Polling bounds for require.Eventually.
const (
	waitLong = 10 * time.Second
	waitTick = time.Millisecond
)

// newTestDB opens a fresh database file in t.TempDir() with a test clock and
// closes it when the test ends.
func newTestDB(t testing.TB, opts ...Option) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := Open(path, append([]Option{WithClock(storagetest.NewTestClock().Now)}, opts...)...)
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

func newFixture(t testing.TB, db *DB) *storagetest.Fixture { return storagetest.NewFixture(t, db) }

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
				if err := sqlcore.AppendForTest(ctx, db.DB, recs); err != nil {
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
