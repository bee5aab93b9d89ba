package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/consentforms/consentforms/internal/pgtest"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestConformance runs the storage conformance suite against PostgreSQL.
func TestConformance(t *testing.T) {
	storagetest.Run(t, openBackend)
}

// migrate is how pgtest migrates its template: Open runs the migrations.
func migrate(_ context.Context, url string) error {
	db, err := Open(url)
	if err != nil {
		return err
	}
	return db.Close()
}

// newTestDB opens a fresh database (a copy of the migrated template).
func newTestDB(t testing.TB, opts ...Option) (*DB, string) {
	t.Helper()
	u := pgtest.Fresh(t, migrate)
	db, err := Open(u, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, u
}

// openBackend opens a fresh database with the suite's hooks.
func openBackend(t testing.TB, o storagetest.Options) *storagetest.Backend {
	t.Helper()
	var opts []Option
	if o.Clock != nil {
		opts = append(opts, WithClock(o.Clock))
	}
	if o.SearchTimeout > 0 {
		opts = append(opts, WithSearchTimeout(o.SearchTimeout))
	}
	if o.Observer != nil {
		opts = append(opts, WithObserver(o.Observer))
	}
	db, u := newTestDB(t, opts...)
	owner := pgtest.Owner(t, u)
	b := &storagetest.Backend{
		Store: db,
		// The tables' owner can switch the triggers off: why the server
		// must not run as the owner (README).
		Tamper: func(ctx context.Context, q string, args ...any) error {
			tx, err := owner.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			for _, s := range []string{"ALTER TABLE consent_records DISABLE TRIGGER USER",
				"ALTER TABLE consent_versions DISABLE TRIGGER USER", "ALTER TABLE consent_documents DISABLE TRIGGER USER"} {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			for _, s := range []string{"ALTER TABLE consent_records ENABLE TRIGGER USER",
				"ALTER TABLE consent_versions ENABLE TRIGGER USER", "ALTER TABLE consent_documents ENABLE TRIGGER USER"} {
				if _, err := tx.ExecContext(ctx, s); err != nil {
					return err
				}
			}
			return tx.Commit()
		},
		SharedChanges: true,
		Reopen: func(t testing.TB) storagetest.Store {
			other, err := Open(u)
			require.NoError(t, err)
			t.Cleanup(func() { other.Close() })
			return other
		},
	}
	b.UseSQL(owner)
	b.UseCore(db.DB)
	return b
}
