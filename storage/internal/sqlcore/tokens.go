package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

const tokenSelect = `SELECT t.id, t.name, t.hash, COALESCE(t.user_id, 0), COALESCE(u.email, ''), t.scope, t.created_at,
	COALESCE(t.last_used, ''), COALESCE(t.expires_at, ''), COALESCE(t.revoked_at, '')
	FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id`

func scanToken(s scanner) (*formbuilder.APIToken, error) {
	var t formbuilder.APIToken
	var created, used, expires, revoked string
	if err := s.Scan(&t.ID, &t.Name, &t.Hash, &t.UserID, &t.UserEmail, &t.Scope, &created, &used, &expires, &revoked); err != nil {
		return nil, err
	}
	var err error
	for _, p := range []struct {
		dst *time.Time
		src string
	}{{&t.CreatedAt, created}, {&t.LastUsed, used}, {&t.ExpiresAt, expires}, {&t.RevokedAt, revoked}} {
		if *p.dst, err = parseTime(p.src); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// CreateToken implements formbuilder.TokenService. t.Hash must be the
// lower-case hex SHA-256 of the token (EINVALID otherwise); ECONFLICT when
// the hash exists; EINVALID naming user_id for an unknown or deactivated
// user. It sets ID, Scope (when empty), UserEmail and CreatedAt.
func (db *DB) CreateToken(ctx context.Context, t *formbuilder.APIToken) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.Scope == "" {
		t.Scope = formbuilder.ScopeWrite
	}
	now := db.now()
	err := db.writeTx(ctx, func(tx *Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx, userSelect+" WHERE id = ?", t.UserID))
		if errors.Is(err, sql.ErrNoRows) || err == nil && !u.Active() {
			return formbuilder.FieldError("user_id", formbuilder.MsgNotActiveUser)
		}
		if err != nil {
			return err
		}
		t.UserEmail = u.Email
		t.ID, err = insertID(ctx, db.d, tx, `INSERT INTO api_tokens (name, hash, user_id, scope, created_at, last_used, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.Name, t.Hash, t.UserID, t.Scope, fmtTime(now), fmtNullTime(t.LastUsed), fmtNullTime(t.ExpiresAt))
		return err
	})
	if err != nil {
		t.ID = 0
		return err
	}
	t.CreatedAt = now
	return nil
}

func (db *DB) findToken(ctx context.Context, where string, arg any) (*formbuilder.APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, tokenSelect+" WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(formbuilder.MsgTokenNotFound)
	}
	return t, db.dbErr(err)
}

// FindTokenByHash implements formbuilder.TokenService.
func (db *DB) FindTokenByHash(ctx context.Context, hash string) (*formbuilder.APIToken, error) {
	return db.findToken(ctx, "t.hash = ?", hash)
}

// FindTokenByID implements formbuilder.TokenService.
func (db *DB) FindTokenByID(ctx context.Context, id int64) (*formbuilder.APIToken, error) {
	return db.findToken(ctx, "t.id = ?", id)
}

// ListTokens implements formbuilder.TokenService, oldest first.
func (db *DB) ListTokens(ctx context.Context) ([]*formbuilder.APIToken, error) {
	rows, err := db.r.QueryContext(ctx, tokenSelect+" ORDER BY t.id")
	if err != nil {
		return nil, db.dbErr(err)
	}
	defer rows.Close()
	var out []*formbuilder.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, db.dbErr(err)
		}
		out = append(out, t)
	}
	return out, db.dbErr(rows.Err())
}

// RevokeToken implements formbuilder.TokenService. ENOTFOUND, so that an
// admin revoking a wrong id learns about it.
func (db *DB) RevokeToken(ctx context.Context, id int64) error {
	now := db.now()
	return db.writeTx(ctx, func(tx *Tx) error {
		if err := affectOne(tx.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
			fmtTime(now), id))(formbuilder.MsgTokenNotFound); err != nil {
			return err
		}
		return nil
	})
}

// TouchToken implements formbuilder.TokenService. ENOTFOUND.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "UPDATE api_tokens SET last_used = ? WHERE id = ?", fmtTime(at), id))(formbuilder.MsgTokenNotFound)
	})
}
