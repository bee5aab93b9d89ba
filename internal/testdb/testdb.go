// Package testdb gives the tests above storage (web, delivery, cmd) a fresh
// database of the backend under test: a SQLite file in t.TempDir(), or a
// PostgreSQL database copied from one migrated template (internal/pgtest).
//
// A package whose tests go through the storage interfaces runs them on
// every backend by calling Main from its TestMain: the whole package runs
// once on SQLite, then once on PostgreSQL. PostgreSQL runs when
// CONSENTFORMS_TEST_POSTGRES names a server, and under CI=true, where
// every test that opens a database then fails without one instead of
// skipping. CONSENTFORMS_TEST_BACKENDS=sqlite (or postgres) runs one only.
// A test that holds for SQLite alone says so with SQLiteOnly.
package testdb

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/storage/postgres"
	"github.com/consentforms/consentforms/storage/sqlite"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// Store is what the application gets from a backend, the same interface
// the conformance suite tests every backend through.
type Store = storagetest.Store

var (
	_ Store = (*sqlite.DB)(nil)
	_ Store = (*postgres.DB)(nil)
)

// Backend names a storage implementation.
type Backend string

// The backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// EnvBackends limits Main to the backends it lists (comma-separated).
const EnvBackends = "CONSENTFORMS_TEST_BACKENDS"

// current is the backend of the running pass of Main; SQLite outside Main.
var current = SQLite

// Current is the backend the tests run on now.
func Current() Backend { return current }

// Backends lists the backends Main runs: SQLite, and PostgreSQL when a
// server is named or CI=true, as EnvBackends allows.
func Backends() []Backend {
	out := []Backend{SQLite}
	if os.Getenv(pgtest.EnvDSN) != "" || os.Getenv("CI") == "true" {
		out = append(out, Postgres)
	}
	if only := os.Getenv(EnvBackends); only != "" {
		var kept []Backend
		for _, b := range out {
			for _, name := range strings.Split(only, ",") {
				if Backend(strings.TrimSpace(name)) == b {
					kept = append(kept, b)
				}
			}
		}
		out = kept
	}
	return out
}

// Main runs the package's tests once per backend and drops the PostgreSQL
// template afterwards; call it from TestMain. With -test.v it says which
// backend each pass runs on.
func Main(m *testing.M) int {
	flag.Parse()
	code := 0
	backends := Backends()
	if len(backends) == 0 {
		fmt.Fprintf(os.Stderr, "testdb: %s=%q names no backend to run on\n", EnvBackends, os.Getenv(EnvBackends))
		return 2
	}
	for _, b := range backends {
		current = b
		if testing.Verbose() || len(backends) > 1 {
			fmt.Printf("=== backend %s\n", b)
		}
		if c := m.Run(); c != 0 {
			code = c
		}
	}
	current = SQLite
	pgtest.DropTemplate()
	return code
}

// SQLiteOnly skips t on other backends: for tests of what only SQLite
// has, or that only a SQLite file can set up. why says which.
func SQLiteOnly(t testing.TB, why string) {
	t.Helper()
	if current != SQLite {
		t.Skipf("SQLite only: %s", why)
	}
}

// PostgresOnly skips t on SQLite: for tests of what only PostgreSQL has,
// such as several servers on one database (SQLite's database is served by
// one process, and its change feed is in memory). why says which.
func PostgresOnly(t testing.TB, why string) {
	t.Helper()
	if current != Postgres {
		t.Skipf("PostgreSQL only: %s", why)
	}
}

// Empty returns the DSN of a new, empty database (no migrations) on the
// current backend, for commands that create and seed one: a file path in
// t.TempDir() or a postgres:// URL, dropped when t ends.
func Empty(t testing.TB) string {
	t.Helper()
	if current == Postgres {
		return pgtest.Empty(t)
	}
	return filepath.Join(t.TempDir(), "cf.db")
}

// Options are what a test asks of a new database.
type Options struct {
	// Clock replaces time.Now for every stored time when set.
	Clock func() time.Time
}

// DB is a fresh database of the current backend.
type DB struct {
	Store
	// DSN opens the same database again: a file path or a postgres:// URL.
	DSN string
	// Backend is the implementation.
	Backend Backend
	t       testing.TB
	raw     *sql.DB
}

// Open creates a fresh, migrated database on the current backend, closed
// when the test ends. A test that fails says which backend it ran on.
func Open(t testing.TB, o Options) *DB {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("(on %s)", current)
		}
	})
	db := &DB{Backend: current, t: t}
	var err error
	switch current {
	case Postgres:
		db.DSN = pgtest.Fresh(t, migratePostgres)
	default:
		db.DSN = filepath.Join(t.TempDir(), "test.db")
	}
	db.Store, err = open(db.Backend, db.DSN, o)
	require.NoError(t, err)
	t.Cleanup(func() { db.Store.Close() })
	return db
}

// Reopen opens a second handle on the same database, as a second server
// process would; it is closed when the test ends.
func (db *DB) Reopen(o Options) Store {
	db.t.Helper()
	s, err := open(db.Backend, db.DSN, o)
	require.NoError(db.t, err)
	db.t.Cleanup(func() { s.Close() })
	return s
}

// Raw is a plain connection to the database, as its owner would have it,
// for tests that look at rows or fill tables the quick way. Queries use
// $1, $2, … placeholders, which both engines take.
func (db *DB) Raw() *sql.DB {
	db.t.Helper()
	if db.raw != nil {
		return db.raw
	}
	if db.Backend == Postgres {
		db.raw = pgtest.Owner(db.t, db.DSN)
		return db.raw
	}
	raw, err := sql.Open("sqlite3", "file:"+db.DSN+"?_busy_timeout=5000")
	require.NoError(db.t, err)
	raw.SetMaxOpenConns(1)
	db.t.Cleanup(func() { raw.Close() })
	db.raw = raw
	return raw
}

func open(b Backend, dsn string, o Options) (Store, error) {
	if b == Postgres {
		var opts []postgres.Option
		if o.Clock != nil {
			opts = append(opts, postgres.WithClock(o.Clock))
		}
		return postgres.Open(dsn, opts...)
	}
	var opts []sqlite.Option
	if o.Clock != nil {
		opts = append(opts, sqlite.WithClock(o.Clock))
	}
	return sqlite.Open(dsn, opts...)
}

// migratePostgres is how pgtest migrates its template: Open migrates.
func migratePostgres(_ context.Context, url string) error {
	db, err := postgres.Open(url)
	if err != nil {
		return err
	}
	return db.Close()
}
