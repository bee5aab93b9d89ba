// Package sqlite is the SQLite implementation of the storage interfaces of
// formbuilder. All of them are methods on *DB, so one value wires every
// service; the queries and the group-commit writer are shared with
// storage/postgres (storage/internal/sqlcore), this package opens the file,
// sets the pragmas and says how SQLite differs.
//
// One connection writes, a pool of query-only connections reads (WAL lets
// them run beside the writer). Submissions and consent log entries go through
// a single writer goroutine that commits many of them per transaction (group
// commit) and appends to the log's hash chain.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// ErrClosed is wrapped (as an EINTERNAL error) by calls made after Close.
var ErrClosed = sqlcore.ErrClosed

// DB is an open consentforms database file.
type DB struct {
	*sqlcore.DB
	path string
	w    *sql.DB // the one writer connection
	r    *sql.DB // query-only readers
}

type options struct {
	core      sqlcore.Options
	readConns int
}

// Option changes how Open sets up the database.
type Option func(*options)

// WithBatchSize sets how many queued submissions (and withdrawals) the writer
// commits in one transaction; 1 turns group commit off, 0 or less means
// the default, 128.
func WithBatchSize(n int) Option { return func(o *options) { o.core.BatchSize = n } }

// WithReadConns sets the size of the read pool. Default: max(4, GOMAXPROCS).
func WithReadConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readConns = n
		}
	}
}

// WithSearchTimeout bounds how long a free-text search of the consent log
// (RecordFilter.Query) may scan before it gives up. Default (and for 0
// or less) 5s.
func WithSearchTimeout(d time.Duration) Option { return func(o *options) { o.core.SearchTimeout = d } }

// WithClock sets DB.Now from the start, before the writer runs.
func WithClock(now func() time.Time) Option { return func(o *options) { o.core.Now = now } }

// WithObserver lets obs hear about every transaction of the group-commit
// writer (batch size, commit time), for metrics.
func WithObserver(obs formbuilder.WriterObserver) Option {
	return func(o *options) { o.core.Observer = obs }
}

// driverName is go-sqlite3 with a connect hook for the pragmas the DSN
// cannot carry.
const driverName = "sqlite3_consentforms"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// Savepoints (one per submission in a group commit) journal the
		// original pages in a temporary file by default: dozens of writes
		// per submission. In memory they cost almost nothing; a batch
		// touches a few hundred pages at most.
		_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
		return err
	}})
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the embedded SQLite migrations, for tests and tools.
func Migrations() fs.FS { return migrationFS }

// dsn builds the connection string. The pragmas live in the DSN because the
// driver applies them to every new pooled connection; a PRAGMA run through
// db.Exec would reach only one of them.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	// go-sqlite3 leaves WAL at synchronous=NORMAL, which can lose the last
	// commits on power loss; a consent that was acknowledged must survive.
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "5000")
	q.Set("_foreign_keys", "on")
	// Makes the delete half of INSERT OR REPLACE fire delete triggers.
	q.Set("_recursive_triggers", "on")
	if readOnly {
		q.Set("_query_only", "on")
		// A read transaction must not take the write lock.
		q.Set("_txlock", "deferred")
	} else {
		// Deferred transactions that read then write fail with SQLITE_BUSY
		// at once, ignoring busy_timeout.
		q.Set("_txlock", "immediate")
		// The writer inserts into several indexes of a log that grows to
		// millions of entries; 16 MiB (instead of 2) keeps their hot pages.
		q.Set("_cache_size", "-16384")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens (creating if needed) the database file at path, applies the
// migrations and starts the writer goroutine.
func Open(path string, opts ...Option) (*DB, error) {
	o := options{core: sqlcore.DefaultOptions(), readConns: max(4, runtime.GOMAXPROCS(0))}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" {
		// An in-memory database is private to one connection: the readers
		// would see another, empty database.
		return nil, formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "database file path")
	}
	w, err := sql.Open(driverName, dsn(path, false))
	if err != nil {
		return nil, formbuilder.Internal(err)
	}
	// One writer: many writer connections only queue on SQLite's lock and
	// produce multi-second tails and "database is locked" errors.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connects first so that the file exists and is in WAL mode
	// before any query-only connection opens it.
	if err := w.Ping(); err != nil {
		w.Close()
		return nil, formbuilder.Internal(fmt.Errorf("open %s: %w", path, err))
	}
	r, err := sql.Open(driverName, dsn(path, true))
	if err != nil {
		w.Close()
		return nil, formbuilder.Internal(err)
	}
	r.SetMaxOpenConns(o.readConns)
	r.SetMaxIdleConns(o.readConns)
	r.SetConnMaxIdleTime(5 * time.Minute)

	closeConns := func() error {
		// Keeps the query planner's statistics current for the next
		// start, as SQLite recommends for long-lived connections.
		_, _ = w.Exec("PRAGMA optimize")
		return errors.Join(r.Close(), w.Close())
	}
	core, err := sqlcore.New(context.Background(), sqlcore.Config{Dialect: dialect{}, W: w, R: r,
		Migrations: migrationFS, Options: o.core, Close: closeConns})
	if err != nil {
		_ = errors.Join(r.Close(), w.Close())
		return nil, err
	}
	return &DB{DB: core, path: path, w: w, r: r}, nil
}

