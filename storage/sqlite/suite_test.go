package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/require"
)

// TestConformance runs the storage conformance suite against SQLite.
func TestConformance(t *testing.T) {
	storagetest.Run(t, openBackend)
}

// openBackend opens a fresh database file in t.TempDir() with the suite's
// hooks, closed when the test ends.
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
	db, err := Open(filepath.Join(t.TempDir(), "test.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	raw := rawDB(t, db)
	b := &storagetest.Backend{
		Store: db,
		// Anyone with the file can drop the triggers.
		Tamper: func(ctx context.Context, q string, args ...any) error {
			for _, tr := range []string{"consent_records_no_update", "consent_records_no_delete",
				"consent_records_append_only", "consent_versions_no_update", "consent_versions_no_delete",
				"consent_documents_no_update", "consent_documents_no_delete"} {
				if _, err := raw.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+tr); err != nil {
					return err
				}
			}
			_, err := raw.ExecContext(ctx, q, args...)
			return err
		},
		Reopen: func(t testing.TB) storagetest.Store {
			other, err := Open(db.Path())
			require.NoError(t, err)
			t.Cleanup(func() { other.Close() })
			return other
		},
	}
	b.UseSQL(raw)
	b.UseCore(db.DB)
	return b
}
