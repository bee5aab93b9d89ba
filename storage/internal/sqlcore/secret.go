package sqlcore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"

	"github.com/consentforms/consentforms/formbuilder"
)

// Secret returns the installation's signing key, creating a random 32-byte
// key on first use. It lives in the database, not in a file beside it, so
// that a backup carries it and restored withdrawal links keep working.
func (db *DB) Secret(ctx context.Context) ([]byte, error) {
	var key []byte
	err := db.writeTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = 'signing'").Scan(&key)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return err
		}
		// Two fresh servers starting together both get here: the second
		// insert waits for the first and then does nothing, and both read
		// the one key that was stored.
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value, created_at) VALUES ('signing', ?, ?)
			ON CONFLICT (name) DO NOTHING`, key, fmtTime(db.now())); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = 'signing'").Scan(&key)
	})
	if err != nil {
		return nil, formbuilder.Internal(err)
	}
	return key, nil
}
