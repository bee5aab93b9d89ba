package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/consentforms/consentforms/formbuilder"
)

const tokenSelect = "SELECT id, name, hash, created_at, COALESCE(last_used, '') FROM api_tokens"

func scanToken(s scanner) (*formbuilder.APIToken, error) {
	var t formbuilder.APIToken
	var created, used string
	if err := s.Scan(&t.ID, &t.Name, &t.Hash, &created, &used); err != nil {
		return nil, err
	}
	var err error
	if t.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	t.LastUsed, err = parseTime(used)
	return &t, err
}

// CreateToken implements formbuilder.TokenService. t.Hash must be the
// lower-case hex SHA-256 of the token (EINVALID otherwise); ECONFLICT when
// the hash exists. It sets ID and CreatedAt.
func (db *DB) CreateToken(ctx context.Context, t *formbuilder.APIToken) error {
	if err := t.Validate(); err != nil {
		return err
	}
	now := db.now()
	err := db.writeTx(ctx, func(tx *Tx) error {
		var err error
		t.ID, err = insertID(ctx, db.d, tx, "INSERT INTO api_tokens (name, hash, created_at, last_used) VALUES (?, ?, ?, ?)",
			t.Name, t.Hash, fmtTime(now), fmtNullTime(t.LastUsed))
		return err
	})
	if err != nil {
		t.ID = 0
		return err
	}
	t.CreatedAt = now
	return nil
}

// FindTokenByHash implements formbuilder.TokenService.
func (db *DB) FindTokenByHash(ctx context.Context, hash string) (*formbuilder.APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, tokenSelect+" WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("token")
	}
	return t, db.dbErr(err)
}

// ListTokens implements formbuilder.TokenService, oldest first.
func (db *DB) ListTokens(ctx context.Context) ([]*formbuilder.APIToken, error) {
	rows, err := db.r.QueryContext(ctx, tokenSelect+" ORDER BY id")
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

// DeleteToken implements formbuilder.TokenService. ENOTFOUND, so that an
// admin revoking a wrong id learns about it.
func (db *DB) DeleteToken(ctx context.Context, id int64) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "DELETE FROM api_tokens WHERE id = ?", id))("token")
	})
}

// TouchToken implements formbuilder.TokenService. ENOTFOUND.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return db.writeTx(ctx, func(tx *Tx) error {
		return affectOne(tx.ExecContext(ctx, "UPDATE api_tokens SET last_used = ? WHERE id = ?", fmtTime(at), id))("token")
	})
}
