package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

// CreateSession implements formbuilder.SessionService. s.ID must be the
// lower-case hex SHA-256 of the cookie token (EINVALID otherwise); zero
// times are set to now. ECONFLICT for an existing id, EINVALID for an
// unknown user.
func (db *DB) CreateSession(ctx context.Context, s *formbuilder.Session) error {
	if err := s.Validate(); err != nil {
		return err
	}
	now := db.now()
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now
	}
	if s.LastSeen.IsZero() {
		s.LastSeen = s.CreatedAt
	}
	return db.writeTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO sessions (id, user_id, csrf, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
			s.ID, s.UserID, s.CSRF, fmtTime(s.CreatedAt), fmtTime(s.LastSeen))
		return err
	})
}

// FindSession implements formbuilder.SessionService.
func (db *DB) FindSession(ctx context.Context, id string) (*formbuilder.Session, error) {
	var s formbuilder.Session
	var created, seen string
	err := db.r.QueryRowContext(ctx, "SELECT id, user_id, csrf, created_at, last_seen FROM sessions WHERE id = ?", id).
		Scan(&s.ID, &s.UserID, &s.CSRF, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgSessionNotFound)
	}
	if err != nil {
		return nil, db.dbErr(err)
	}
	if s.CreatedAt, err = parseTime(created); err != nil {
		return nil, formbuilder.Internal(err)
	}
	if s.LastSeen, err = parseTime(seen); err != nil {
		return nil, formbuilder.Internal(err)
	}
	return &s, nil
}

// TouchSession implements formbuilder.SessionService. ENOTFOUND when the
// session is gone (expired or logged out meanwhile).
func (db *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "UPDATE sessions SET last_seen = ? WHERE id = ?", fmtTime(at), id))(formbuilder.MsgSessionNotFound)
	})
}

// DeleteSession implements formbuilder.SessionService. Deleting a missing
// session is not an error: logging out twice is fine.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = ?", id)
		return err
	})
}

// DeleteUserSessions implements formbuilder.SessionService.
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
		return err
	})
}

// DeleteExpiredSessions implements formbuilder.SessionService.
func (db *DB) DeleteExpiredSessions(ctx context.Context, idle, absolute time.Time) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?", fmtTime(idle), fmtTime(absolute))
		return err
	})
}
