// Package sqlcore is the storage code that SQLite and PostgreSQL share: the
// queries, the group-commit writer that appends to the consent log's hash
// chain, the migrations runner and every formbuilder service, written once
// over database/sql. Where the engines differ (placeholders, ids of new
// rows, locks, case-insensitive matching, error codes) a Dialect decides.
//
// storage/sqlite and storage/postgres open their connections, pick their
// dialect and migrations, and embed *DB; only they import this package.
package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
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
	_ formbuilder.ChangeFeed        = (*DB)(nil)
)

// ErrClosed is wrapped (as an EINTERNAL error) by calls made after Close.
var ErrClosed = errors.New("storage: database is closed")

// Dialect is what differs between the engines.
type Dialect interface {
	// Rebind turns the ? placeholders of q into the engine's.
	Rebind(q string) string
	// ReturningID reports whether a new row's id is read with
	// INSERT … RETURNING id (else sql.Result.LastInsertId).
	ReturningID() bool
	// CacheStatements reports whether the writer should prepare its
	// statements once and reuse them (the driver does not cache them).
	CacheStatements() bool
	// Code returns the formbuilder error code of a driver error (a unique
	// violation is ECONFLICT, …), or "" when err is none of those.
	Code(err error) string
	// ChainHead is the query (and its arguments) that serialises appends
	// to the consent log for the rest of the transaction, across every
	// process using the database, and then selects the id, hash and time
	// of the newest entry (no row while the log is empty).
	ChainHead() (string, []any)
	// LockTx serialises transactions that pass the same key (migrations,
	// a consent's new version) for the rest of tx.
	LockTx(ctx context.Context, tx *Tx, key string) error
	// TryLock takes the session lock key if no other process holds it; ok
	// is false when one does. unlock releases it.
	TryLock(ctx context.Context, db *sql.DB, key string) (unlock func(), ok bool, err error)
	// Lock takes the session lock key, waiting for it.
	Lock(ctx context.Context, db *sql.DB, key string) (unlock func(), err error)
	// ForUpdate is appended to a SELECT of one table that the transaction
	// then changes, so concurrent transactions take turns.
	ForUpdate() string
	// SkipLocked is appended to the subquery that picks outbox rows to
	// claim: rows another transaction is claiming are skipped.
	SkipLocked() string
	// NoIndex writes col so that the planner does not use its index.
	NoIndex(col string) string
	// ILike is the operator of a case-insensitive LIKE.
	ILike() string
	// LowerASCII writes col with its ASCII letters in lower case and every
	// other character as it is, as formbuilder.FoldSubject does in Go
	// (both engines' lower() differ beyond ASCII).
	LowerASCII(col string) string
	// ValuesLike is a condition that one of the submission's values (in
	// the JSON column "values") matches the LIKE pattern ?.
	ValuesLike() string
	// ReadTx are the options of a transaction whose queries must all see
	// one snapshot (nil: the driver's default does).
	ReadTx() *sql.TxOptions
	// SettingsForWrite is the query (and its arguments) that takes the
	// settings lock shared for the rest of the transaction and then
	// selects the settings' data (SettingsQuery's row): what a transaction
	// that stores IP addresses as the settings say reads them with.
	// LockSettings takes the lock exclusively, for SaveSettings. Lock
	// order: the settings lock, then the chain lock, then row locks.
	SettingsForWrite() (string, []any)
	LockSettings(ctx context.Context, tx *Tx) error
	// ReservesIDs reports whether ReserveIDs works: the writer then gives
	// submissions reserved ids and inserts their rows many per statement,
	// where an INSERT … RETURNING per row costs a round trip (PostgreSQL).
	ReservesIDs() bool
	// ReserveIDs takes n new ids of table's id column for tx to use.
	ReserveIDs(ctx context.Context, tx *Tx, table string, n int) ([]int64, error)
	// ExactInserts reports whether a multi-row insert may be one statement
	// of exactly its row count (the driver caches each statement text it
	// sees); else the writer uses a few fixed sizes it prepares itself.
	ExactInserts() bool
	// Notifies reports whether the engine tells other processes of
	// changes (Notify); if not, changes are delivered in this process.
	Notifies() bool
	// Notify sends payload to every process listening on the database
	// when tx commits.
	Notify(ctx context.Context, tx *Tx, payload string) error
}

