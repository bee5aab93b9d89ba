package sqlite

import (
	"context"
	"database/sql"
	"testing"

	"github.com/consentforms/consentforms/formbuilder"
	"github.com/consentforms/consentforms/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// SQLite-only: INSERT OR REPLACE and recursive_triggers exist only here.
// The append-only guarantees every backend shares are in storagetest.

const replaceAttack = `INSERT OR REPLACE INTO consent_records SELECT * FROM consent_records WHERE id = 1`

func TestConsentLogRefusesReplace(t *testing.T) {
	db := newTestDB(t)
	f := newFixture(t, db)
	f.Submit(t, f.FormA, "192.0.2.1")
	ctx := context.Background()

	_, err := db.w.ExecContext(ctx, replaceAttack)
	require.Error(t, err)
	assert.Contains(t, err.Error(), storagetest.AppendOnlyMessage)

	// Without the insert guard, the update and delete triggers alone still
	// stop REPLACE (its delete half, thanks to recursive_triggers) and the
	// upsert (its update half). DDL is transactional: roll it back.
	t.Run("update and delete triggers alone", func(t *testing.T) {
		for _, q := range []string{replaceAttack, storagetest.AppendOnlyAttacks["upsert"]} {
			tx, err := db.w.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, "DROP TRIGGER consent_records_append_only")
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, q)
			require.Error(t, err, q)
			assert.Contains(t, err.Error(), storagetest.AppendOnlyMessage, q)
			require.NoError(t, tx.Rollback())
		}
	})
	t.Run("recursive_triggers is what stops REPLACE", func(t *testing.T) {
		raw := rawDB(t, db) // recursive_triggers off
		tx, err := raw.BeginTx(ctx, nil)
		require.NoError(t, err)
		defer tx.Rollback()
		_, err = tx.ExecContext(ctx, "DROP TRIGGER consent_records_append_only")
		require.NoError(t, err)
		_, err = tx.ExecContext(ctx, replaceAttack)
		assert.NoError(t, err, "without recursive_triggers REPLACE deletes silently")
	})
	vr, err := db.Verify(ctx)
	require.NoError(t, err)
	assert.True(t, vr.OK(), "%+v", vr)
}

func TestConsentVersionsRefuseReplace(t *testing.T) {
	db := newTestDB(t)
	f := newFixture(t, db)
	_, err := db.w.ExecContext(context.Background(),
		"INSERT OR REPLACE INTO consent_versions SELECT * FROM consent_versions WHERE id = ?", f.C1.Current.ID)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "consent versions are immutable")
}

// TestAuditTrailRefusesReplace: REPLACE and upserts on the audit trail are
// refused with recursive_triggers on (the server's connections) and, by the
// insert guard, on a plain connection without it too.
func TestAuditTrailRefusesReplace(t *testing.T) {
	db := newTestDB(t)
	ctx := context.Background()
	u := &formbuilder.User{Email: "ada@example.com"}
	require.NoError(t, db.CreateUser(ctx, u))
	ev := &formbuilder.AuditEvent{UserID: u.ID, Actor: u.Email, Via: formbuilder.ViaAdmin, Target: formbuilder.AuditConsent,
		Action: "update", Details: map[string]string{"old_version": "1", "new_version": "2"}}
	require.NoError(t, db.AppendAudit(ctx, ev))
	attacks := []string{
		"INSERT OR REPLACE INTO audit_events SELECT * FROM audit_events WHERE id = 1",
		`INSERT INTO audit_events (id, time, actor, via, target, action) VALUES (1, 'x', 'x', 'cli', 'other', 'x')
			ON CONFLICT (id) DO UPDATE SET actor = 'someone else'`,
	}
	raw := rawDB(t, db) // recursive_triggers off
	for _, q := range attacks {
		for name, conn := range map[string]interface {
			ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
		}{"server connection": db.w, "plain connection": raw} {
			_, err := conn.ExecContext(ctx, q)
			require.Error(t, err, "%s: %s", name, q)
			assert.Contains(t, err.Error(), "audit trail is append-only", "%s: %s", name, q)
		}
	}
	got, err := db.ListAudit(ctx, formbuilder.AuditFilter{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, ev, got[0])
}
