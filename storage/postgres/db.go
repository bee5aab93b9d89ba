// Package postgres is the PostgreSQL implementation of the storage
// interfaces of formbuilder, for deployments with several stateless
// servers on one database. The queries and the group-commit writer are
// shared with storage/sqlite (storage/internal/sqlcore); this package
// connects with pgx, embeds its own migrations and says how PostgreSQL
// differs: $n placeholders, RETURNING id, advisory locks where SQLite's one
// writer serialised for free, FOR UPDATE SKIP LOCKED for outbox claims,
// ILIKE, and the error codes.
//
// Every guarantee of the formbuilder interfaces holds with any number of
// servers: appends to the consent log take a transaction-scoped advisory
// lock (the chain lock) before any row lock, read the head, insert and
// commit, so the chain stays one chain; each process still batches its
// submissions (group commit) and inserts their rows before it takes the
// lock, so the lock is held only for the head read, the entries' insert
// and the commit.
//
// What servers keep in memory (form pages, settings, chat streams) follows
// changes made on any server: transactions that change it NOTIFY, and
// every server LISTENs on a connection of its own (listen.go, and
// formbuilder.ChangeFeed for what is guaranteed). Where a notification
// would come too late, the transaction itself decides: submissions,
// withdrawals and chat consents read the IP mode under a shared advisory
// lock that SaveSettings takes exclusively.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"hash/fnv"
	"io/fs"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// DB is an open consentforms database on a PostgreSQL server.
type DB struct {
	*sqlcore.DB
}

type options struct {
	core     sqlcore.Options
	maxConns int32
}

// Option changes how Open sets up the database.
type Option func(*options)

// WithBatchSize sets how many queued submissions this process's writer
// commits in one transaction; 1 turns group commit off, 0 or less means
// the default, 128.
func WithBatchSize(n int) Option { return func(o *options) { o.core.BatchSize = n } }

// WithSearchTimeout bounds a free-text search of the log or an inbox.
// Default 5s.
func WithSearchTimeout(d time.Duration) Option { return func(o *options) { o.core.SearchTimeout = d } }

// WithClock sets DB.Now from the start, before the writer runs.
func WithClock(now func() time.Time) Option { return func(o *options) { o.core.Now = now } }

// WithObserver lets obs hear about every transaction of the group-commit
// writer (batch size, commit time), for metrics.
func WithObserver(obs formbuilder.WriterObserver) Option {
	return func(o *options) { o.core.Observer = obs }
}

// WithMaxConns sets the size of the connection pool. Default:
// max(8, 2×GOMAXPROCS), unless the URL sets pool_max_conns.
func WithMaxConns(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxConns = int32(n)
		}
	}
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations are the embedded PostgreSQL migrations, for tests and tools.
func Migrations() fs.FS { return migrationFS }

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://) rather than a SQLite file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://user@host/db?…),
// applies the migrations under the migration lock and starts the writer.
func Open(url string, opts ...Option) (*DB, error) {
	o := options{core: sqlcore.DefaultOptions(), maxConns: int32(max(8, 2*runtime.GOMAXPROCS(0)))}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The message may quote the URL with its password: keep it out.
		return nil, formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgNotPostgresURL)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = o.maxConns
	}
	ctx := context.Background()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, formbuilder.Internal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, formbuilder.Internal(err)
	}
	sdb := stdlib.OpenDBFromPool(pool)
	closeAll := func() error {
		err := sdb.Close()
		pool.Close()
		return err
	}
	core, err := sqlcore.New(ctx, sqlcore.Config{Dialect: dialect{}, W: sdb, R: sdb,
		Migrations: migrationFS, Options: o.core, Close: closeAll,
		Listener: newListener(cfg.ConnConfig)})
	if err != nil {
		_ = closeAll()
		return nil, err
	}
	return &DB{DB: core}, nil
}

// Backup refuses: a consistent copy of a PostgreSQL database is made with
// PostgreSQL's own tools, which also keep the roles and grants.
func (db *DB) Backup(context.Context, string) error {
	return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgBackupPostgres)
}

// Advisory lock keys. The chain lock has a fixed key; other locks are
// named and hashed into the rest of the key space.
const chainLockKey int64 = 0x636f6e73656e74 // "consent"

// settingsLockKey is the key of the settings lock (LockSettings).
var settingsLockKey = lockKey("settings")

func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("consentforms/" + name))
	k := int64(h.Sum64())
	if k == chainLockKey {
		k++
	}
	return k
}

// dialect is PostgreSQL's side of sqlcore.Dialect.
type dialect struct{}

// rebound caches Rebind's answers: the queries are a bounded set of
// constants and filter combinations.
var rebound sync.Map

// Rebind numbers the ? placeholders ($1, $2, …), leaving quoted text alone.
func (dialect) Rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	quoted := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}