// DB is an open consentforms database of either engine.
type DB struct {
	// Now is the clock for every stored time; tests replace it. It is read
	// by the writer goroutine, so set it before the first write.
	Now func() time.Time

	d      Dialect
	w      handle // writes (SQLite: the one writer connection)
	r      handle // reads
	opts   Options
	writer *writer
	// outboxWake is signalled after commits that queued deliveries (outbox.go).
	outboxWake chan struct{}
	// serial orders Serialize within this process.
	serial sync.Mutex
	// versionDocs caches which document each version links to (documents.go).
	versionDocs versionDocs
	migrations  fs.FS
	close       func() error

	// feed delivers change notifications in this process (feed.go);
	// listener, when set, brings them from other processes, started by
	// the first subscription and stopped by Close.
	feed          *Feed
	listener      Listener
	listenMu      sync.Mutex
	stopListening func()
}

// Options are the settings every backend shares.
type Options struct {
	// BatchSize is how many queued jobs the writer commits in one
	// transaction; 1 turns group commit off.
	BatchSize int
	// SearchTimeout bounds a free-text search of the log or an inbox.
	SearchTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer, when set, hears about every transaction of the
	// group-commit writer (metrics).
	Observer formbuilder.WriterObserver
}

// DefaultOptions are the defaults both backends start from.
func DefaultOptions() Options {
	return Options{BatchSize: 128, SearchTimeout: 5 * time.Second}
}

// Config is what a backend hands New.
type Config struct {
	Dialect Dialect
	// W and R are the pools for writes and reads; they may be the same.
	W, R *sql.DB
	// Migrations holds migrations/NNNN_name.sql.
	Migrations fs.FS
	Options    Options
	// Close releases the connections after the writer stopped.
	Close func() error
	// Listener brings the changes of other processes, on an engine that
	// Notifies; nil otherwise.
	Listener Listener
}

// New migrates the database and starts the writer.
func New(ctx context.Context, c Config) (*DB, error) {
	o := c.Options
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultOptions().BatchSize
	}
	if o.SearchTimeout <= 0 {
		o.SearchTimeout = DefaultOptions().SearchTimeout
	}
	db := &DB{Now: o.Now, d: c.Dialect, w: handle{c.W, c.Dialect}, r: handle{c.R, c.Dialect},
		opts: o, outboxWake: make(chan struct{}, 1), close: c.Close, migrations: c.Migrations,
		feed: newFeed(), listener: c.Listener}
	if db.Now == nil {
		db.Now = time.Now
	}
	if err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	db.writer = newWriter(db)
	return db, nil
}

// Close waits for queued work to be committed, stops the writer and closes
// the connections. Calls after the first return nil.
func (db *DB) Close() error {
	if db.writer == nil || !db.writer.close() {
		return nil
	}
	db.listenMu.Lock()
	if db.stopListening != nil {
		db.stopListening()
	}
	db.listenMu.Unlock()
	db.feed.close()
	return formbuilder.Internal(db.close())
}

// Serialize runs fn while holding the lock key, which one process at a
// time holds: first-start seeding, for instance, so that two servers
// starting on a fresh database create one first admin.
func (db *DB) Serialize(ctx context.Context, key string, fn func(ctx context.Context) error) error {
	db.serial.Lock()
	defer db.serial.Unlock()
	unlock, err := db.d.Lock(ctx, db.w.DB, key)
	if err != nil {
		return formbuilder.Internal(err)
	}
	defer unlock()
	return fn(ctx)
}

// now returns the current time in UTC without a monotonic reading, so what
// is hashed is exactly what is stored.
func (db *DB) now() time.Time { return db.Now().UTC().Round(0) }

// TimeFormat is fixed-width so that string order is time order.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// FmtTime formats t as times are stored.
func FmtTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

func fmtTime(t time.Time) string { return FmtTime(t) }

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
func (db *DB) dbErr(err error) error { return dbErr(db.d, err) }

