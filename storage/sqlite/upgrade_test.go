package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// TestUpgradeKeepsTheLog: a database at the schema without issue 16's,
// written with its data, upgrades through the rebuild of the log, the
// outbox and the delivery log with nothing lost (storagetest).
func TestUpgradeKeepsTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000&_foreign_keys=on&_recursive_triggers=on")
	require.NoError(t, err)
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	u := storagetest.UpgradeOf(raw, func(t testing.TB) storagetest.Store {
		db, err := Open(path)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	})
	require.NoError(t, storagetest.ApplyMigrationsWithout(context.Background(), u.Exec, Migrations(), storagetest.EvidenceMigration))
	storagetest.UpgradeKeepsTheLog(t, u)

	// The schema was edited in place: SQLite must still find it sound.
	var check string
	require.NoError(t, raw.QueryRow("PRAGMA integrity_check").Scan(&check))
	require.Equal(t, "ok", check)
	rows, err := raw.Query("PRAGMA foreign_key_check")
	require.NoError(t, err)
	defer rows.Close()
	require.False(t, rows.Next(), "no row breaks a foreign key")
}
