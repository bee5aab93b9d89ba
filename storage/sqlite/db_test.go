package sqlite

// SQLite-only tests: pragmas, immediate transactions, the migration table,
// VACUUM INTO backups and the one writer connection. What every backend
// guarantees is tested in storagetest (TestConformance).

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/internal/sqlcore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pragmas reads back the settings that must hold on every connection.
func pragmas(t *testing.T, c *sql.Conn) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []string{"journal_mode", "synchronous", "foreign_keys", "recursive_triggers", "busy_timeout", "query_only"} {
		var v string
		require.NoError(t, c.QueryRowContext(context.Background(), "PRAGMA "+p).Scan(&v))
		out[p] = v
	}
	return out
}

func TestPragmasOnEveryPooledConnection(t *testing.T) {
	db := newTestDB(t, WithReadConns(3))
	ctx := context.Background()

	// Three reader connections held at once are three distinct connections.
	var conns []*sql.Conn
	for i := 0; i < 3; i++ {
		c, err := db.r.Conn(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		p := pragmas(t, c)
		assert.Equal(t, "wal", p["journal_mode"])
		assert.Equal(t, "2", p["synchronous"], "synchronous must be FULL, not go-sqlite3's WAL default NORMAL")
		assert.Equal(t, "1", p["foreign_keys"])
		assert.Equal(t, "1", p["recursive_triggers"])
		assert.Equal(t, "5000", p["busy_timeout"])
		assert.Equal(t, "1", p["query_only"])
		_, err := c.ExecContext(ctx, "INSERT INTO users (email, created_at) VALUES ('x@example.com', 'now')")
		assert.Error(t, err, "reader connections must not write")
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}

	w, err := db.w.Conn(ctx)
	require.NoError(t, err)
	p := pragmas(t, w)
	var cache, temp string
	require.NoError(t, w.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&cache))
	require.NoError(t, w.QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp))
	require.NoError(t, w.Close())
	assert.Equal(t, "-16384", cache)
	assert.Equal(t, "2", temp, "savepoint journals in memory")
	assert.Equal(t, map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1",
		"recursive_triggers": "1", "busy_timeout": "5000", "query_only": "0"}, p)
}

func TestWriterTransactionsAreImmediate(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	tx, err := db.w.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	// An immediate transaction holds the write lock from BEGIN on: a second
	// writer cannot start one, even before the first has written anything.
	raw := rawDB(t, db)
	_, err = raw.ExecContext(ctx, "PRAGMA busy_timeout = 0")
	require.NoError(t, err)
	_, err = raw.ExecContext(ctx, "BEGIN IMMEDIATE")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "locked")
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	u := &formbuilder.User{Email: "a@example.com"}
	require.NoError(t, db.CreateUser(ctx, u))
	require.NoError(t, db.Migrate(ctx), "migrating again is a no-op")
	require.NoError(t, db.Close())

	db, err = Open(path)
	require.NoError(t, err)
	defer db.Close()
	v, err := db.SchemaVersion(ctx)
	require.NoError(t, err)
	ms, err := sqlcore.LoadMigrations(Migrations())
	require.NoError(t, err)
	assert.Equal(t, ms[len(ms)-1].Version, v)
	assert.Equal(t, len(ms), count(t, db.r, "schema_migrations"))
	n, err := db.CountUsers(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "data survives reopening")
}

// TestMigrationBelowTheNewestIsApplied: two branches that each add a
// migration can land in either order, so a database already at the newest
// number may still lack one numbered below it.
func TestMigrationBelowTheNewestIsApplied(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	fsys := fstest.MapFS{}
	require.NoError(t, fs.WalkDir(Migrations(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Migrations(), p)
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	}))
	fsys["migrations/0150_gap.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE gap_probe (id INTEGER PRIMARY KEY);")}
	require.NoError(t, db.MigrateFS(ctx, fsys))
	assert.Equal(t, 0, count(t, db.r, "gap_probe"), "the table of the gap's migration exists")
	require.NoError(t, db.MigrateFS(ctx, fsys), "and runs once")
}

func TestRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := Open(path)
	require.NoError(t, err)
	_, err = db.w.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 'x')")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = Open(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "newer")
}

func TestOpenRefusesMemory(t *testing.T) {
	_, err := Open(":memory:")
	requireCode(t, formbuilder.EINVALID, err)
}

func TestBackupAndIntegrityCheck(t *testing.T) {
	db := newTestDB(t)
	f := newFixture(t, db)
	f.Submit(t, f.FormA, "192.0.2.1")
	ctx := context.Background()

	res, err := db.IntegrityCheck(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ok", res)

	dst := filepath.Join(t.TempDir(), "backup.db")
	require.NoError(t, db.Backup(ctx, dst))
	requireCode(t, formbuilder.EINTERNAL, db.Backup(ctx, dst)) // never overwrites

	b, err := Open(dst)
	require.NoError(t, err)
	defer b.Close()
	vr, err := b.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
	assert.EqualValues(t, 2, vr.Checked)
	got, err := b.FindFormByKey(ctx, f.FormA.Key)
	require.NoError(t, err)
	assert.Equal(t, f.FormA.Name, got.Name)
}

func TestCloseDrainsQueueAndRefusesLaterWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := Open(path)
	require.NoError(t, err)
	f := newFixture(t, db)
	ctx := context.Background()

	// Hold the writer connection so that submissions pile up in the queue.
	conn, err := db.w.Conn(ctx)
	require.NoError(t, err)
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		sub, recs := f.Submission(t, f.FormB, "q@example.com", "192.0.2.9")
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.CreateSubmission(ctx, sub, recs)
		}()
	}
	// Everything is either taken by the (blocked) writer or queued.
	require.Eventually(t, func() bool { s := sqlcore.Stats(db.DB); return int(s.Jobs)+s.Queued == n }, waitLong, waitTick)
	closed := make(chan error)
	go func() { closed <- db.Close() }()
	require.NoError(t, conn.Close())
	require.NoError(t, <-closed)
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err, "queued work is committed before Close returns")
	}

	err = db.CreateSubmission(ctx, &formbuilder.Submission{FormID: f.FormB.ID}, nil)
	require.True(t, errors.Is(err, ErrClosed), "%v", err)
	require.NoError(t, db.Close(), "closing twice is fine")

	db, err = Open(path)
	require.NoError(t, err)
	defer db.Close()
	assert.Equal(t, n, count(t, db.r, "submissions"))
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK())
}