// Path returns the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Backup writes a consistent copy of the database to path with VACUUM INTO,
// which is safe while the server keeps serving; path must not exist.
func (db *DB) Backup(ctx context.Context, path string) error {
	if path == "" {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "backup path")
	}
	// A separate plain connection: query_only readers may not write the
	// target, and the writer must stay free for submissions.
	c, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: db.path}).EscapedPath()+"?_busy_timeout=5000")
	if err != nil {
		return formbuilder.Internal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return formbuilder.Internal(fmt.Errorf("backup to %s: %w", path, err))
	}
	return nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns its report: "ok"
// when the file is sound.
func (db *DB) IntegrityCheck(ctx context.Context) (string, error) {
	rows, err := db.r.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return "", formbuilder.Internal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", formbuilder.Internal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return "", formbuilder.Internal(err)
	}
	return strings.Join(out, "\n"), nil
}

// dialect is SQLite's side of sqlcore.Dialect. One writer connection with
// immediate transactions serialises every write, so the locks are no-ops.
type dialect struct{}

func (dialect) Rebind(q string) string { return q }
func (dialect) ReturningID() bool      { return false }

// CacheStatements: go-sqlite3 compiles a statement on every call unless it
// is prepared; the record insert alone compiles its trigger each time.
func (dialect) CacheStatements() bool { return true }

func (dialect) Code(err error) string {
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return formbuilder.ECONFLICT
		case sqlite3.ErrConstraintForeignKey, sqlite3.ErrConstraintCheck, sqlite3.ErrConstraintNotNull:
			return formbuilder.EINVALID
		}
	}
	return ""
}

// ChainHead and SettingsForWrite read without a lock: the writer's
// immediate transaction holds the database's write lock already.
func (dialect) ChainHead() (string, []any)                      { return sqlcore.HeadQuery, nil }
func (dialect) SettingsForWrite() (string, []any)               { return sqlcore.SettingsQuery, nil }
func (dialect) LockSettings(context.Context, *sqlcore.Tx) error { return nil }

// ReservesIDs: an insert is a call into the library, not a round trip;
// rows get their ids from AUTOINCREMENT as they are inserted.
func (dialect) ReservesIDs() bool { return false }
func (dialect) ReserveIDs(context.Context, *sqlcore.Tx, string, int) ([]int64, error) {
	return nil, errors.New("sqlite: ids are not reserved")
}

// ExactInserts: the writer prepares its statements itself and keeps a few
// (CacheStatements); an insert is cheap enough in several statements.
func (dialect) ExactInserts() bool { return false }

// Notifies: a SQLite file is served by one process, whose changes are
// delivered in memory after each commit.
func (dialect) Notifies() bool                                    { return false }
func (dialect) Notify(context.Context, *sqlcore.Tx, string) error { return nil }
func (dialect) LockTx(context.Context, *sqlcore.Tx, string) error { return nil }

// TryLock: a SQLite file is served by one process; its writer orders the rest.
func (dialect) TryLock(context.Context, *sql.DB, string) (func(), bool, error) {
	return func() {}, true, nil
}
func (dialect) Lock(context.Context, *sql.DB, string) (func(), error) { return func() {}, nil }
func (dialect) ForUpdate() string                                     { return "" }
func (dialect) SkipLocked() string                                    { return "" }

// NoIndex: SQLite's unary + keeps the planner off the column's index.
func (dialect) NoIndex(col string) string { return "+" + col }

// ILike: SQLite's LIKE ignores the case of ASCII letters.
func (dialect) ILike() string { return "LIKE" }

// LowerASCII: SQLite's lower() changes ASCII letters only.
func (dialect) LowerASCII(col string) string { return "lower(" + col + ")" }

// ReadTx: a SQLite read transaction sees one snapshot from its first read.
func (dialect) ReadTx() *sql.TxOptions { return nil }

// ValuesLike decodes the JSON with json_each: matching the JSON text would
// also match field keys (every submission has "email") and miss values
// JSON escapes.
func (dialect) ValuesLike() string {
	return `EXISTS (SELECT 1 FROM json_each(submissions."values") k, json_each(k.value) v WHERE v.value LIKE ? ESCAPE '\')`
}
