package sqlcore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/consentforms/consentforms/formbuilder"
)

// DefaultSettings are what a fresh installation starts with.
func DefaultSettings() *formbuilder.Settings {
	return &formbuilder.Settings{IPMode: formbuilder.IPFull}
}

// SettingsQuery selects the settings' data: no row before the first save.
const SettingsQuery = "SELECT data FROM settings WHERE id = 1"

// GetSettings implements formbuilder.SettingsService. Settings are one JSON
// row, so fields added to formbuilder.Settings later need no migration;
// missing fields take their defaults.
func (db *DB) GetSettings(ctx context.Context) (*formbuilder.Settings, error) {
	s, err := scanSettings(db.r.QueryRowContext(ctx, SettingsQuery))
	if err != nil {
		return nil, db.dbErr(err)
	}
	return s, nil
}

// scanSettings reads the row of SettingsQuery: the defaults where there is
// none yet.
func scanSettings(row *sql.Row) (*formbuilder.Settings, error) {
	var data string
	err := row.Scan(&data)
	s := DefaultSettings()
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(data), s); err != nil {
		return nil, formbuilder.Internal(err)
	}
	if s.IPMode == "" {
		s.IPMode = formbuilder.IPFull
	}
	return s, nil
}

// SaveSettings implements formbuilder.SettingsService. It takes the
// settings lock exclusively, so it waits for every writer batch that read
// the old IP mode (they hold the lock shared until they commit), and no
// batch reads the mode before this save commits. EINVALID.
func (db *DB) SaveSettings(ctx context.Context, s *formbuilder.Settings) error {
	if s == nil {
		return formbuilder.NewError(formbuilder.EINVALID, formbuilder.MsgMissingArgument, "what", "settings")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return formbuilder.Internal(err)
	}
	return db.writeTx(ctx, func(tx *Tx) error {
		if err := db.d.LockSettings(ctx, tx); err != nil {
			return err
		}
		tx.changed(formbuilder.Change{Kind: formbuilder.ChangeSettings})
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (id, data, updated_at) VALUES (1, ?, ?)
			ON CONFLICT (id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at`,
			string(data), fmtTime(db.now()))
		return err
	})
}
