// Package storagetest is the conformance suite of the storage backends:
// every test of what the formbuilder interfaces promise, written once and
// run against each implementation (storage/sqlite, storage/postgres) with
// Run. A backend passes when the suite passes unchanged.
//
// Tests that depend on one engine (SQLite's pragmas and VACUUM INTO, query
// plans, PostgreSQL's roles and TRUNCATE trigger) stay in the backend's own
// package. The few things the suite cannot do through the interfaces (look
// at tables, tamper with the log as someone with full database access,
// hold the group-commit writer) go through the hooks of Backend.
package storagetest

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
)

// Store is everything a backend offers the application: every storage
// interface of formbuilder, the installation secret, the outbox signal and
// Close.
type Store interface {
	formbuilder.Storage
	// Secret returns the installation's signing key, created on first use.
	Secret(ctx context.Context) ([]byte, error)
	// OutboxSignal receives a value after commits that queued deliveries.
	OutboxSignal() <-chan struct{}
	Close() error
}

// Options are what a test asks of a new backend.
type Options struct {
	// Clock replaces time.Now for every stored time when set.
	Clock func() time.Time
	// SearchTimeout bounds free-text searches when set.
	SearchTimeout time.Duration
	// Observer hears about the group-commit writer's batches when set.
	Observer formbuilder.WriterObserver
}

// WriterStats are the group-commit writer's counters: transactions, jobs,
// batches that ran again with savepoints after a job failed, and jobs
// waiting in the queue.
type WriterStats = sqlcore.WriterStats

// UseCore sets PauseWriter, Stats and Append from the shared core of a
// backend's database.
func (b *Backend) UseCore(db *sqlcore.DB) {
	b.PauseWriter = func() func() { return sqlcore.PauseWriter(db) }
	b.Stats = func() WriterStats { return sqlcore.Stats(db) }
	b.Append = func(ctx context.Context, recs []*formbuilder.ConsentRecord) error {
		return sqlcore.AppendForTest(ctx, db, recs)
	}
}

// UseSQL sets Exec and QueryInt to run on db.
func (b *Backend) UseSQL(db *sql.DB) {
	b.Exec = func(ctx context.Context, q string, args ...any) error {
		_, err := db.ExecContext(ctx, q, args...)
		return err
	}
	b.QueryInt = func(ctx context.Context, q string, args ...any) (int64, error) {
		var n int64
		err := db.QueryRowContext(ctx, q, args...).Scan(&n)
		return n, err
	}
}

// Backend is a fresh, empty, migrated database of one implementation with
// the hooks the suite needs. Open functions close it when the test ends.
type Backend struct {
	Store Store
	// Exec runs a statement on a connection of its own, with the rights of
	// the database's owner. Statements use $1, $2, … placeholders, which
	// both engines accept.
	Exec func(ctx context.Context, q string, args ...any) error
	// QueryInt returns the single integer q selects.
	QueryInt func(ctx context.Context, q string, args ...any) (int64, error)
	// Tamper runs q with the append-only triggers of consent_records,
	// consent_versions and consent_documents switched off: what someone with full access to the
	// database (or the SQLite file) can do. Verify must still notice.
	Tamper func(ctx context.Context, q string, args ...any) error
	// PauseWriter makes the group-commit writer wait before its next
	// transaction (after it took that batch's first job) until resume is
	// called, so a test can line jobs up in its queue.
	PauseWriter func() (resume func())
	// Stats reads the writer's counters.
	Stats func() WriterStats
	// Append appends entries to the log through the writer as one job,
	// sealing each into the chain (a zero Time becomes the clock's time):
	// a quick way to fill a log. It bypasses the checks of CreateSubmission.
	Append func(ctx context.Context, recs []*formbuilder.ConsentRecord) error
	// Reopen opens a second handle on the same database, as a second server
	// process would; it is closed when the test ends.
	Reopen func(t testing.TB) Store
	// SharedChanges says that the change feed spans processes: changes
	// made through a Reopen handle reach the subscribers of Store. SQLite
	// serves a database from one process and keeps its feed in memory.
	SharedChanges bool
}

// Opener returns a fresh Backend for one test.
type Opener func(t testing.TB, o Options) *Backend

// Run runs the whole suite against the backend open returns.
func Run(t *testing.T, open Opener) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

type test struct {
	name string
	fn   func(t *testing.T, open Opener)
}

// tests is filled by the init functions of the suite's files.
var tests []test

func register(name string, fn func(t *testing.T, open Opener)) {
	tests = append(tests, test{name, fn})
}
