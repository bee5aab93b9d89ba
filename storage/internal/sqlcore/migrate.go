package sqlcore

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/consentforms/consentforms/formbuilder"
)

// Migration is one embedded SQL file, named NNNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads fsys's migrations/NNNN_name.sql in order.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	seen := map[int]string{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and _", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same number", prev, base)
		}
		seen[v] = base
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Migrate applies the embedded migrations that the database has not seen,
// in order, each in its own transaction together with its row in
// schema_migrations, so a failed migration leaves no half-applied schema.
// Every transaction first takes the migration lock, so servers starting
// together on one database migrate one after the other, and the later
// ones find the work done. Open calls it; it is exported for the
// `migrate` subcommand. It refuses a database that a newer program has
// migrated further.
func (db *DB) Migrate(ctx context.Context) error {
	return db.migrate(ctx, db.migrations)
}

// MigrateFS applies the migrations of fsys instead of the backend's own;
// the backends' tests use it to check upgrades.
func (db *DB) MigrateFS(ctx context.Context, fsys fs.FS) error {
	return db.migrate(ctx, fsys)
}

// migrationLock is the key of the lock migrations take.
const migrationLock = "consentforms/migrate"

func (db *DB) migrate(ctx context.Context, fsys fs.FS) error {
	ms, err := LoadMigrations(fsys)
	if err != nil {
		return formbuilder.Internal(err)
	}
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	// An up-to-date database needs no DDL at all, so a server role that may
	// not create tables (PostgreSQL, see README) starts on it. A missing
	// table is an error here and is created below.
	// The count matters as much as the newest: a migration numbered below
	// the newest applied one (two branches merged in the other order) must
	// still run.
	var newest, applied int
	if err := db.w.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0), COUNT(*) FROM schema_migrations").Scan(&newest, &applied); err == nil &&
		len(ms) > 0 && newest == ms[len(ms)-1].Version && applied == len(ms) {
		return nil
	}
	err = db.writeTx(ctx, func(tx *Tx) error {
		if err := db.d.LockTx(ctx, tx, migrationLock); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL)`); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest)
	})
	if err != nil {
		return formbuilder.Internal(err)
	}
	if newest > 0 && !known[newest] {
		return formbuilder.Internal(fmt.Errorf("database schema version %d is newer than this program knows; upgrade consentforms", newest))
	}
	for _, m := range ms {
		err := db.writeTx(ctx, func(tx *Tx) error {
			// Checked under the lock: two processes migrating at once
			// serialise here and the second skips.
			if err := db.d.LockTx(ctx, tx, migrationLock); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			// Not rebound: migration files are written for their engine.
			if _, err := tx.Tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, fmtTime(db.now()))
			return err
		})
		if err != nil {
			return formbuilder.Internal(err)
		}
	}
	return nil
}

// SchemaVersion returns the number of the newest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.r.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	return v, db.dbErr(err)
}