func dbErr(d Dialect, err error) error {
	if err == nil {
		return nil
	}
	var fe *formbuilder.Error
	if errors.As(err, &fe) {
		return err
	}
	switch d.Code(err) {
	case formbuilder.ECONFLICT:
		return &formbuilder.Error{Code: formbuilder.ECONFLICT, Msg: formbuilder.M(formbuilder.MsgExists), Err: err}
	case formbuilder.EINVALID:
		return &formbuilder.Error{Code: formbuilder.EINVALID, Msg: formbuilder.M(formbuilder.MsgBadReference), Err: err}
	}
	return formbuilder.Internal(err)
}

// notFound is the ENOTFOUND error whose message names what is missing.
func notFound(what formbuilder.MsgCode) error {
	return formbuilder.NewError(formbuilder.ENOTFOUND, what)
}

// writeTx runs fn in a write transaction (SQLite: immediate, on the writer
// connection) and announces the changes fn recorded (Tx.changed).
func (db *DB) writeTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return db.dbErr(err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return db.dbErr(err)
	}
	if err := db.announce(ctx, tx); err != nil {
		_ = tx.Rollback()
		return db.dbErr(err)
	}
	if err := tx.Commit(); err != nil {
		return db.dbErr(err)
	}
	db.committed(tx)
	return nil
}

// readTx runs fn in a read transaction, so that several queries see one
// snapshot of the database.
func (db *DB) readTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx, err := db.r.BeginTx(ctx, db.d.ReadTx())
	if err != nil {
		return db.dbErr(err)
	}
	defer tx.Rollback()
	return db.dbErr(fn(tx))
}

// queryer is what handle and *Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// handle is a pool whose queries are written with ? placeholders.
type handle struct {
	*sql.DB
	d Dialect
}

// QueryContext runs q, rebound for the engine.
func (h handle) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return h.DB.QueryContext(ctx, h.d.Rebind(q), args...)
}

// QueryRowContext runs q, rebound for the engine.
func (h handle) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return h.DB.QueryRowContext(ctx, h.d.Rebind(q), args...)
}

// ExecContext runs q, rebound for the engine.
func (h handle) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return h.DB.ExecContext(ctx, h.d.Rebind(q), args...)
}

// PrepareContext prepares q, rebound for the engine.
func (h handle) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return h.DB.PrepareContext(ctx, h.d.Rebind(q))
}

// BeginTx starts a transaction whose queries are rebound too.
func (h handle) BeginTx(ctx context.Context, o *sql.TxOptions) (*Tx, error) {
	tx, err := h.DB.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Tx{Tx: tx, d: h.d}, nil
}

// Tx is a transaction whose queries are written with ? placeholders.
type Tx struct {
	*sql.Tx
	d Dialect
	// changes are announced when the transaction commits (feed.go).
	changes []formbuilder.Change
}

// QueryContext runs q, rebound for the engine.
func (tx *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return tx.Tx.QueryContext(ctx, tx.d.Rebind(q), args...)
}

// QueryRowContext runs q, rebound for the engine.
func (tx *Tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return tx.Tx.QueryRowContext(ctx, tx.d.Rebind(q), args...)
}

// ExecContext runs q, rebound for the engine.
func (tx *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return tx.Tx.ExecContext(ctx, tx.d.Rebind(q), args...)
}

// PrepareContext prepares q, rebound for the engine.
func (tx *Tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return tx.Tx.PrepareContext(ctx, tx.d.Rebind(q))
}

// insertID runs the INSERT q and returns the new row's id.
func insertID(ctx context.Context, d Dialect, q queryer, query string, args ...any) (int64, error) {
	if d.ReturningID() {
		var id int64
		err := q.QueryRowContext(ctx, query+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// exists reports whether table has a row with id; the callers turn a
// missing reference into a field error instead of a bare foreign key
// failure.
func exists(ctx context.Context, q queryer, table string, id int64) (bool, error) {
	return existsWhere(ctx, q, table, "id", id)
}

// existsWhere reports whether table has a row whose column col is v.
func existsWhere(ctx context.Context, q queryer, table, col string, v any) (bool, error) {
	var ok bool
	err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+table+" WHERE "+col+" = ?)", v).Scan(&ok)
	return ok, err
}
