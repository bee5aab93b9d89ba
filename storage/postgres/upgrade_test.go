package postgres

import (
	"context"
	"testing"

	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// TestUpgradeKeepsTheLog: a database at the schema without issue 16's,
// written with its data, upgrades with nothing lost (storagetest).
func TestUpgradeKeepsTheLog(t *testing.T) {
	u := pgtest.Empty(t)
	owner := pgtest.Owner(t, u)
	up := storagetest.UpgradeOf(owner, func(t testing.TB) storagetest.Store {
		db, err := Open(u)
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	})
	require.NoError(t, storagetest.ApplyMigrationsWithout(context.Background(), up.Exec, Migrations(), storagetest.EvidenceMigration))
	storagetest.UpgradeKeepsTheLog(t, up)
}