func (dialect) ReturningID() bool { return true }

// CacheStatements: pgx prepares and caches every statement per connection.
func (dialect) CacheStatements() bool { return false }

// Code maps SQLSTATEs: 23505 unique, 23503 foreign key, 23514 check and
// 23502 not null violations.
func (dialect) Code(err error) string {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return ""
	}
	switch pe.Code {
	case "23505":
		return formbuilder.ECONFLICT
	case "23503", "23514", "23502", "22P02":
		return formbuilder.EINVALID
	}
	return ""
}

// ChainHead takes the chain lock until the transaction ends and reads the
// head, in one round trip (migrations/0400_locked_reads.sql). Every
// transaction that appends takes it before any row lock.
func (dialect) ChainHead() (string, []any) {
	return "SELECT id, hash, time FROM consentforms_chain_head(?)", []any{chainLockKey}
}

// SettingsForWrite takes the settings lock shared until the transaction
// ends and reads the settings, in one round trip. PostgreSQL queues a
// shared request behind a waiting exclusive one, so a stream of batches
// cannot starve a save.
func (dialect) SettingsForWrite() (string, []any) {
	return "SELECT * FROM consentforms_settings_for_write(?)", []any{settingsLockKey}
}

// LockSettings takes the settings lock exclusively until the transaction
// ends: SaveSettings waits for the batches that read the old settings.
func (dialect) LockSettings(ctx context.Context, tx *sqlcore.Tx) error {
	_, err := tx.Tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", settingsLockKey)
	return err
}

func (dialect) LockTx(ctx context.Context, tx *sqlcore.Tx, key string) error {
	_, err := tx.Tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(key))
	return err
}

// sessionLock takes a session-level lock on a connection of its own, held
// until unlock: the work under it runs on other connections of the pool.
func sessionLock(ctx context.Context, db *sql.DB, key string, try bool) (func(), bool, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, false, err
	}
	k := lockKey(key)
	q := "SELECT pg_advisory_lock($1) IS NOT NULL"
	if try {
		q = "SELECT pg_try_advisory_lock($1)"
	}
	var ok bool
	if err := c.QueryRowContext(ctx, q, k).Scan(&ok); err != nil || !ok {
		c.Close()
		return nil, false, err
	}
	return func() {
		// A connection that fails to unlock is closed, which unlocks too.
		if _, err := c.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", k); err != nil {
			_ = c.Raw(func(any) error { return driver.ErrBadConn })
		}
		c.Close()
	}, true, nil
}

func (dialect) TryLock(ctx context.Context, db *sql.DB, key string) (func(), bool, error) {
	return sessionLock(ctx, db, key, true)
}

func (dialect) Lock(ctx context.Context, db *sql.DB, key string) (func(), error) {
	unlock, _, err := sessionLock(ctx, db, key, false)
	return unlock, err
}

// ReservesIDs: a round trip per inserted row is what group commit's
// writer would otherwise wait for.
func (dialect) ReservesIDs() bool { return true }

// ReserveIDs takes n values of table's identity sequence in one query.
func (dialect) ReserveIDs(ctx context.Context, tx *sqlcore.Tx, table string, n int) ([]int64, error) {
	rows, err := tx.Tx.QueryContext(ctx, "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)", table, n)
	if err != nil {
		return nil, err
	}
	return sqlcore.ScanIDs(rows, n)
}

// ExactInserts: pgx prepares and caches every statement text per
// connection, so a batch's rows go in one statement (up to maxExactRows),
// where the fixed sizes took up to six round trips for one batch.
func (dialect) ExactInserts() bool { return true }

func (dialect) ForUpdate() string  { return " FOR UPDATE" }
func (dialect) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

// NoIndex: PostgreSQL plans with statistics; it needs no hints (and has
// no unary + for text).
func (dialect) NoIndex(col string) string { return col }

// ILike: PostgreSQL's LIKE is case-sensitive; ILIKE matches as SQLite's
// LIKE does for ASCII (and for other letters too).
func (dialect) ILike() string { return "ILIKE" }

// LowerASCII: lower() under the "C" collation changes ASCII letters only.
func (dialect) LowerASCII(col string) string { return "lower(" + col + ` COLLATE "C")` }

// ReadTx: under PostgreSQL's default READ COMMITTED every statement sees
// a new snapshot; a form and its consents must be read from one.
func (dialect) ReadTx() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// ValuesLike decodes the JSON: matching its text would also match field
// keys and miss values JSON escapes. A key whose value is not a list (null)
// has no values.
func (dialect) ValuesLike() string {
	return `EXISTS (SELECT 1 FROM json_each(submissions."values"::json) k,
		json_array_elements_text(CASE WHEN json_typeof(k.value) = 'array' THEN k.value ELSE '[]'::json END) AS v(val)
		WHERE v.val ILIKE ? ESCAPE '\')`
}
