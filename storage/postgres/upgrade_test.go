package postgres

import (
	"context"
	"testing"

	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// TestUpgradeKeepsTheLog: a database at the schema before issue 16,
// written with its data, upgrades with nothing lost (storagetest).
func TestUpgradeKeepsTheLog(t *testing.T) {
	u := pgtest.Empty(t)
	owner := pgtest.Owner(t, u)
	up := storagetest.Upgrade{
		Exec: func(ctx context.Context, q string, args ...any) error {
			_, err := owner.ExecContext(ctx, q, args...)
			return err
		},
		QueryInt: func(ctx context.Context, q string, args ...any) (int64, error) {
			var n int64
			err := owner.QueryRowContext(ctx, q, args...).Scan(&n)
			return n, err
		},
		Open: func(t testing.TB) storagetest.Store {
			db, err := Open(u)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			return db
		},
	}
	require.NoError(t, storagetest.ApplyMigrationsBefore(context.Background(), up.Exec, Migrations(), storagetest.EvidenceMigration))
	storagetest.UpgradeKeepsTheLog(t, up)
}
