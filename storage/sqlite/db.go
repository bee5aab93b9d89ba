// Package sqlite is the SQLite implementation of the storage interfaces of
// formbuilder (FormService, ConsentService, SubmissionService, ConsentLog,
// UserService, SessionService, TokenService, SettingsService). All of them are
// methods on *DB, so one value wires every service.
//
// One connection writes, a pool of query-only connections reads (WAL lets
// them run beside the writer). Submissions and consent log entries go through
// a single writer goroutine that commits many of them per transaction (group
// commit) and appends to the log's hash chain.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// Every service interface of formbuilder is implemented by *DB.
var (
	_ formbuilder.FormService       = (*DB)(nil)
	_ formbuilder.ConsentService    = (*DB)(nil)
	_ formbuilder.SubmissionService = (*DB)(nil)
	_ formbuilder.ConsentLog        = (*DB)(nil)
	_ formbuilder.UserService       = (*DB)(nil)
	_ formbuilder.SessionService    = (*DB)(nil)
	_ formbuilder.TokenService      = (*DB)(nil)
	_ formbuilder.SettingsService   = (*DB)(nil)
)

// ErrClosed is wrapped (as an EINTERNAL error) by calls made after Close.
var ErrClosed = errors.New("storage: database is closed")

// DB is an open consentforms database.
type DB struct {
	// Now is the clock for every stored time; tests replace it. It is read
	// by the writer goroutine, so set it before the first write.
	Now func() time.Time

	path   string
	w      *sql.DB // the one writer connection
	r      *sql.DB // query-only readers
	opts   options
	writer *writer
	// outboxWake is signalled after commits that queued deliveries (outbox.go).
	outboxWake chan struct{}
}

type options struct {
	batchSize   int
	readConns   int
	queryTimout time.Duration
	now         func() time.Time
}

// Option changes how Open sets up the database.
type Option func(*options)

// WithBatchSize sets how many queued submissions (and withdrawals) the writer
// commits in one transaction; 1 turns group commit off. Default 128.
func WithBatchSize(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.batchSize = n
		}
	}
}

// WithReadConns sets the size of the read pool. Default: max(4, GOMAXPROCS).
func WithReadConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.readConns = n
		}
	}
}

// WithSearchTimeout bounds how long a free-text search of the consent log
// (RecordFilter.Query) may scan before it gives up. Default 5s.
func WithSearchTimeout(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.queryTimout = d
		}
	}
}

// WithClock sets DB.Now from the start, before the writer runs.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
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
	o := options{batchSize: 128, readConns: max(4, runtime.GOMAXPROCS(0)), queryTimout: 5 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" {
		// An in-memory database is private to one connection: the readers
		// would see another, empty database.
		return nil, formbuilder.Errorf(formbuilder.EINVALID, "storage needs a database file path")
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

	db := &DB{Now: o.now, path: path, w: w, r: r, opts: o, outboxWake: make(chan struct{}, 1)}
	if db.Now == nil {
		db.Now = time.Now
	}
	ctx := context.Background()
	if err := db.Migrate(ctx); err != nil {
		db.closeConns()
		return nil, err
	}
	db.writer = newWriter(db)
	return db, nil
}

// Path returns the file the database was opened from.
func (db *DB) Path() string { return db.path }

// Close waits for queued submissions to be committed, stops the writer and
// closes the connections. Calls after the first return nil.
func (db *DB) Close() error {
	if db.writer == nil {
		return nil
	}
	if !db.writer.close() {
		return nil
	}
	// Keeps the query planner's statistics current for the next start, as
	// SQLite recommends for long-lived connections.
	_, _ = db.w.Exec("PRAGMA optimize")
	return db.closeConns()
}

func (db *DB) closeConns() error {
	return formbuilder.Internal(errors.Join(db.r.Close(), db.w.Close()))
}

// now returns the current time in UTC without a monotonic reading, so what
// is hashed is exactly what is stored.
func (db *DB) now() time.Time { return db.Now().UTC().Round(0) }

// timeFormat is fixed-width so that string order in SQL is time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// fmtNullTime stores the zero time as NULL ("never").
func fmtNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return fmtTime(t)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// nullID stores an absent reference (0) as NULL so foreign keys accept it.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// dbErr turns a database error into a coded formbuilder error: unique
// violations are conflicts, other constraint failures invalid input,
// everything else internal (the cause stays wrapped for logs).
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	var fe *formbuilder.Error
	if errors.As(err, &fe) {
		return err
	}
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		switch se.ExtendedCode {
		case sqlite3.ErrConstraintUnique, sqlite3.ErrConstraintPrimaryKey:
			return &formbuilder.Error{Code: formbuilder.ECONFLICT, Message: "already exists", Err: err}
		case sqlite3.ErrConstraintForeignKey:
			return &formbuilder.Error{Code: formbuilder.EINVALID, Message: "refers to something that does not exist", Err: err}
		case sqlite3.ErrConstraintCheck, sqlite3.ErrConstraintNotNull:
			return &formbuilder.Error{Code: formbuilder.EINVALID, Message: "invalid value", Err: err}
		}
	}
	return formbuilder.Internal(err)
}

func notFound(what string) error {
	return formbuilder.Errorf(formbuilder.ENOTFOUND, "%s not found", what)
}

// writeTx runs fn in an immediate transaction on the writer connection.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return dbErr(err)
	}
	return dbErr(tx.Commit())
}

// readTx runs fn in a read transaction, so that several queries see one
// snapshot of the database.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err)
	}
	defer tx.Rollback()
	return dbErr(fn(tx))
}

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Backup writes a consistent copy of the database to path with VACUUM INTO,
// which is safe while the server keeps serving; path must not exist.
func (db *DB) Backup(ctx context.Context, path string) error {
	if path == "" {
		return formbuilder.Errorf(formbuilder.EINVALID, "backup path is required")
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
		return "", dbErr(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", dbErr(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return "", dbErr(err)
	}
	return strings.Join(out, "\n"), nil
}
